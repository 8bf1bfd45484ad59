"""Helpers to run in-memory DAGs under ``dag.test()`` and read what they left behind."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import _AIRFLOW_HOME


@contextlib.contextmanager
def foreign_code() -> Iterator[None]:
    """Airflow's own deprecation warnings, raised inside DAGs and providers we did not
    write, stay warnings (pytest makes warnings errors for our code)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def parse_dags(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The DAGs of a file or folder, and its import errors (a DagBag, as Airflow parses)."""
    from airflow.dag_processing.dagbag import DagBag

    with foreign_code():
        bag = DagBag(dag_folder=str(path))
    return dict(bag.dags), dict(bag.import_errors)


def run_in_memory_dag(dag: Any, **kwargs: Any) -> Any:
    """``dag.test()`` for a DAG built in the test (not in the dags folder).

    ``dag.test()`` looks the DAG up in the configured bundles; writing its serialised
    form to the metadata DB first (as the DAG processor would) lets it run as is.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(),
            session=session,
        )
    return dag.test(**kwargs)


def states(run: Any) -> dict[str, str]:
    """task id (``[map index]`` for mapped) → final state of a finished run."""
    out = {}
    for ti in run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        out[key] = str(ti.state)
    return out


def _rows(query: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(_AIRFLOW_HOME / "airflow.db") as db:
        return db.execute(query, args).fetchall()


def _value(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str | bytes) else raw


def xcoms(dag_id: str, key: str, run_id: str | None = None) -> dict[str, Any]:
    """task id → the XCom ``key`` of the (latest, or given) run of a DAG."""
    query = "SELECT task_id, map_index, value FROM xcom WHERE dag_id = ? AND key = ?"
    args: list[Any] = [dag_id, key]
    if run_id is not None:
        query += " AND run_id = ?"
        args.append(run_id)
    return {(t if m < 0 else f"{t}[{m}]"): _value(v) for t, m, v in _rows(query, *args)}


def all_xcoms(dag_id: str, run_id: str) -> dict[tuple[str, int, str], Any]:
    """(task, map index, key) → value of every XCom of one run."""
    return {(t, m, k): _value(v) for t, m, k, v in _rows(
        "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
        dag_id, run_id)}


def rendered_fields(dag_id: str, run_id: str) -> dict[tuple[str, int], Any]:
    """(task, map index) → the rendered template fields the UI shows for one run."""
    return {(t, m): _value(v) for t, m, v in _rows(
        "SELECT task_id, map_index, rendered_fields FROM rendered_task_instance_fields "
        "WHERE dag_id = ? AND run_id = ?", dag_id, run_id)}


def stage_homes(tmp_path: Path) -> dict[str, Path]:
    """Private [cloudplan] locations for one test."""
    return {"audit_store": tmp_path / "audit.jsonl",
            "plan_cache": tmp_path / "active-plan.json",
            "plan_store": tmp_path / "plans",
            "cache_root": tmp_path / "cache",
            "replica_root": tmp_path / "replicas"}
