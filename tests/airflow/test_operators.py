"""Stage operators under real Airflow (``dag.test()`` on a migrated SQLite metadata DB)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.errors import SpecError
from airflow_cloudplan.runtime.audit import AccessOutcome, JsonlAuditStore
from tests.airflow.stage_runs import run_in_memory_dag, states, xcoms

# Airflow's in-process execution API imports starlette's TestClient, which warns about
# httpx on import (a dependency-stack warning, not ours).
pytestmark = [pytest.mark.airflow]

HEAVY = ("boto3", "botocore", "pandas", "numpy", "great_expectations", "sklearn", "pulp")


def test_importing_the_operators_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from airflow.sdk import BaseOperator, DAG\n"
        "before = set(sys.modules)\n"
        "import airflow_cloudplan.airflow.operators\n"
        "new = set(sys.modules) - before\n"
        f"print(sorted(m for m in new if m.split('.')[0] in {HEAVY!r} "
        "or m.startswith('opentelemetry.sdk')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def _xcom(airflow_db: Path, dag_id: str, key: str) -> dict[str, Any]:
    return xcoms(dag_id, key)


def _states(run: Any) -> dict[str, str]:
    return states(run)


def write_numbers(ctx: Any, count: int) -> int:
    import pandas as pd

    ctx.data.write_frame("numbers", "data.csv", pd.DataFrame({"n": range(int(count))}))
    return int(count)


def double_numbers(ctx: Any) -> int:
    frame = ctx.data.read_frame("numbers")
    ctx.data.write_frame("doubled", "data.csv", frame * 2)
    return int(frame["n"].sum() * 2)


def peek_elsewhere(ctx: Any) -> None:
    ctx.data.read_bytes("customers", "all.csv")


def _two_stage_dag(dag_id: str, root: Path, second: Any = double_numbers) -> Any:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import IngestOperator, TransformOperator

    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1),
             params={"root": str(root)}) as dag:
        first = IngestOperator(task_id="ingest", pipeline="demo", python_callable=write_numbers,
                               op_kwargs={"count": "{{ 2 + 3 }}"},
                               writes={"numbers": "{{ params.root }}/numbers"})
        then = TransformOperator(task_id="transform", pipeline="demo", python_callable=second,
                                 reads={"numbers": "{{ params.root }}/numbers"},
                                 writes={"doubled": "{{ params.root }}/doubled"})
        first >> then
    return dag


def test_callable_stages_run_audited_and_push_metrics(airflow_db: Path,
                                                      cloudplan_home: Path) -> None:
    dag = _two_stage_dag("cp_ops_two_stage", cloudplan_home / "data")
    run = run_in_memory_dag(dag)
    assert _states(run) == {"ingest": "success", "transform": "success"}

    metrics = _xcom(airflow_db, "cp_ops_two_stage", "cloudplan_stage_metrics")
    assert metrics["ingest"]["rows_written"] == 5 and metrics["ingest"]["kind"] == "ingest"
    assert metrics["transform"]["rows_read"] == 5 and metrics["transform"]["errors"] == 0
    assert metrics["transform"]["plan_version"] is None  # no active plan
    assert _xcom(airflow_db, "cp_ops_two_stage", "return_value")["transform"] == 20

    records = JsonlAuditStore(cloudplan_home / "audit.jsonl").records()
    assert [(r.task_id, r.action.value, r.dataset) for r in records] == [
        ("ingest", "write", "numbers"), ("transform", "read", "numbers"),
        ("transform", "write", "doubled")]
    assert {r.run_id for r in records} == {run.run_id}
    assert records[0].uri == str(cloudplan_home / "data" / "numbers" / "data.csv")


def test_undeclared_access_fails_the_task_and_is_audited(airflow_db: Path,
                                                         cloudplan_home: Path) -> None:
    dag = _two_stage_dag("cp_ops_undeclared", cloudplan_home / "data", second=peek_elsewhere)
    run = run_in_memory_dag(dag)
    assert _states(run) == {"ingest": "success", "transform": "failed"}
    (refused,) = [r for r in JsonlAuditStore(cloudplan_home / "audit.jsonl").records()
                  if r.outcome is AccessOutcome.REFUSED]
    assert (refused.task_id, refused.dataset) == ("transform", "customers")
    assert "not declared in the stage's reads" in (refused.reason or "")
    metrics = _xcom(airflow_db, "cp_ops_undeclared", "cloudplan_stage_metrics")
    assert metrics["transform"]["errors"] == 1


def test_active_plan_sets_version_and_access_strategy(airflow_db: Path,
                                                      cloudplan_home: Path) -> None:
    from airflow_cloudplan.store import open_store
    from airflow_cloudplan.store.cache import ActivePlanCache, CachedPlan, write_cache
    from tests.runtime.plan_factory import make_plan

    plan = make_plan(pipeline="demo", stage="transform", dag_id="cp_ops_planned",
                     task_id="transform")
    version = open_store(cloudplan_home / "plans").put(plan)
    write_cache(cloudplan_home / "active-plan.json", ActivePlanCache(
        generated_at=plan.created_at,
        pipelines={"demo": CachedPlan(version=version, airflow=plan.airflow)}))
    run = run_in_memory_dag(_two_stage_dag("cp_ops_planned", cloudplan_home / "data"))
    assert _states(run)["transform"] == "success"
    metrics = _xcom(airflow_db, "cp_ops_planned", "cloudplan_stage_metrics")
    assert metrics["transform"]["plan_version"] == version
    assert metrics["ingest"]["plan_version"] is None  # the plan does not manage ingest
    cached = cloudplan_home / "cache" / "eu-west-1" / "numbers" / "data.csv"
    assert cached.exists()  # regional cache filled by the planned stage's read


def test_wrapping_an_existing_operator_keeps_its_place_and_behaviour(
    airflow_db: Path, cloudplan_home: Path
) -> None:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    with DAG("cp_ops_wrapped", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        start = EmptyOperator(task_id="start")
        inner = BashOperator(task_id="export", bash_command="echo exported {{ run_id }}",
                             retries=2, pool_slots=1, trigger_rule="all_done")
        start >> inner
        wrapped = StageOperator(pipeline="demo", kind="transform", operator=inner)
        wrapped >> EmptyOperator(task_id="end")

    assert dag.task_dict["export"] is wrapped and len(dag.task_dict) == 3
    assert (wrapped.retries, wrapped.trigger_rule) == (2, "all_done")
    assert wrapped.cloudplan_stage.declaration(task_id="export", dag_id=dag.dag_id).stage == (
        "export")
    assert wrapped.upstream_task_ids == {"start"} and wrapped.downstream_task_ids == {"end"}
    run = run_in_memory_dag(dag)
    assert _states(run) == {"start": "success", "export": "success", "end": "success"}
    assert _xcom(airflow_db, "cp_ops_wrapped", "return_value")["export"] == (
        f"exported {run.run_id}")
    assert _xcom(airflow_db, "cp_ops_wrapped", "cloudplan_stage_metrics")["export"]["errors"] == 0


def test_bundled_example_dag_with_one_operator_wrapped_runs(
    airflow_db: Path, cloudplan_home: Path, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.standard.example_dags import example_bash_operator

    from airflow_cloudplan.airflow.operators import is_stage

    source = Path(example_bash_operator.__file__).read_text()
    original = "    run_this = BashOperator(\n"
    assert source.count(original) == 1
    start = source.index(original)
    end = source.index("\n    )\n", start) + len("\n    )")
    wrapped = (
        source[:start]
        + "    from airflow_cloudplan.airflow.operators import StageOperator\n\n"
        + "    run_this = StageOperator(pipeline='example', kind='transform', operator="
        + source[start + len("    run_this = "):end]
        + ")"
        + source[end:]
    )
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "example_bash_operator.py").write_text(wrapped)

    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    dag = bag.get_dag("example_bash_operator")
    assert is_stage(dag.task_dict["run_after_loop"])
    assert type(dag.task_dict["run_after_loop"]).__name__ == "BashOperator"
    run = run_in_memory_dag(dag)
    assert _states(run)["run_after_loop"] == "success"
    assert all(s in {"success", "skipped"} for s in _states(run).values())
    metrics = _xcom(airflow_db, "example_bash_operator", "cloudplan_stage_metrics")
    assert metrics["run_after_loop"]["stage"] == "run_after_loop"


def test_s3_datasets_with_a_per_stage_connection_through_moto(
    airflow_db: Path, cloudplan_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from airflow.sdk import DAG
    from moto import mock_aws

    from airflow_cloudplan.airflow.operators import IngestOperator, TransformOperator

    monkeypatch.setenv("AIRFLOW_CONN_AWS_STAGE", json.dumps({
        "conn_type": "aws", "login": "AKIASTAGE", "password": "secret",
        "extra": {"region_name": "us-east-1"}}))
    with mock_aws():
        boto3.client("s3", region_name="us-east-1", aws_access_key_id="a",
                     aws_secret_access_key="b").create_bucket(Bucket="lake")
        with DAG("cp_ops_s3", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
            IngestOperator(task_id="ingest", pipeline="demo", python_callable=write_numbers,
                           op_kwargs={"count": 4}, writes={"numbers": "s3://lake/numbers"},
                           aws_conn_id="aws_stage") >> TransformOperator(
                task_id="transform", pipeline="demo", python_callable=double_numbers,
                reads={"numbers": "s3://lake/numbers"}, writes={"doubled": "s3://lake/doubled"},
                aws_conn_id="aws_stage")
        run = run_in_memory_dag(dag)
        assert _states(run) == {"ingest": "success", "transform": "success"}
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a",
                          aws_secret_access_key="b")
        body = s3.get_object(Bucket="lake", Key="doubled/data.csv")["Body"].read()
    assert body.decode().split() == ["n", "0", "2", "4", "6"]
    records = JsonlAuditStore(cloudplan_home / "audit.jsonl").records()
    assert {r.identity for r in records} == {"aws:aws_stage:AKIASTAGE"}
    assert records[-1].uri == "s3://lake/doubled/data.csv"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"kind": "training"}, "invalid stage kind"),
        ({"kind": "train", "python_callable": print, "reads": {"Bad Name": "x"}},
         "t1.reads[0]: not a valid dataset declaration: name: String should match pattern"),
        ({"kind": "train"}, "python_callable=... or operator=..."),
    ],
)
def test_bad_declarations_fail_at_parse_time_with_the_task_named(kwargs, needle) -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    with DAG("cp_ops_bad", schedule=None), pytest.raises(SpecError) as err:
        StageOperator(task_id="t1", pipeline="demo", **kwargs)
    assert needle in str(err.value) and "t1" in str(err.value)


def test_validate_operator_checks_its_arguments() -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import TrainOperator, ValidateOperator

    with DAG("cp_ops_bad_validate", schedule=None):
        with pytest.raises(SpecError, match="'features' is not among reads"):
            ValidateOperator(task_id="v", pipeline="demo", dataset="features",
                             expectations=[{"type": "expect_x"}], reads={"model": "/m"})
        with pytest.raises(SpecError, match="always kind 'train'"):
            TrainOperator(task_id="t", pipeline="demo", kind="serve", python_callable=print)


def write_report(ctx: Any) -> str:
    return ctx.data.write_bytes("reports", "out.txt", b"report")


def test_an_unserved_scheme_fails_the_task_and_writes_nothing_locally(
    airflow_db: Path, cloudplan_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import TransformOperator

    pytest.importorskip("fsspec")
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here: gs:// would be served")
    monkeypatch.chdir(tmp_path)
    with DAG("cp_ops_gs", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        TransformOperator(task_id="export", pipeline="demo", python_callable=write_report,
                          writes={"reports": "gs://bucket/reports/"}, retries=2)
    run = run_in_memory_dag(dag)
    assert _states(run) == {"export": "failed"}  # at once: retrying cannot install gcsfs
    assert not (tmp_path / "gs:").exists()
    audit = cloudplan_home / "audit.jsonl"
    assert not audit.exists() or JsonlAuditStore(audit).records() == []


def test_an_unknown_scheme_is_refused_when_the_dag_is_parsed() -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import TransformOperator

    with DAG("cp_ops_scheme", schedule=None), pytest.raises(SpecError) as err:
        TransformOperator(task_id="export", pipeline="demo", python_callable=write_report,
                          writes={"reports": "hdfs://cluster/reports/"})
    assert "dataset 'reports'" in str(err.value) and "s3://" in str(err.value)


def test_stages_read_the_otel_settings_the_policy_set_on_the_task(
    airflow_db: Path, cloudplan_home: Path, otel: tuple[Any, Any]
) -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import TransformOperator

    exporter, _ = otel
    with DAG("cp_ops_task_otel", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        task = TransformOperator(task_id="t", pipeline="demo", python_callable=lambda ctx: 1)
    task.cloudplan_otel = {"plan_version": "v9", "attr.team": "ml", "detail": "full"}
    run = run_in_memory_dag(dag)
    assert _states(run) == {"t": "success"}
    (span,) = [s for s in exporter.get_finished_spans()
               if s.attributes.get("airflow.dag_id") == "cp_ops_task_otel"
               and s.name == "cloudplan.stage.t"]
    assert (span.attributes["team"], span.attributes["cloudplan.plan.version"]) == ("ml", "v9")
    assert _xcom(airflow_db, "cp_ops_task_otel", "cloudplan_stage_metrics")["t"][
        "plan_version"] == "v9"
