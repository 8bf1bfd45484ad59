"""The example ML pipeline end to end with ``dag.test()``: locally and on S3 (moto)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.runtime.audit import AccessAction, AccessOutcome, JsonlAuditStore
from tests.conftest import REPO

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TASKS = ["ingest", "transform", "features", "train", "validate", "batch_inference", "serve",
         "monitor"]


@pytest.fixture
def pipeline(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW__CLOUDPLAN__AUDIT_STORE", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("AIRFLOW__CLOUDPLAN__PLAN_CACHE", str(tmp_path / "no-plan.json"))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "example_ml_pipeline.py"))
    assert bag.import_errors == {}
    return bag.get_dag("example_ml_pipeline")


def _stage_metrics(airflow_db: Path, run_id: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = 'example_ml_pipeline' "
            "AND run_id = ? AND key = 'cloudplan_stage_metrics'", (run_id,)).fetchall()
    return {t: json.loads(v) for t, v in rows}


def _check_run(run: Any, airflow_db: Path, audit_path: Path, dag: Any) -> None:
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == dict.fromkeys(
        TASKS, "success")
    metrics = _stage_metrics(airflow_db, run.run_id)
    assert sorted(metrics) == sorted(TASKS)
    assert metrics["transform"]["rows_read"] == 576 and metrics["transform"]["rows_written"] == 569
    assert all(m["errors"] == 0 and m["duration_s"] > 0 for m in metrics.values())

    records = [r for r in JsonlAuditStore(audit_path).records() if r.run_id == run.run_id]
    assert all(r.outcome is AccessOutcome.ALLOWED for r in records)
    for task in dag.tasks:  # every declared dataset was actually accessed, and audited
        done = {(r.action, r.dataset) for r in records if r.task_id == task.task_id}
        assert {(AccessAction.READ, d) for d in task.reads} <= done, task.task_id
        assert {(AccessAction.WRITE, d) for d in task.writes} <= done, task.task_id
        assert {d for _, d in done} <= set(task.reads) | set(task.writes)


def test_example_pipeline_end_to_end_locally(pipeline: Any, airflow_db: Path,
                                             tmp_path: Path) -> None:
    root = tmp_path / "data"
    run = pipeline.test(run_conf={"data_root": str(root)})
    _check_run(run, airflow_db, tmp_path / "audit.jsonl", pipeline)
    report = json.loads((root / "monitoring_report" / "report.json").read_text())
    assert report["accuracy"] > 0.85 and report["psi_max"] < 0.25
    assert report["rows"] > 100
    model = json.loads((root / "model" / "metrics.json").read_text())
    assert model["roc_auc"] > 0.95


def test_example_pipeline_end_to_end_on_s3(pipeline: Any, airflow_db: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="ml-lake")
        run = pipeline.test(run_conf={"data_root": "s3://ml-lake/example"})
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="ml-lake")["Contents"]}
    _check_run(run, airflow_db, tmp_path / "audit.jsonl", pipeline)
    assert {"example/raw_events/events.csv", "example/model/model.pkl",
            "example/monitoring_report/report.json"} <= keys
