"""The TaskFlow form (``@task.stage`` / ``@stage_task``) and Airflow's context injection."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.runtime.audit import JsonlAuditStore
from tests.airflow.stage_runs import run_in_memory_dag, states, xcoms

pytestmark = [pytest.mark.airflow]


def test_provider_info_registers_task_stage_and_matches_airflows_schema() -> None:
    import jsonschema
    from airflow import providers_manager

    from airflow_cloudplan.airflow.provider_info import get_provider_info

    schema = json.loads((Path(providers_manager.__file__).parent
                         / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["task-decorators"] == [
        {"name": "stage", "class-name": "airflow_cloudplan.airflow.operators.decorator.stage_task"}]


def test_task_stage_runs_a_taskflow_function_as_a_stage_with_airflow_context(
        airflow_db: Path, cloudplan_home: Path) -> None:
    from airflow.sdk import DAG, task

    from airflow_cloudplan.airflow.operators import is_stage, stage_task

    assert task.stage is not None  # found through the provider's task-decorators entry
    root = cloudplan_home / "data"

    @task.stage(kind="ingest", writes={"numbers": f"{root}/numbers"})
    def produce(stage: Any, count: int, ds: str | None = None, ti: Any = None
                ) -> dict[str, Any]:
        stage.data.write_json("numbers", "n.json", list(range(count)))
        return {"count": count, "day": ds, "try": ti.try_number}

    @stage_task(kind="transform", multiple_outputs=True, reads={"numbers": f"{root}/numbers"})
    def total(stage: Any, meta: dict[str, Any], params: Any = None) -> dict[str, Any]:
        numbers = stage.data.read_json("numbers", "n.json")
        return {"sum": sum(numbers), "seen": meta["count"], "scale": params["scale"]}

    with DAG("cp_taskflow_stage", schedule=None, start_date=datetime(2025, 1, 1),
             params={"scale": 2}) as dag:
        total(produce(4))
    assert all(is_stage(t) for t in dag.tasks)
    assert dag.task_dict["produce"].operator_name == "@task.stage"

    run = run_in_memory_dag(dag)
    assert states(run) == {"produce": "success", "total": "success"}
    returned = xcoms("cp_taskflow_stage", "return_value", run.run_id)
    assert returned["produce"] == {"count": 4, "day": run.logical_date.strftime("%Y-%m-%d"),
                                   "try": 1}
    assert xcoms("cp_taskflow_stage", "sum", run.run_id) == {"total": 6}
    assert xcoms("cp_taskflow_stage", "scale", run.run_id) == {"total": 2}
    metrics = xcoms("cp_taskflow_stage", "cloudplan_stage_metrics", run.run_id)
    assert {t: (m["pipeline"], m["kind"]) for t, m in metrics.items()} == {
        "produce": ("cp_taskflow_stage", "ingest"), "total": ("cp_taskflow_stage", "transform")}
    audited = JsonlAuditStore(cloudplan_home / "audit.jsonl").records()
    assert [(r.task_id, r.action.value) for r in audited] == [("produce", "write"),
                                                              ("total", "read")]


def test_a_taskflow_stage_maps_over_a_list(airflow_db: Path, cloudplan_home: Path) -> None:
    from airflow.sdk import DAG, task

    @task.stage(kind="features")
    def square(stage: Any, x: int) -> int:
        stage.metrics.record("x", x)
        return x * x

    @task
    def add(values: list[int]) -> int:
        return sum(values)

    with DAG("cp_taskflow_mapped", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        add(square.expand(x=[1, 2, 3]))
    run = run_in_memory_dag(dag)
    assert set(states(run).values()) == {"success"}
    assert xcoms("cp_taskflow_mapped", "return_value", run.run_id)["add"] == 14
    metrics = xcoms("cp_taskflow_mapped", "cloudplan_stage_metrics", run.run_id)
    assert sorted(metrics) == ["square[0]", "square[1]", "square[2]"]


def uses_context(stage: Any, day: str, ti: Any, params: Any, **rest: Any) -> dict[str, Any]:
    return {"day": day, "task": ti.task_id, "param": params["who"], "has_ds": "ds" in rest,
            "stage": stage.declaration.stage}


def only_named(stage: Any, ds: str) -> str:
    return ds


def test_callable_stages_receive_airflow_context_like_python_operator(
        airflow_db: Path, cloudplan_home: Path) -> None:
    from airflow.sdk import DAG, TaskGroup

    from airflow_cloudplan.airflow.operators import TransformOperator

    with DAG("cp_callable_context", schedule=None, start_date=datetime(2025, 1, 1),
             params={"who": "me"}) as dag, TaskGroup("grp"):
        TransformOperator(task_id="all", pipeline="demo", python_callable=uses_context,
                          op_kwargs={"day": "{{ ds }}"})
        TransformOperator(task_id="named", pipeline="demo", python_callable=only_named)
    run = run_in_memory_dag(dag)
    returned = xcoms("cp_callable_context", "return_value", run.run_id)
    day = run.logical_date.strftime("%Y-%m-%d")
    assert returned["grp.all"] == {"day": day, "task": "grp.all", "param": "me",
                                   "has_ds": True, "stage": "grp.all"}
    assert returned["grp.named"] == day


@pytest.mark.parametrize("bad", ["no_context_parameter", "reserved_positional"])
def test_callable_signature_mistakes_are_explained(bad: str, airflow_db: Path,
                                                   cloudplan_home: Path) -> None:
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import TransformOperator
    from airflow_cloudplan.errors import SpecError

    def no_args() -> None:
        return None

    def positional_ds(stage: Any, ds: str) -> str:
        return ds

    with DAG("cp_callable_bad", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        if bad == "no_context_parameter":
            with pytest.raises(SpecError, match="first argument receives the StageContext"):
                TransformOperator(task_id="t", pipeline="demo", python_callable=no_args)
            return
        TransformOperator(task_id="t", pipeline="demo", python_callable=positional_ds,
                          op_args=["2020-01-01"])
    run = run_in_memory_dag(dag)
    assert states(run) == {"t": "failed"}  # "The key 'ds' in args is ... reserved"
