"""The example pipeline under a real Airflow: ``airflow standalone`` (API server, scheduler,
DAG processor, LocalExecutor on SQLite) in a subprocess with its own AIRFLOW_HOME.

Tasks run in forked task-SDK processes (the ORM is blocked there), so this proves the
operators work as deployed: every task succeeds, stage spans reach an in-process OTLP/HTTP
receiver inside Airflow's own trace (each ``cloudplan.stage.<task>`` span is a child of
Airflow's ``worker.<task>`` span), every declared access is audited, an undeclared access
fails its task, and the stage metrics are readable from the metadata DB with SQL. A
deferrable standard-provider sensor made a stage defers to Airflow's real triggerer and
resumes into its own ``execute_complete``; its stage telemetry covers the whole run.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.runtime.audit import AccessAction, AccessOutcome, JsonlAuditStore
from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(900)]

TASKS = ["ingest", "transform", "features", "train", "validate", "batch_inference", "serve",
         "monitor"]

UNDECLARED_DAG = '''
from datetime import datetime
from airflow.sdk import DAG
from airflow_cloudplan.airflow.operators import TransformOperator


def sneak(ctx):
    ctx.data.read_bytes("customers", "all.csv")


with DAG("cp_undeclared_access", schedule=None, start_date=datetime(2025, 1, 1)):
    TransformOperator(task_id="sneak", pipeline="demo", python_callable=sneak,
                      reads={"numbers": "/nonexistent/numbers"})
'''

DEFERRED_DAG = '''
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow_cloudplan.airflow.operators import as_stage

with DAG("cp_deferred_stage", schedule=None, start_date=datetime(2025, 1, 1)):
    as_stage(DateTimeSensorAsync(
        task_id="wait",
        target_time="{{ (macros.datetime.now(macros.dateutil.tz.UTC)"
                    " + macros.timedelta(seconds=8)).isoformat() }}"),
        pipeline="demo", kind="ingest")
'''
DAG_IDS = ("example_ml_pipeline", "cp_undeclared_access", "cp_deferred_stage")


class OtlpReceiver:
    """A tiny OTLP/HTTP trace receiver: decodes ExportTraceServiceRequest protobufs."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    req = trace_service_pb2.ExportTraceServiceRequest()
                    req.ParseFromString(body)
                    receiver.add(req)
                    payload = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                else:
                    payload = b""
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, req: Any) -> None:
        def value(v: Any) -> Any:
            return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None

        with self.lock:
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append({
                            "name": s.name,
                            "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(),
                            "attributes": {a.key: value(a.value) for a in s.attributes},
                            "links": [link.span_id.hex() for link in s.links],
                            "start": s.start_time_unix_nano,
                            "end": s.end_time_unix_nano,
                        })

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes],
          log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"airflow standalone exited ({proc.returncode}) while waiting for "
                        f"{what}:\n{log.read_text()[-4000:]}")
        result = check()
        if result:
            return result
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


def _sql(db: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(query, args).fetchall()
    except sqlite3.OperationalError:  # tables not created yet / locked: try again later
        return []


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health",
                                    timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("standalone-home")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(REPO / "dags" / "example_ml_pipeline.py", dags)
    (dags / "cp_undeclared_access.py").write_text(UNDECLARED_DAG)
    (dags / "cp_deferred_stage.py").write_text(DEFERRED_DAG)
    port = free_port()
    with OtlpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OTEL_"))}
        env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CLOUDPLAN__AUDIT_STORE": str(home / "audit.jsonl"),
            "CLOUDPLAN_DATA_ROOT": str(home / "data"),
            "AIRFLOW__TRACES__OTEL_ON": "True",
            "OTEL_TRACES_EXPORTER": "otlp_proto_http",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_SERVICE_NAME": "airflow",
            "NO_PROXY": "*",
        })
        airflow = str(Path(sys.executable).with_name("airflow"))
        log = home / "standalone.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([airflow, "standalone"], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait("the API server", lambda: _healthy(port), 240, proc, log)
            db = home / "airflow.db"
            _wait("the DAGs parsed", lambda: len(_sql(
                db, f"SELECT dag_id FROM dag WHERE dag_id IN {DAG_IDS}")) == len(DAG_IDS),
                180, proc, log)
            runs: dict[str, str] = {}
            for dag_id in DAG_IDS:
                subprocess.run([airflow, "dags", "unpause", dag_id], env=env, check=True,
                               capture_output=True)
                subprocess.run([airflow, "dags", "trigger", dag_id, "--run-id",
                                f"cp_{dag_id}"], env=env, check=True, capture_output=True)
                runs[dag_id] = f"cp_{dag_id}"
            for dag_id, run_id in runs.items():
                _wait(f"{dag_id} to finish", lambda d=dag_id, r=run_id: [
                    s for (s,) in _sql(db, "SELECT state FROM dag_run WHERE dag_id = ? AND "
                                       "run_id = ?", d, r) if s in ("success", "failed")],
                      420, proc, log)
            _wait("stage spans", lambda: {s["name"] for s in receiver.spans}
                  >= {f"cloudplan.stage.{t}" for t in TASKS}, 60, proc, log)
            _wait("both segments of the deferred stage", lambda: len(
                [s for s in receiver.spans if s["name"] == "cloudplan.stage.wait"]) == 2,
                60, proc, log)
            yield {"home": home, "db": db, "runs": runs, "spans": list(receiver.spans),
                   "log": log}
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            except ProcessLookupError:
                pass


