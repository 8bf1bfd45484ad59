"""The planning DAG factory: the shipped DAG file is two lines over it, and its options work."""

from __future__ import annotations

import ast
from datetime import timedelta

from tests.conftest import REPO

EDGES = {
    ("profile", "plan"), ("plan", "anything_to_review"), ("plan", "summary"),
    ("plan", "apply"), ("plan", "record_rejection"), ("anything_to_review", "summary"),
    ("summary", "review"), ("review", "apply"), ("apply", "record_rejection"),
}


def _edges(dag) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


def test_factory_builds_the_nightly_dag() -> None:
    from airflow_cloudplan.airflow.dags import replan_dag

    dag = replan_dag()
    assert dag.dag_id == "cloudplan_replan"
    assert _edges(dag) == EDGES
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.get_task("review").response_timeout == timedelta(hours=20)
    assert dag.get_task("record_rejection").trigger_rule == "all_done"
    assert "cloudplan" in dag.tags


def test_factory_options_reach_the_dag() -> None:
    from airflow_cloudplan.airflow.dags import replan_dag

    dag = replan_dag("cloudplan_replan_eu", schedule=None, review_timeout=timedelta(hours=2),
                     tags=("cloudplan", "eu"), default_args={"owner": "platform"},
                     description="EU pipelines")
    assert dag.dag_id == "cloudplan_replan_eu"
    assert type(dag.timetable).__name__ == "NullTimetable"
    assert dag.get_task("review").response_timeout == timedelta(hours=2)
    assert set(dag.tags) == {"cloudplan", "eu"} and dag.description == "EU pipelines"
    assert dag.get_task("plan").owner == "platform"
    assert dag.get_task("plan").retries == 0


def test_shipped_dag_file_only_calls_the_factory(airflow_db) -> None:  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    path = REPO / "dags" / "cloudplan_replan.py"
    body = [n for n in ast.parse(path.read_text()).body
            if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert [type(n).__name__ for n in body] == ["ImportFrom", "Expr"]
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    from airflow_cloudplan.airflow.dags import replan_dag

    assert _edges(bag.get_dag("cloudplan_replan")) == _edges(replan_dag())
