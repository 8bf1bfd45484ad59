"""Drop-in corpus: every example DAG shipped with the installed Airflow and its standard
provider (discovered when the test runs), plus the layout DAGs under
``tests/airflow/layout_dags``, with every task turned into a stage.

For each DAG file the test parses it plain, and again with a cluster policy that makes
every task a stage while the DagBag parses the file (the programmatic, no-edit way to
wrap a DAG). It asserts no import errors, the same task ids, edges, trigger rules and
task groups, the same serialised tasks (what the scheduler and UI see), and the same
rendered templates for every unmapped task. Files that need a provider or library this
environment lacks are skipped with the reason their own parse logged.

A representative subset then runs under ``dag.test()`` plain and wrapped, with the same
logical date, and must end with the same task states and the same XComs (the stage's own
``cloudplan_*`` XComs aside).
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.stage_runs import all_xcoms, foreign_code, parse_dags, run_in_memory_dag
from tests.airflow.test_operators_layouts import WrapEverything, serialized_tasks

pytestmark = [pytest.mark.airflow]

LAYOUTS = Path(__file__).parent / "layout_dags"


def corpus_files() -> list[Path]:
    """The example DAG files of the installed packages, and our layout DAGs."""
    import airflow.example_dags
    import airflow.providers.standard.example_dags as standard

    folders = [Path(airflow.example_dags.__file__).parent, Path(standard.__file__).parent,
               LAYOUTS]
    return sorted((f for folder in folders for f in folder.glob("*.py")
                   if f.name != "__init__.py"), key=lambda f: (f.parent.name, f.name))


def _file_id(path: Path) -> str:
    package = "layouts" if path.parent == LAYOUTS else (
        "standard" if "providers" in path.parts else "airflow")
    return f"{package}/{path.stem}"


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _logged_warnings() -> Iterator[list[str]]:
    handler = _Warnings()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.messages
    finally:
        root.removeHandler(handler)


@contextmanager
def _every_task_a_stage() -> Iterator[None]:
    from airflow.settings import get_policy_plugin_manager

    manager = get_policy_plugin_manager()
    plugin = WrapEverything()
    manager.register(plugin)
    try:
        yield
    finally:
        manager.unregister(plugin)


def parse_plain_and_wrapped(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The file's DAGs parsed as written and with every task a stage (or a skip)."""
    with _logged_warnings() as logged:
        plain, errors = parse_dags(path)
    missing = [str(e) for e in errors.values() if "No module named" in str(e)]
    if missing or (not plain and not errors):
        reason = (missing or [m for m in logged if "install" in m.lower()] or logged
                  or ["it defines no DAG in this environment"])[0].strip().splitlines()[-1]
        pytest.skip(f"{path.name} cannot load here: {reason}")
    assert errors == {}, errors
    _skip_unless_serialisable(path, plain)
    with _every_task_a_stage():
        wrapped, wrapped_errors = parse_dags(path)
    assert wrapped_errors == {}, wrapped_errors
    return plain, wrapped


def _skip_unless_serialisable(path: Path, dags: dict[str, Any]) -> None:
    """Skip DAGs that need Airflow plugins this environment does not load (they cannot be
    serialised here even unwrapped: the scheduler would reject them too)."""
    from airflow.exceptions import SerializationError
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dags.values():
        try:
            DagSerialization.serialize_dag(dag)
        except SerializationError as exc:
            reason = str(exc).split(": ", 1)[-1].split(" or you have")[0]
            pytest.skip(f"{path.name} needs an Airflow plugin not loaded here: {reason}")


def _render_context(dag: Any, task: Any) -> Any:
    """A task's template context for a fixed, made-up run (no metadata DB needed)."""
    from airflow.sdk.api.datamodels._generated import DagRun, TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    when = datetime(2025, 1, 1, tzinfo=UTC)
    run = DagRun(dag_id=dag.dag_id, run_id="corpus_render", logical_date=when,
                 data_interval_start=when, data_interval_end=when, run_after=when,
                 start_date=when, end_date=None, run_type="manual", state="running",
                 consumed_asset_events=[], partition_key=None, conf={})
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.UUID(int=0), task_id=task.task_id, dag_id=dag.dag_id, run_id=run.run_id,
        try_number=1, map_index=-1, dag_version_id=uuid.UUID(int=0), task=task,
        _ti_context_from_server=TIRunContext(dag_run=run, max_tries=0), max_tries=0,
        start_date=when)
    return ti.get_template_context()


