"""Turning tasks into stages keeps every task what it was, in every way DAGs are written.

The yardstick is Airflow's own serialisation of the DAG (what the scheduler, the UI and
the API see): wrapping must not change it beyond the stage marker, whether the DAG uses
``with DAG``, ``@dag``, ``dag=dag``, nested task groups, or is wrapped after it was built
(in a loop, or by a cluster policy while the DagBag parses the file).
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.errors import SpecError
from tests.airflow.stage_runs import (
    parse_dags,
    rendered_fields,
    run_in_memory_dag,
    states,
    xcoms,
)

pytestmark = [pytest.mark.airflow]

LAYOUTS = Path(__file__).parent / "layout_dags"


def serialized_tasks(dag: Any) -> dict[str, dict[str, Any]]:
    """task id → Airflow's serialised form of the task (the stage marker removed)."""
    from airflow.serialization.serialized_objects import DagSerialization

    tasks = DagSerialization.serialize_dag(dag)["tasks"]
    out = {}
    for t in tasks:
        body = dict(t["__var"])
        body.pop("_is_empty", None)  # a wrapped EmptyOperator runs (and reports) as a stage
        out[body["task_id"]] = body
    return out


def serialized_groups(dag: Any) -> Any:
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.serialize_dag(dag)["task_group"]


def parse(path: Path) -> dict[str, Any]:
    dags, errors = parse_dags(path)
    assert errors == {}, errors
    return dags


def wrap_all(dag: Any) -> None:
    from airflow_cloudplan.airflow.operators import as_stage

    for task in list(dag.tasks):
        as_stage(task, pipeline="layouts", kind="transform")


@pytest.mark.parametrize("path", sorted(LAYOUTS.glob("layout_*.py")), ids=lambda p: p.stem)
def test_wrapping_every_task_after_the_dag_is_built_changes_nothing_airflow_sees(
        path: Path) -> None:
    from airflow_cloudplan.airflow.operators import is_stage

    (plain,) = parse(path).values()
    (wrapped,) = parse(path).values()
    wrap_all(wrapped)
    assert all(is_stage(t) for t in wrapped.tasks)
    assert serialized_tasks(wrapped) == serialized_tasks(plain)
    assert serialized_groups(wrapped) == serialized_groups(plain)


# -- the regressions from the first list of the issue ----------------------------------
DAG_KWARG_SOURCE = textwrap.dedent('''
    from datetime import datetime
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow_cloudplan.airflow.operators import StageOperator

    dag = DAG("cp_dag_kwarg", schedule=None, start_date=datetime(2025, 1, 1))
    pod = BashOperator(task_id="pod", bash_command="echo {{ ds }}", dag=dag)
    StageOperator(pipeline="demo", kind="transform", operator=pod)
''')


def test_a_task_attached_with_dag_kwarg_is_kept_when_wrapped(tmp_path: Path) -> None:
    (tmp_path / "cp_dag_kwarg.py").write_text(DAG_KWARG_SOURCE)
    dag = parse(tmp_path)["cp_dag_kwarg"]
    assert list(dag.task_dict) == ["pod"]
    assert dag.task_dict["pod"].bash_command == "echo {{ ds }}"


NESTED_SOURCE = textwrap.dedent('''
    from datetime import datetime
    from airflow.sdk import DAG, TaskGroup
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow_cloudplan.airflow.operators import StageOperator

    with DAG("cp_nested_groups", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        with TaskGroup("section_1"):
            first = BashOperator(task_id="task_2", bash_command="echo 1")
        with TaskGroup("section_2"):
            with TaskGroup("inner_section_2"):
                second = BashOperator(task_id="task_2", bash_command="echo 2")
                after = EmptyOperator(task_id="task_3")
                second >> after
        first >> second

    # wrapped outside the groups' context managers
    for task in (first, second):
        StageOperator(pipeline="demo", kind="transform", operator=task)
''')


