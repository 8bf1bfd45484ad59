"""Every row of the outcome table, under real Airflow (``dag.test()``, real triggers).

Each test runs a DAG whose stage ends one way, and checks the three places the outcome
shows: the stage span (status, ``cloudplan.outcome``, parent = the task's span, Airflow's
attributes), the metrics (``cloudplan.stage.runs{outcome}``,
``cloudplan.stage.suspensions{reason}``) and the stage record pushed to XCom.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.runtime.outcome import OUTCOME_TABLE, Outcome, outcome_table_markdown
from tests.airflow.stage_runs import foreign_code, run_in_memory_dag, states, xcoms
from tests.conftest import REPO

pytestmark = [pytest.mark.airflow]

START = datetime(2025, 1, 1)


def points(reader: Any, name: str, pipeline: str) -> dict[tuple[str, str], float]:
    """(stage, outcome/reason) → cumulative value of a stage counter for one pipeline."""
    data = reader.get_metrics_data()
    out: dict[tuple[str, str], float] = {}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name != name:
                    continue
                for p in m.data.data_points:
                    a = p.attributes
                    if a.get("pipeline") == pipeline:
                        key = (a["stage"], a.get("outcome") or a.get("reason"))
                        out[key] = out.get(key, 0) + p.value
    return out


def stage_spans(exporter: Any, dag_id: str, task_id: str) -> list[Any]:
    return sorted((s for s in exporter.get_finished_spans()
                   if s.name == f"cloudplan.stage.{task_id}"
                   and s.attributes.get("airflow.dag_id") == dag_id),
                  key=lambda s: s.start_time)


def task_spans(exporter: Any, dag_id: str, task_id: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name == f"task_run.{task_id}"
            and s.attributes.get("airflow.dag_id") == dag_id]


def record(dag_id: str, task_id: str, run_id: str) -> dict[str, Any]:
    return xcoms(dag_id, "cloudplan_stage_metrics", run_id)[task_id]


def test_docs_show_the_outcome_table_from_its_one_source() -> None:
    doc = (REPO / "docs" / "operators.md").read_text()
    assert outcome_table_markdown() in doc
    assert {r.outcome for r in OUTCOME_TABLE} == set(Outcome)


# -- success (and the span's place in Airflow's trace) --------------------------------
def test_success_span_is_a_child_of_the_tasks_span_with_airflows_attributes(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any]) -> None:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    exporter, reader = otel
    with DAG("cp_out_success", schedule=None, start_date=START) as dag:
        StageOperator(operator=BashOperator(task_id="work", bash_command="echo ok"),
                      pipeline="out-success", kind="transform")
    run = run_in_memory_dag(dag)
    assert states(run) == {"work": "success"}
    (span,) = stage_spans(exporter, "cp_out_success", "work")
    (task_span,) = task_spans(exporter, "cp_out_success", "work")
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (task_span.context.trace_id,
                                                            task_span.context.span_id)
    attrs = dict(span.attributes)
    assert attrs["airflow.dag_id"] == "cp_out_success"
    assert attrs["airflow.task_id"] == "work"
    assert attrs["airflow.dag_run.run_id"] == run.run_id
    assert attrs["airflow.task_instance.try_number"] == 1
    assert (span.status.status_code.name, attrs["cloudplan.outcome"]) == ("OK", "success")
    assert points(reader, "cloudplan.stage.runs", "out-success") == {("work", "success"): 1}
    rec = record("cp_out_success", "work", run.run_id)
    assert (rec["outcome"], rec["errors"]) == ("success", 0)


def test_a_branch_is_a_success_that_names_the_skipped_tasks(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any]) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import BranchPythonOperator
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    exporter, reader = otel
    with DAG("cp_out_branch", schedule=None, start_date=START) as dag:
        branch = BranchPythonOperator(task_id="choose", python_callable=lambda: "left")
        branch >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
        StageOperator(operator=branch, pipeline="out-branch", kind="transform")
    run = run_in_memory_dag(dag)
    assert states(run) == {"choose": "success", "left": "success", "right": "skipped"}
    (span,) = stage_spans(exporter, "cp_out_branch", "choose")
    assert span.status.status_code.name == "OK"
    assert tuple(span.attributes["cloudplan.branch.skipped"]) == ("right",)
    assert points(reader, "cloudplan.stage.runs", "out-branch") == {("choose", "success"): 1}
    rec = record("cp_out_branch", "choose", run.run_id)
    assert (rec["outcome"], rec["errors"]) == ("success", 0)


def test_triggering_another_dag_run_is_a_success(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any]) -> None:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import as_stage

    exporter, reader = otel
    with DAG("cp_out_trigger", schedule=None, start_date=START) as dag:
        as_stage(TriggerDagRunOperator(task_id="kick", trigger_dag_id="cp_out_trigger",
                                       trigger_run_id="cp_out_trigger_child_{{ ts_nodash }}"),
                 pipeline="out-trigger", kind="ingest")
    run = run_in_memory_dag(dag)
    assert states(run) == {"kick": "success"}
    (span,) = stage_spans(exporter, "cp_out_trigger", "kick")
    assert span.status.status_code.name == "OK"
    assert span.attributes["cloudplan.triggered_dag_id"] == "cp_out_trigger"
    assert points(reader, "cloudplan.stage.runs", "out-trigger") == {("kick", "success"): 1}


# -- skip ------------------------------------------------------------------------------------
def skip_today(stage: Any) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException("no data today")


def test_a_skip_is_not_a_failure(airflow_db: Path, cloudplan_home: Path,
                                 otel: tuple[Any, Any]) -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    exporter, reader = otel
    with DAG("cp_out_skip", schedule=None, start_date=START) as dag:
        StageOperator(task_id="maybe", pipeline="out-skip", kind="ingest",
                      python_callable=skip_today)
    run = run_in_memory_dag(dag)
    assert states(run) == {"maybe": "skipped"}
    (span,) = stage_spans(exporter, "cp_out_skip", "maybe")
    assert span.status.status_code.name == "UNSET"
    assert span.attributes["cloudplan.outcome"] == "skipped"
    assert [(e.name, e.attributes["reason"]) for e in span.events] == [
        ("skipped", "no data today")]
    assert points(reader, "cloudplan.stage.runs", "out-skip") == {("maybe", "skipped"): 1}
    rec = record("cp_out_skip", "maybe", run.run_id)
    assert (rec["outcome"], rec["errors"]) == ("skipped", 0)


# -- deferral (the inline triggerer of dag.test runs the real trigger) ------------------------
@pytest.mark.parametrize("sensor", ["DateTimeSensorAsync", "TimeDeltaSensor"])
def test_a_deferred_sensor_resumes_into_its_own_method_as_one_stage_run(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any], sensor: str) -> None:
    from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
    from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import as_stage

    exporter, reader = otel
    dag_id, pipeline = f"cp_out_defer_{sensor.lower()}", f"out-defer-{sensor.lower()}"
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        if sensor == "DateTimeSensorAsync":
            task = DateTimeSensorAsync(
                task_id="wait",
                target_time="{{ (macros.datetime.now(macros.dateutil.tz.UTC)"
                            " + macros.timedelta(seconds=2)).isoformat() }}")
        else:
            task = TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=2), deferrable=True)
        as_stage(task, pipeline=pipeline, kind="ingest")
    with foreign_code():
        run = run_in_memory_dag(dag)
    assert states(run) == {"wait": "success"}
    first, last = stage_spans(exporter, dag_id, "wait")
    assert (first.attributes["cloudplan.outcome"], first.status.status_code.name) == (
        "deferred", "UNSET")
    assert first.attributes["cloudplan.trigger"] == "DateTimeTrigger"
    assert (last.attributes["cloudplan.outcome"], last.status.status_code.name) == (
        "success", "OK")
    assert [link.context.span_id for link in last.links] == [first.context.span_id]
    assert last.attributes["cloudplan.request_id"] == first.attributes["cloudplan.request_id"]
    assert last.attributes["cloudplan.run.segments"] == 2
    assert points(reader, "cloudplan.stage.runs", pipeline) == {("wait", "success"): 1}
    assert points(reader, "cloudplan.stage.suspensions", pipeline) == {("wait", "deferred"): 1}
    rec = record(dag_id, "wait", run.run_id)
    whole = (last.end_time - first.start_time) / 1e9
    assert rec["outcome"] == "success" and rec["errors"] == 0
    assert rec["duration_s"] == pytest.approx(whole, abs=0.5)
    assert 0 < rec["suspended_s"] < rec["duration_s"]


# -- reschedule --------------------------------------------------------------------------------
def test_a_rescheduled_poke_is_a_suspension_not_a_run(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any]) -> None:
    from tests.airflow.stage_runs import parse_dags

    exporter, reader = otel
    dags, _ = parse_dags(Path(__file__).parent / "layout_dags" / "layout_reschedule_sensor.py")
    dag = dags["layout_reschedule_sensor"]
    from airflow_cloudplan.airflow.operators import as_stage

    as_stage(dag.task_dict["wait_for_partition"], pipeline="out-reschedule", kind="ingest")
    with foreign_code():
        run = run_in_memory_dag(dag)
    assert states(run) == {"wait_for_partition": "success", "work": "success"}
    pokes = stage_spans(exporter, "layout_reschedule_sensor", "wait_for_partition")
    assert [(s.attributes["cloudplan.outcome"], s.status.status_code.name) for s in pokes] == [
        ("rescheduled", "UNSET"), ("success", "OK")]
    assert points(reader, "cloudplan.stage.runs", "out-reschedule") == {
        ("wait_for_partition", "success"): 1}
    assert points(reader, "cloudplan.stage.suspensions", "out-reschedule") == {
        ("wait_for_partition", "rescheduled"): 1}


# -- up for retry, failure ---------------------------------------------------------------------
def flaky(stage: Any, ti: Any) -> int:
    if ti.try_number == 1:
        raise ValueError("first try fails")
    return ti.try_number


def always_fails(stage: Any) -> None:
    raise ValueError("broken")


def refuses(stage: Any) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException("no point retrying")


def test_a_failure_with_retries_left_is_a_retry_and_the_next_try_succeeds(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any]) -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    exporter, reader = otel
    with DAG("cp_out_retry", schedule=None, start_date=START) as dag:
        StageOperator(task_id="flaky", pipeline="out-retry", kind="train",
                      python_callable=flaky, retries=1, retry_delay=timedelta(seconds=0))
    run = run_in_memory_dag(dag)
    assert states(run) == {"flaky": "success"}
    first, second = stage_spans(exporter, "cp_out_retry", "flaky")
    assert (first.attributes["cloudplan.outcome"], first.status.status_code.name) == (
        "retry", "ERROR")
    assert first.events[0].name == "exception"
    assert second.attributes["airflow.task_instance.try_number"] == 2
    assert points(reader, "cloudplan.stage.runs", "out-retry") == {
        ("flaky", "retry"): 1, ("flaky", "success"): 1}
    assert record("cp_out_retry", "flaky", run.run_id)["outcome"] == "success"


@pytest.mark.parametrize(("work", "retries"), [(always_fails, 0), (refuses, 3)])
def test_a_failure_with_no_retry_left_is_a_failure(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any], work: Any,
        retries: int) -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    exporter, reader = otel
    dag_id, pipeline = f"cp_out_fail_{work.__name__}", f"out-fail-{work.__name__}"
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        StageOperator(task_id="step", pipeline=pipeline.replace("_", "-"), kind="train",
                      python_callable=work, retries=retries)
    run = run_in_memory_dag(dag)
    assert states(run) == {"step": "failed"}
    (span,) = stage_spans(exporter, dag_id, "step")
    assert (span.attributes["cloudplan.outcome"], span.status.status_code.name) == (
        "failure", "ERROR")
    assert points(reader, "cloudplan.stage.runs", pipeline.replace("_", "-")) == {
        ("step", "failure"): 1}
    rec = record(dag_id, "step", run.run_id)
    assert (rec["outcome"], rec["errors"]) == ("failure", 1)


# -- external kill -------------------------------------------------------------------------------
def test_an_external_kill_is_recorded_as_killed(
        airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any], tmp_path: Path) -> None:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import as_stage

    exporter, reader = otel
    started = tmp_path / "started"
    with DAG("cp_out_killed", schedule=None, start_date=START) as dag:
        as_stage(BashOperator(task_id="long", bash_command=f"touch {started}; sleep 60"),
                 pipeline="out-killed", kind="train")

    def kill_when_started() -> None:  # what the supervisor does when the TI is stopped
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=kill_when_started, daemon=True)
    killer.start()
    before = signal.getsignal(signal.SIGTERM)
    try:
        run = run_in_memory_dag(dag)
    finally:
        signal.signal(signal.SIGTERM, before)
        killer.join(timeout=5)
    assert states(run) == {"long": "failed"}
    (span,) = stage_spans(exporter, "cp_out_killed", "long")
    assert (span.attributes["cloudplan.outcome"], span.status.status_code.name) == (
        "killed", "ERROR")
    assert span.status.description == "killed externally"
    assert points(reader, "cloudplan.stage.runs", "out-killed") == {("long", "killed"): 1}
    rec = record("cp_out_killed", "long", run.run_id)
    assert (rec["outcome"], rec["errors"]) == ("killed", 1)