def test_every_stage_succeeds_and_its_metrics_are_in_the_metadata_db(standalone) -> None:
    db, run_id = standalone["db"], standalone["runs"]["example_ml_pipeline"]
    states = dict(_sql(db, "SELECT task_id, state FROM task_instance WHERE "
                       "dag_id = 'example_ml_pipeline' AND run_id = ?", run_id))
    assert states == dict.fromkeys(TASKS, "success"), standalone["log"].read_text()[-3000:]
    rows = _sql(db, "SELECT task_id, value FROM xcom WHERE dag_id = 'example_ml_pipeline' "
                "AND run_id = ? AND key = 'cloudplan_stage_metrics'", run_id)
    metrics = {t: json.loads(v) for t, v in rows}
    assert sorted(metrics) == sorted(TASKS)
    assert metrics["transform"]["rows_written"] == 569
    assert all(m["errors"] == 0 and m["cpu_seconds"] > 0 for m in metrics.values())


def test_stage_spans_join_airflows_trace_under_the_worker_span(standalone) -> None:
    spans = standalone["spans"]
    workers = {s["attributes"].get("airflow.task_id"): s for s in spans
               if s["name"].startswith("worker.")
               and s["attributes"].get("airflow.dag_id") == "example_ml_pipeline"}
    stages = {s["attributes"]["cloudplan.stage"]: s for s in spans
              if s["name"].startswith("cloudplan.stage.")
              and s["attributes"].get("cloudplan.pipeline") == "example_ml_pipeline"}
    assert set(stages) == set(TASKS) and set(workers) >= set(TASKS)
    assert len({s["trace_id"] for s in (*stages.values(), *workers.values())}) == 1
    for task in TASKS:
        assert stages[task]["parent_span_id"] == workers[task]["span_id"], task
        assert stages[task]["attributes"]["cloudplan.plan.version"] == "none"
    assert stages["serve"]["attributes"]["cloudplan.extra.request_p95_ms"] > 0


def test_every_declared_access_is_audited_and_undeclared_access_fails(standalone) -> None:
    from airflow.dag_processing.dagbag import DagBag

    home, db = standalone["home"], standalone["db"]
    records = JsonlAuditStore(home / "audit.jsonl").records()
    dag = DagBag(dag_folder=str(home / "dags" / "example_ml_pipeline.py")).dags[
        "example_ml_pipeline"]
    run_id = standalone["runs"]["example_ml_pipeline"]
    for task in dag.tasks:
        done = {(r.action, r.dataset) for r in records
                if r.task_id == task.task_id and r.run_id == run_id}
        assert {(AccessAction.READ, d) for d in task.reads} <= done, task.task_id
        assert {(AccessAction.WRITE, d) for d in task.writes} <= done, task.task_id

    (state,) = _sql(db, "SELECT state FROM task_instance WHERE dag_id = "
                    "'cp_undeclared_access' AND task_id = 'sneak'")
    assert state == ("failed",)
    refused = [r for r in records if r.outcome is AccessOutcome.REFUSED]
    assert [(r.dag_id, r.dataset) for r in refused] == [("cp_undeclared_access", "customers")]


def test_a_deferrable_sensor_stage_resumes_from_the_real_triggerer_as_one_run(
        standalone) -> None:
    db, spans = standalone["db"], standalone["spans"]
    run_id = standalone["runs"]["cp_deferred_stage"]
    (state,) = _sql(db, "SELECT state FROM task_instance WHERE dag_id = 'cp_deferred_stage' "
                    "AND task_id = 'wait'")
    assert state == ("success",), standalone["log"].read_text()[-3000:]
    first, last = sorted((s for s in spans if s["name"] == "cloudplan.stage.wait"),
                         key=lambda s: s["start"])
    workers = {s["span_id"]: s for s in spans if s["name"] == "worker.wait"}
    assert first["attributes"]["cloudplan.outcome"] == "deferred"
    assert last["attributes"]["cloudplan.outcome"] == "success"
    assert last["links"] == [first["span_id"]]
    # each segment is a child of the worker span of the process that ran it
    assert {first["parent_span_id"], last["parent_span_id"]} <= set(workers)
    assert first["parent_span_id"] != last["parent_span_id"]
    assert len({first["trace_id"], last["trace_id"]}) == 1
    ((value,),) = _sql(db, "SELECT value FROM xcom WHERE dag_id = 'cp_deferred_stage' AND "
                       "run_id = ? AND key = 'cloudplan_stage_metrics'", run_id)
    record = json.loads(value)
    whole_s = (last["end"] - first["start"]) / 1e9
    assert record["outcome"] == "success"
    assert record["duration_s"] == pytest.approx(whole_s, abs=1.0)
    assert record["suspended_s"] > 1.0