def test_a_task_in_nested_groups_keeps_its_id_group_and_edges_when_wrapped_outside(
        tmp_path: Path) -> None:
    (tmp_path / "cp_nested_groups.py").write_text(NESTED_SOURCE)
    dag = parse(tmp_path)["cp_nested_groups"]
    assert sorted(dag.task_dict) == ["section_1.task_2", "section_2.inner_section_2.task_2",
                                     "section_2.inner_section_2.task_3"]
    inner = dag.task_dict["section_2.inner_section_2.task_2"]
    assert inner.task_group.group_id == "section_2.inner_section_2"
    assert inner.upstream_task_ids == {"section_1.task_2"}
    assert inner.downstream_task_ids == {"section_2.inner_section_2.task_3"}


def test_default_stage_name_is_the_full_task_id_so_same_named_tasks_stay_apart(
        tmp_path: Path) -> None:
    (tmp_path / "cp_nested_groups.py").write_text(NESTED_SOURCE)
    dag = parse(tmp_path)["cp_nested_groups"]
    stages = {t.cloudplan_stage.declaration(task_id=t.task_id, dag_id=dag.dag_id).stage
              for t in dag.tasks if hasattr(t, "cloudplan_stage")}
    assert stages == {"section_1.task_2", "section_2.inner_section_2.task_2"}


def test_the_ui_shows_the_wrapped_operators_rendered_templates(
        airflow_db: Path, cloudplan_home: Path) -> None:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import StageOperator

    def build(dag_id: str, wrap: bool) -> Any:
        with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1)) as dag:
            bash = BashOperator(task_id="bash", bash_command="echo {{ run_id }}",
                                env={"DAY": "{{ ds }}"})
            py = PythonOperator(task_id="py", python_callable=lambda day: day,
                                op_kwargs={"day": "{{ ds }}"})
            bash >> py
        if wrap:
            for task in (bash, py):
                StageOperator(pipeline="demo", kind="transform", operator=task)
        return dag

    logical = datetime(2025, 3, 1, tzinfo=UTC)
    plain = run_in_memory_dag(build("cp_rendered", wrap=False), logical_date=logical,
                              run_after=logical)
    before = rendered_fields("cp_rendered", plain.run_id)
    wrapped = run_in_memory_dag(build("cp_rendered", wrap=True), logical_date=logical,
                                run_after=logical)
    after = rendered_fields("cp_rendered", wrapped.run_id)
    assert states(wrapped) == {"bash": "success", "py": "success"}
    assert after[("bash", -1)]["bash_command"] == f"echo {wrapped.run_id}"
    assert after[("py", -1)]["op_kwargs"] == {"day": "2025-03-01"}
    assert after == before