def rendered(dag: Any) -> dict[str, dict[str, Any]]:
    """task id → field → rendered value (or the error rendering raised) for unmapped tasks."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    out: dict[str, dict[str, Any]] = {}
    for task in dag.tasks:
        if isinstance(task, MappedOperator):
            continue  # rendered from its expansion at run time; its inputs are serialised
        copy_ = copy.deepcopy(task)
        try:
            context = _render_context(dag, copy_)
        except Exception as exc:
            out[task.task_id] = {"<context>": type(exc).__name__}
            continue
        env = copy_.get_template_env()
        fields: dict[str, Any] = {}
        for name in copy_.template_fields:
            try:
                copy_._do_render_template_fields(copy_, [name], context, env, set())
                fields[name] = repr(getattr(copy_, name))
            except Exception as exc:  # e.g. a template that pulls XCom: same in both
                fields[name] = f"<{type(exc).__name__}>"
        out[task.task_id] = fields
    return out


def _edges(dag: Any) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


@pytest.mark.parametrize("path", corpus_files(), ids=_file_id)
def test_every_task_of_the_dag_becomes_a_stage_without_surprises(path: Path) -> None:
    from airflow_cloudplan.airflow.operators import is_stage

    plain, wrapped = parse_plain_and_wrapped(path)
    assert sorted(wrapped) == sorted(plain)
    for dag_id, dag in plain.items():
        other = wrapped[dag_id]
        assert all(is_stage(t) for t in other.tasks), dag_id
        assert sorted(other.task_dict) == sorted(dag.task_dict), dag_id
        assert _edges(other) == _edges(dag), dag_id
        assert {t.task_id: t.trigger_rule for t in other.tasks} == {
            t.task_id: t.trigger_rule for t in dag.tasks}, dag_id
        assert serialized_tasks(other) == serialized_tasks(dag), dag_id
        with foreign_code():
            assert rendered(other) == rendered(dag), dag_id


RUN_SUBSET = [
    "example_bash_operator",
    "example_branch_dop_operator_v3",
    "example_short_circuit_operator",
    "example_skip_dag",
    "example_nested_branch_dag",
    "example_task_group",
    "example_dynamic_task_mapping",
    "example_xcom",
    "tutorial_taskflow_api",
    "example_setup_teardown_taskflow",
    "example_time_delta_sensor_async",
    "layout_dag_kwarg",
    "layout_nested_groups",
    "layout_mapping",
    "layout_reschedule_sensor",
]
"""Branching, skips, short-circuits, trigger rules, groups, mapping, XCom passing,
TaskFlow, setup/teardown, a deferrable sensor, a reschedule-mode sensor, ``dag=dag``."""


def _dag_file(dag_id: str) -> Path:
    for path in corpus_files():
        if f'"{dag_id}"' in path.read_text() or path.stem == dag_id:
            return path
    raise LookupError(dag_id)


def _outcome(dag: Any) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int, str], Any]]:
    when = datetime(2025, 6, 1, tzinfo=UTC)
    with foreign_code():
        run = run_in_memory_dag(dag, logical_date=when, run_after=when)
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    values = {k: v for k, v in all_xcoms(dag.dag_id, run.run_id).items()
              if not k[2].startswith("cloudplan_")}
    return states, values


@pytest.mark.slow
@pytest.mark.parametrize("dag_id", RUN_SUBSET)
def test_wrapped_dag_runs_to_the_same_states_and_xcoms(
        dag_id: str, airflow_db: Path, cloudplan_home: Path) -> None:
    path = _dag_file(dag_id)
    plain, wrapped = parse_plain_and_wrapped(path)
    plain_states, plain_xcoms = _outcome(plain[dag_id])
    wrapped_states, wrapped_xcoms = _outcome(wrapped[dag_id])
    assert wrapped_states == plain_states
    assert wrapped_xcoms == plain_xcoms
    assert set(plain_states.values()) <= {"success", "skipped", "failed", "upstream_failed"}
    ran = {k for k, s in wrapped_states.items() if s in ("success", "failed")}
    recorded = {(t, m) for (t, m, key) in _stage_records(wrapped[dag_id])}
    assert ran <= recorded, f"stages without a record: {sorted(ran - recorded)}"


def _stage_records(dag: Any) -> set[tuple[str, int, str]]:
    from tests.airflow.stage_runs import _rows

    return set(_rows("SELECT task_id, map_index, key FROM xcom WHERE dag_id = ? "
                     "AND key = 'cloudplan_stage_metrics'", dag.dag_id))
