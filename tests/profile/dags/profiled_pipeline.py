"""A small pipeline whose run history the profiler tests read back from the metadata DB.

``extract`` records stage metrics in XCom the way the stage operators do, ``transform`` is
mapped (its map indices fold into one stage), ``flaky`` fails its first try (an earlier try
in ``task_instance_history``), and ``publish`` fails when the run's conf asks it to.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, get_current_context, task

STAGE_METRICS_XCOM_KEY = "cloudplan_stage_metrics"


@dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["cloudplan-test"])
def profiled_pipeline() -> None:
    """Four stages with known behaviour."""

    @task
    def extract() -> list[int]:
        time.sleep(0.2)
        metrics = {
            "pipeline": "profiled",
            "stage": "extract",
            "kind": "ingest",
            "duration_s": 0.2,
            "bytes_read": 64 * 2**20,
            "bytes_written": 8 * 2**20,
            "read_ops": 8,
            "write_ops": 2,
            "read_pattern": "large_sequential",
            "cpu_seconds": 0.1,
            "peak_memory_mb": 120.0,
        }
        get_current_context()["ti"].xcom_push(key=STAGE_METRICS_XCOM_KEY, value=metrics)
        return [1, 2, 3]

    @task
    def transform(part: int) -> int:
        time.sleep(0.1 * part)
        return part

    @task(retries=1, retry_delay=0)
    def flaky(parts: list[int]) -> int:
        if get_current_context()["ti"].try_number == 1:
            raise RuntimeError("first try fails on purpose")
        return sum(parts)

    @task
    def publish(total: int) -> None:
        if get_current_context()["dag_run"].conf.get("fail_publish"):
            raise RuntimeError("asked to fail")

    parts = extract()
    publish(flaky(transform.expand(part=parts)))


profiled_pipeline()