# -- every layout, and the other ways in ----------------------------------------------------
def test_with_dag_and_wrap_inside_the_block(cloudplan_home: Path) -> None:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG

    from airflow_cloudplan.airflow.operators import as_stage

    def cb(context: Any) -> None:
        return None

    with DAG("cp_with_block", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        a = BashOperator(task_id="a", bash_command="echo a")
        b = BashOperator(task_id="b", bash_command="echo b", retries=3, doc_md="**b**",
                         do_xcom_push=False, trigger_rule="all_done", on_failure_callback=cb,
                         on_success_callback=[cb])
        a >> b
        returned = as_stage(b, kind="train")
    assert returned is b and dag.task_dict["b"] is b
    assert (b.retries, b.doc_md, b.do_xcom_push, b.trigger_rule) == (3, "**b**", False,
                                                                      "all_done")
    assert b.on_failure_callback == [cb] and b.on_success_callback == [cb]
    assert b.upstream_task_ids == {"a"} and a.downstream_task_ids == {"b"}


def test_taskflow_tasks_of_a_dag_decorator_are_wrapped_through_their_xcomarg(
        airflow_db: Path, cloudplan_home: Path) -> None:
    from airflow.sdk import dag, task

    from airflow_cloudplan.airflow.operators import as_stage, is_stage

    @task
    def produce() -> dict[str, int]:
        return {"n": 3}

    @task
    def consume(value: dict[str, int]) -> int:
        return value["n"] * 2

    @dag(dag_id="cp_dag_decorator", schedule=None, start_date=datetime(2025, 1, 1))
    def pipeline() -> None:
        consume(as_stage(produce(), kind="ingest"))

    built = pipeline()
    assert is_stage(built.task_dict["produce"]) and not is_stage(built.task_dict["consume"])
    run = run_in_memory_dag(built)
    assert states(run) == {"produce": "success", "consume": "success"}
    assert xcoms("cp_dag_decorator", "return_value", run.run_id)["consume"] == 6
    assert xcoms("cp_dag_decorator", "cloudplan_stage_metrics", run.run_id)["produce"][
        "stage"] == "produce"


class WrapEverything:
    """A cluster policy that makes every task a stage while the DagBag parses the file."""

    from airflow.policies import hookimpl

    @hookimpl
    def task_policy(self, task: Any) -> None:
        from airflow_cloudplan.airflow.operators import as_stage, is_stage

        if not is_stage(task):
            as_stage(task, pipeline="policy", kind="transform")


def test_a_cluster_policy_can_turn_every_task_into_a_stage_at_parse_time() -> None:
    from airflow.settings import get_policy_plugin_manager

    from airflow_cloudplan.airflow.operators import is_stage

    path = LAYOUTS / "layout_nested_groups.py"
    (plain,) = parse(path).values()
    manager = get_policy_plugin_manager()
    plugin = WrapEverything()
    manager.register(plugin)
    try:
        (wrapped,) = parse(path).values()
    finally:
        manager.unregister(plugin)
    assert all(is_stage(t) for t in wrapped.tasks)
    assert serialized_tasks(wrapped) == serialized_tasks(plain)


def test_mapped_tasks_become_stages_for_every_expanded_copy(
        airflow_db: Path, cloudplan_home: Path) -> None:
    (dag,) = parse(LAYOUTS / "layout_mapping.py").values()
    wrap_all(dag)
    run = run_in_memory_dag(dag)
    assert set(states(run).values()) == {"success"}
    metrics = xcoms("layout_mapping", "cloudplan_stage_metrics", run.run_id)
    assert {k for k in metrics if k.startswith(("size[", "echo["))} == {
        "size[0]", "size[1]", "size[2]", "echo[0]", "echo[1]"}
    assert {m["stage"] for m in metrics.values()} == {"files", "size", "echo", "total"}
    assert xcoms("layout_mapping", "return_value", run.run_id)["total"] == 150


@pytest.mark.parametrize("case", ["twice", "uncalled_taskflow", "not_a_task", "rename",
                                  "own_work_args"])
def test_a_wrap_that_cannot_be_done_safely_fails_at_parse_time_with_the_fix(case: str) -> None:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, task

    from airflow_cloudplan.airflow.operators import StageOperator, ValidateOperator, as_stage

    @task
    def make() -> int:
        return 1

    with DAG("cp_unsafe", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        op = BashOperator(task_id="op", bash_command="echo")
        with pytest.raises(SpecError) as err:
            if case == "twice":
                as_stage(as_stage(op, kind="transform"), kind="transform")
            elif case == "uncalled_taskflow":
                as_stage(make, kind="transform")
            elif case == "not_a_task":
                as_stage(print, kind="transform")
            elif case == "own_work_args":  # a wrapped operator does not run a GX suite
                ValidateOperator(operator=op, pipeline="demo", dataset="features",
                                 expectations=[{"type": "expect_x"}])
            else:
                StageOperator(task_id="other", pipeline="demo", kind="transform", operator=op)
    assert "Fix:" in str(err.value)
    assert list(dag.task_dict) == ["op"]  # nothing was dropped
