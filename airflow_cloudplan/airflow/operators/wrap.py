"""Turn a task a DAG already has into a stage — in place, keeping everything it was.

:func:`as_stage` does not build a new task around the old one: it gives the task's own
object a subclass of its class that runs ``execute`` (and the resumption of a deferral)
as a stage. The object stays where it is, so nothing about it can drift: its DAG, task
id, task group, upstream/downstream edges, trigger rule, templated fields (rendered and
shown in the UI exactly as before), ``do_xcom_push``, ``doc_md``, retries, callbacks,
sensor mode, deferral, operator links and every XComArg that points at it. This works
the same whichever way the DAG was written (``with DAG``, ``@dag``, ``dag=dag``, nested
task groups) and also after the DAG is built — from a loop over ``dag.tasks`` or from a
cluster policy. The subclass keeps the class's name and module, so Airflow (and the UI)
still sees a ``BashOperator``.

A mapped task (``.partial().expand()``, a mapped ``@task``) becomes a stage by giving its
``operator_class`` the same treatment, so every expanded copy is one.

What cannot be done safely raises a :class:`~airflow_cloudplan.errors.SpecError` when
the DAG is parsed, saying what to do instead — a task is never dropped.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator

from airflow_cloudplan.airflow.operators.spec import StageSpec, dag_id_of
from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.workload import Criticality, StageKind
from airflow_cloudplan.runtime.declaration import DatasetsArg

if TYPE_CHECKING:
    from airflow.sdk import Context

N = TypeVar("N")


class StagedOperator:
    """What a task turned into a stage runs: its own ``execute``, as the stage's work.

    Mixed in before the task's class by :func:`as_stage`; never instantiated directly.
    """

    cloudplan_stage: StageSpec
    # A wrapped EmptyOperator runs (and reports) like any stage instead of being
    # short-circuited by the scheduler.
    inherits_from_empty_operator = False

    def execute(self, context: Context, **kwargs: Any) -> Any:
        """Run the task's own ``execute`` inside the stage (span, metrics, record)."""
        from airflow_cloudplan.airflow.operators.execution import run_task_stage

        inner = super().execute  # type: ignore[misc]
        return run_task_stage(self, self.cloudplan_stage, context,
                              lambda _ctx: inner(context, **kwargs))

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None,
                         context: Context) -> Any:
        """Resume a deferral into the task's own method, still as the same stage run."""
        from airflow_cloudplan.airflow.operators.execution import run_task_stage

        resume = super().resume_execution  # type: ignore[misc]
        return run_task_stage(self, self.cloudplan_stage, context,
                              lambda _ctx: resume(next_method, next_kwargs, context),
                              resumed=True)

    def on_kill(self) -> None:
        """Close the stage run as killed, then let the task clean up as it always did."""
        from airflow_cloudplan.airflow.operators.execution import kill_running_stage

        kill_running_stage(self)
        super().on_kill()  # type: ignore[misc]


@functools.cache
def staged_class(cls: type[BaseOperator]) -> type[BaseOperator]:
    """``cls`` with :class:`StagedOperator` first in line (same name and module)."""
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                 "__doc__": cls.__doc__}
    meta: Any = type(cls)
    new: type[BaseOperator] = meta(cls.__name__, (StagedOperator, cls), namespace)
    # Airflow's metaclass re-wraps an inherited __init__ (default-args handling); the
    # class's own, already wrapped __init__ must stay the one that runs.
    if "__init__" in vars(new):
        delattr(new, "__init__")
    return new


def _mapped_stage_class(cls: type[BaseOperator], spec: StageSpec) -> type[BaseOperator]:
    """A per-task subclass carrying the stage, for a mapped task's expanded copies."""
    base = staged_class(cls)
    meta: Any = type(base)
    new: type[BaseOperator] = meta(cls.__name__, (base,), {
        "__module__": cls.__module__, "__qualname__": cls.__qualname__,
        "cloudplan_stage": spec})
    if "__init__" in vars(new):
        delattr(new, "__init__")
    return new


