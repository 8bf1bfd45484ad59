"""Overhead of a stage over a plain PythonOperator running the same callable.

Two stages are timed against the PythonOperator: a ``StageOperator`` around the callable,
and the same ``PythonOperator`` made a stage in place with ``as_stage``.

Both operators' ``execute`` is called directly with the same task context (a task
instance that records XCom pushes in memory, as the supervisor channel would take them),
inside a parent span standing in for Airflow's ``worker.<task>`` span. Telemetry is fully
on for the stage: a span per run (SDK tracer, SimpleSpanProcessor → in-memory exporter),
all stage metrics (SDK meter, in-memory reader), the structured summary log line, the
audit store and the stage-metrics XCom. Both operators log to the same in-memory handler.

Run: ``uv run python bench/operator_overhead.py [runs]`` — prints both timings, the added
milliseconds per run, and the ratio. Target: ≤ 5 ms added per run.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
TMP = Path(tempfile.mkdtemp(prefix="cp-bench-"))
os.environ.setdefault("AIRFLOW_HOME", str(TMP))
os.environ["AIRFLOW__CLOUDPLAN__AUDIT_STORE"] = str(TMP / "audit.jsonl")
os.environ["AIRFLOW__CLOUDPLAN__PLAN_CACHE"] = str(TMP / "no-active-plan.json")


def read_plain() -> int:
    """Baseline I/O: read one small object straight from disk."""
    return len((TMP / "raw" / "part.csv").read_bytes())


def read_staged(ctx: Any) -> int:
    """The same read through the stage's data layer: checked, audited (fsync), counted."""
    return len(ctx.data.read_bytes("raw", "part.csv"))


def work() -> int:
    """The user's work: a little real CPU (sum of squares), the same in both operators."""
    return sum(i * i for i in range(2000))


class RecordingTaskInstance:
    """Stands in for the runtime task instance: XCom pushes land in a dict."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}
        self.run_id = "bench__2025-01-01"
        self.try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def _timed(ops: dict[str, Any], ti: RecordingTaskInstance, tracer: Any,
           timings: dict[str, list[float]]) -> None:
    names = list(ops)
    for block in range(RUNS // 100):
        for name in names[block % len(names):] + names[:block % len(names)]:
            op = ops[name]
            for _ in range(100):
                context = {"ti": ti, "run_id": ti.run_id, "params": {}}
                with tracer.start_as_current_span("worker.bench"):
                    t0 = time.perf_counter()
                    op.execute(context)
                    timings[name].append(time.perf_counter() - t0)


def _io_scenario(plain_io: Any, stage_io: Any, ti: RecordingTaskInstance, tracer: Any,
                 sink: io.StringIO) -> None:
    io_runs = max(100, RUNS // 10)
    io_timings: dict[str, list[float]] = {"plain": [], "stage": []}
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for op, name in ((plain_io, "plain"), (stage_io, "stage")) * (io_runs // 50):
            for _ in range(25):
                with tracer.start_as_current_span("worker.bench"):
                    t0 = time.perf_counter()
                    op.execute({"ti": ti, "run_id": ti.run_id, "params": {}})
                    io_timings[name].append(time.perf_counter() - t0)
    io_med = {k: statistics.median(v) * 1000 for k, v in io_timings.items()}
    print(f"with one 8 KiB read per run ({len(io_timings['stage'])} runs each): plain "
          f"{io_med['plain']:.3f} ms, stage (audited, fsync'd JSONL) {io_med['stage']:.3f} ms, "
          f"added {io_med['stage'] - io_med['plain']:.3f} ms")


def _report(timings: dict[str, list[float]], spans: int, log_bytes: int) -> None:
    med = {k: statistics.median(v) * 1000 for k, v in timings.items()}
    mean = {k: statistics.fmean(v) * 1000 for k, v in timings.items()}
    p95 = {k: sorted(v)[int(0.95 * len(v))] * 1000 for k, v in timings.items()}
    print(f"runs per operator: {len(timings['plain'])} (interleaved blocks of 100)")
    print(f"{'':28}{'median ms':>12}{'mean ms':>12}{'p95 ms':>12}")
    print(f"{'PythonOperator (baseline)':28}{med['plain']:12.3f}{mean['plain']:12.3f}"
          f"{p95['plain']:12.3f}")
    print(f"{'StageOperator (full OTel)':28}{med['stage']:12.3f}{mean['stage']:12.3f}"
          f"{p95['stage']:12.3f}")
    print(f"{'as_stage(PythonOperator)':28}{med['wrapped']:12.3f}{mean['wrapped']:12.3f}"
          f"{p95['wrapped']:12.3f}")
    for name in ("stage", "wrapped"):
        added = med[name] - med["plain"]
        print(f"{name}: added per run (median): {added:.3f} ms  (target <= 5 ms: "
              f"{'met' if added <= 5 else 'NOT met'}); ratio to PythonOperator "
              f"{med[name] / med['plain']:.2f}x")
    print(f"spans exported: {spans}; log bytes written: {log_bytes}")


def main() -> None:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
    from airflow.sdk.bases.operator import ExecutorSafeguard
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from airflow_cloudplan.airflow.operators import StageOperator, as_stage

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    ExecutorSafeguard.test_mode = True  # we call execute() ourselves, like the task runner

    # Airflow renders task logs with structlog to stdout; send both operators' lines to one
    # in-memory sink so formatting is paid for but the terminal stays readable.
    sink = io.StringIO()

    (TMP / "raw").mkdir()
    (TMP / "raw" / "part.csv").write_bytes(b"a,b\n" * 2048)
    with DAG("bench_overhead", schedule=None, start_date=datetime(2025, 1, 1)):
        plain = PythonOperator(task_id="plain", python_callable=work)
        stage = StageOperator(task_id="stage", pipeline="bench", kind="transform",
                              python_callable=lambda ctx: work(),
                              reads={"raw": str(TMP / "raw")}, writes={"out": str(TMP / "out")})
        plain_io = PythonOperator(task_id="plain_io", python_callable=read_plain)
        stage_io = StageOperator(task_id="stage_io", pipeline="bench", kind="transform",
                                 python_callable=read_staged, reads={"raw": str(TMP / "raw")})
        # the same PythonOperator as `plain`, turned into a stage in place
        wrapped = as_stage(PythonOperator(task_id="wrapped", python_callable=work),
                           pipeline="bench", kind="transform")

    tracer = trace.get_tracer("bench")
    ti = RecordingTaskInstance()
    timings: dict[str, list[float]] = {"plain": [], "stage": [], "wrapped": []}
    ops = {"plain": plain, "stage": stage, "wrapped": wrapped}
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for op in ops.values():  # warm-up: imports, instrument creation
            for _ in range(50):
                op.execute({"ti": ti, "run_id": ti.run_id, "params": {}})
    exporter.clear()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        _timed(ops, ti, tracer, timings)

    stage_spans = [s for s in exporter.get_finished_spans() if s.name.startswith("cloudplan.")]
    assert len(stage_spans) == len(timings["stage"]) + len(timings["wrapped"]), (
        "every stage run exported a span")
    assert "cloudplan_stage_metrics" in ti.xcom

    _report(timings, len(stage_spans), len(sink.getvalue()))
    _io_scenario(plain_io, stage_io, ti, tracer, sink)
    print("note: 2 shared cores, other jobs running; compare the two rows, not absolutes")


if __name__ == "__main__":
    main()