def is_stage(task: Any) -> bool:
    """True for a task that runs as a stage (any adoption style)."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from airflow_cloudplan.airflow.operators.base import StageOperator

    if isinstance(task, MappedOperator):
        return issubclass(task.operator_class, StagedOperator | StageOperator)
    return isinstance(task, StagedOperator | StageOperator)


def _target(task: Any) -> Any:
    """The operator behind what the user passed (an XComArg from a ``@task`` call)."""
    from airflow.sdk.bases.decorator import is_decorated_task
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    if is_decorated_task(task):
        raise SpecError("cannot turn an uncalled @task function into a stage", [Problem(
            message=f"{getattr(task, '__name__', task)!r} is a task factory, not a task",
            hint="call it first — as_stage(my_task(...), kind=...) — or decorate it with "
            "@task.stage(kind=...) instead of @task")])
    if isinstance(task, PlainXComArg):
        task = task.operator
    if not isinstance(task, BaseOperator | MappedOperator):
        raise SpecError("only Airflow tasks can become stages", [Problem(
            message=f"got {type(task).__name__}",
            hint="pass an operator (or the XComArg a @task call returns); wrap plain "
            "functions with StageOperator(python_callable=...) or @task.stage")])
    if is_stage(task):
        raise SpecError(f"task {task.task_id!r} is a stage already", [Problem(
            message="it was wrapped twice", path=task.task_id,
            hint="declare each stage once (remove the second as_stage/StageOperator)")])
    return task


def as_stage(
    task: N,
    *,
    kind: StageKind | str,
    pipeline: str | None = None,
    stage: str | None = None,
    reads: DatasetsArg = None,
    writes: DatasetsArg = None,
    sensitivity: str | None = None,
    slo: Any = None,
    criticality: Criticality | str = Criticality.STANDARD,
    aws_conn_id: str = "aws_default",
    identity: str | None = None,
    cache_ttl_s: float = 3600.0,
) -> N:
    """Make ``task`` run as a pipeline stage, in place; returns it (for chaining).

    :param task: an operator, a mapped operator, or the XComArg of a ``@task`` call
    :param kind: the stage kind (``ingest``, ``transform``, ``train``, ...)
    :param pipeline: pipeline name in the spec (default: the DAG id)
    :param stage: stage name (default: the full task id, task-group prefix included)
    :param reads: datasets the stage reads, ``{"name": "uri"}`` or a list (templated)
    :param writes: datasets the stage writes (templated)
    :param sensitivity: overrides the most sensitive class of its datasets
    :param slo: ``StageSLO`` or its dict (``p95_ms``, ``deadline_minutes``, ``availability``)
    :param criticality: ``critical`` | ``standard`` | ``best_effort``
    :param aws_conn_id: connection with the stage's scoped credentials for ``s3://`` data
    :param identity: identity written to audit records
    :param cache_ttl_s: freshness of the regional cache when the plan chooses one
    :raises SpecError: at parse time, when the task cannot become a stage
    """
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    target = _target(task)
    spec = StageSpec.build(
        task_id=target.task_id, dag_id=dag_id_of(target),
        kind=kind, owner="as_stage", pipeline=pipeline, stage=stage, reads=reads,
        writes=writes, sensitivity=sensitivity, slo=slo, criticality=criticality,
        aws_conn_id=aws_conn_id, identity=identity, cache_ttl_s=cache_ttl_s,
    )
    try:
        if isinstance(target, MappedOperator):
            target.operator_class = _mapped_stage_class(target.operator_class, spec)
            target._is_empty = False
        else:
            cls: type[BaseOperator] = type(target)
            object.__setattr__(target, "__class__", staged_class(cls))
            target.cloudplan_stage = spec
    except TypeError as exc:  # e.g. a class whose instances have a fixed layout
        raise SpecError(f"task {target.task_id!r} cannot become a stage in place", [Problem(
            message=str(exc), path=target.task_id,
            hint="run its work from StageOperator(python_callable=...) instead")]) from exc
    return task
