"""Running a stage inside Airflow: outcome semantics, span parent, deferral, kill.

Every stage — a :class:`StageOperator`, a ``@task.stage`` function, an operator turned
into a stage — runs through :func:`run_task_stage`, which turns Airflow's world into the
core's plain objects and calls :class:`~airflow_cloudplan.runtime.stage.StageExecution`:

* **outcome**: :func:`classify` maps what the work raised to an
  :class:`~airflow_cloudplan.runtime.outcome.Outcome` the way Airflow's task runner will
  treat it (skip, branch, deferral, reschedule, up-for-retry, failure, external kill);
* **span parent**: the stage span is a child of the task's span — the current span on
  a worker (``worker.<task_id>``), else the task instance's own span from its trace
  carrier (``dag.test()`` opens no span in the process: the carrier is read from the
  metadata DB there, which only ``dag.test()``'s in-process runner allows);
* **deferral**: the progress of a deferred run is kept in XCom
  (:data:`PROGRESS_XCOM_KEY`; Airflow keeps a task's XComs while it is deferred) and the
  resumed segment reports the whole run;
* **kill**: :func:`kill_running_stage` (called from ``on_kill``) closes the run at once.

Imported only inside ``execute``: it pulls in the OTel API and the wiring.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_cloudplan.airflow.operators.runtime_wiring import stage_runtime
from airflow_cloudplan.model.workload import STAGE_METRICS_XCOM_KEY
from airflow_cloudplan.runtime.outcome import Classified, Outcome
from airflow_cloudplan.runtime.schemes import UnsupportedSchemeError, require_servable
from airflow_cloudplan.runtime.stage import StageContext, StageExecution, StageProgress

if TYPE_CHECKING:
    from airflow.sdk import Context
    from opentelemetry.context import Context as OtelContext

    from airflow_cloudplan.airflow.operators.spec import StageSpec

T = TypeVar("T")
log = logging.getLogger(__name__)

PROGRESS_XCOM_KEY = "cloudplan_stage_progress"
"""XCom a deferred stage keeps its measurements in until it resumes."""

_RUNNING = "_cloudplan_execution"


def run_task_stage(
    task: Any,
    spec: StageSpec,
    context: Context,
    work: Callable[[StageContext], T],
    *,
    reads: Mapping[str, Any] | None = None,
    writes: Mapping[str, Any] | None = None,
    aws_conn_id: str | None = None,
    resumed: bool = False,
) -> T:
    """Run ``work`` as the stage ``spec`` declares for ``task``; return its result.

    ``reads``/``writes`` are rendered declarations (rendered here from the spec when not
    given); ``resumed`` marks the segment after a deferral.
    """
    from airflow.sdk.exceptions import AirflowFailException

    if reads is None:
        reads = task.render_template(spec.reads, context)
    if writes is None:
        writes = task.render_template(spec.writes, context)
    decl = spec.declaration(task_id=task.task_id, dag_id=task.dag_id, reads=reads,
                            writes=writes)
    try:
        require_servable({d.name: d.uri for d in (*decl.reads, *decl.writes)})
    except UnsupportedSchemeError as exc:  # retrying cannot help: fail now, say how to fix
        raise AirflowFailException(exc.render()) from exc
    wiring = stage_runtime(task, spec, decl, context, aws_conn_id or spec.aws_conn_id)
    ti: Any = context["ti"]

    def publish(metrics: Any) -> None:
        ti.xcom_push(key=STAGE_METRICS_XCOM_KEY, value=metrics.model_dump(mode="json"))

    def suspend(progress: StageProgress) -> None:
        ti.xcom_push(key=PROGRESS_XCOM_KEY, value=progress.model_dump(mode="json"))

    execution = StageExecution(
        declaration=decl,
        settings=wiring.settings,
        data=wiring.data,
        publish=publish,
        airflow_context=context,
        logger=task.log,
        classify=functools.partial(classify, task=task, ti=ti),
        progress=_progress(ti) if resumed else None,
        suspend=suspend,
        parent=task_span_parent(ti),
        span_attributes=airflow_span_attributes(task, ti),
    )
    setattr(task, _RUNNING, execution)
    try:
        return execution.run(work).result
    finally:
        setattr(task, _RUNNING, None)


def kill_running_stage(task: Any) -> None:
    """Close the task's running stage as killed (``on_kill``: SIGTERM, timeout)."""
    execution = getattr(task, _RUNNING, None)
    if execution is not None:
        execution.kill()


# -- outcome -----------------------------------------------------------------------------
def classify(error: BaseException, *, task: Any, ti: Any) -> Classified:
    """The outcome Airflow's task runner will give a task whose work raised ``error``."""
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTerminated,
        DagRunTriggerException,
        DownstreamTasksSkipped,
        TaskAwaitingInput,
        TaskDeferred,
    )

    if isinstance(error, DownstreamTasksSkipped):
        skipped = error.tasks if isinstance(error.tasks, list) else [error.tasks]
        return Classified(Outcome.SUCCESS, attributes={
            "cloudplan.branch.skipped": sorted(_task_ref(t) for t in skipped)})
    if isinstance(error, DagRunTriggerException):
        if error.wait_for_completion and error.deferrable:
            return Classified(Outcome.DEFERRED, f"waits for a run of {error.trigger_dag_id}")
        return Classified(Outcome.SUCCESS, attributes={
            "cloudplan.triggered_dag_id": error.trigger_dag_id})
    if isinstance(error, TaskDeferred):
        trigger = type(error.trigger).__name__
        return Classified(Outcome.DEFERRED, f"deferred to {trigger}",
                          {"cloudplan.trigger": trigger})
    if isinstance(error, TaskAwaitingInput):
        return Classified(Outcome.DEFERRED, "awaiting human input")
    if isinstance(error, AirflowSkipException):
        return Classified(Outcome.SKIPPED, str(error) or "skipped")
    if isinstance(error, AirflowRescheduleException):
        return Classified(Outcome.RESCHEDULED, f"poke again at {error.reschedule_date}")
    if isinstance(error, AirflowTaskTerminated):
        return Classified(Outcome.KILLED, "killed externally")
    if isinstance(error, AirflowFailException | AirflowSensorTimeout):
        return Classified(Outcome.FAILURE)
    return Classified(Outcome.RETRY if will_retry(task, ti, error) else Outcome.FAILURE)


def _task_ref(item: Any) -> str:
    if isinstance(item, tuple | list) and len(item) == 2:
        return str(item[0]) if item[1] is None or item[1] < 0 else f"{item[0]}[{item[1]}]"
    return str(item)


def will_retry(task: Any, ti: Any, error: BaseException) -> bool:
    """Whether Airflow retries a task that raised ``error`` (its retry policy first)."""
    server = getattr(ti, "_ti_context_from_server", None)
    policy = getattr(task, "retry_policy", None)
    if policy is not None:
        try:
            decision = policy.evaluate(exception=error, try_number=ti.try_number,
                                       max_tries=server.max_tries if server else 0,
                                       context=None)
            if decision.action.value == "fail":
                return False
        except Exception:  # Airflow falls back to the default rule too
            log.debug("retry policy evaluation failed", exc_info=True)
    if server is not None and server.should_retry is not None:
        return bool(server.should_retry)
    max_tries = int(getattr(ti, "max_tries", 0) or 0)
    return max_tries > 0 and int(getattr(ti, "try_number", 1) or 1) <= max_tries


# -- deferral ----------------------------------------------------------------------------
def _progress(ti: Any) -> StageProgress | None:
    """The progress a deferred segment left in XCom (None when it left none)."""
    kwargs: dict[str, Any] = {"task_ids": ti.task_id, "key": PROGRESS_XCOM_KEY}
    map_index = getattr(ti, "map_index", None)
    if map_index is not None and map_index >= 0:
        kwargs["map_indexes"] = map_index
    try:
        raw = ti.xcom_pull(**kwargs)
        return StageProgress.model_validate(raw) if raw else None
    except Exception:  # a missing/garbled record must not fail the resumed task
        log.warning("cloudplan: no usable stage progress for %s; measuring from here",
                    ti.task_id, exc_info=True)
        return None


# -- span context --------------------------------------------------------------------------
def airflow_span_attributes(task: Any, ti: Any) -> dict[str, Any]:
    """Airflow's own span attributes, so stage spans join its task and run views."""
    map_index = getattr(ti, "map_index", None)
    return {
        "airflow.dag_id": str(getattr(ti, "dag_id", None) or task.dag_id),
        "airflow.task_id": str(getattr(ti, "task_id", None) or task.task_id),
        "airflow.dag_run.run_id": str(getattr(ti, "run_id", "")),
        "airflow.task_instance.try_number": int(getattr(ti, "try_number", 1) or 1),
        "airflow.task_instance.map_index": map_index if map_index is not None else -1,
    }


def task_span_parent(ti: Any) -> OtelContext | None:
    """The task's span context when it is not the current span (``None``: use current)."""
    from opentelemetry import trace

    if trace.get_current_span().get_span_context().is_valid:
        return None
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None  # no tracing configured: nothing to join
    carrier = getattr(ti, "context_carrier", None) or _carrier_in_process(ti)
    if not carrier:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(carrier)


def _carrier_in_process(ti: Any) -> dict[str, str] | None:
    """The task instance's trace carrier from the metadata DB — under ``dag.test()`` only.

    ``dag.test()`` runs tasks in-process without passing the carrier on; task code in a
    real worker may not touch the metadata DB (and gets Airflow's span as the current span
    anyway), so this is tried only when the in-process runner is the one running us.
    """
    from airflow.sdk.execution_time import task_runner

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if type(comms).__name__ != "InProcessSupervisorComms" or getattr(ti, "id", None) is None:
        return None
    try:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            carrier = session.scalar(
                select(TaskInstance.context_carrier).where(TaskInstance.id == ti.id))
    except Exception:
        log.debug("cloudplan: no trace carrier for %s", ti, exc_info=True)
        return None
    return dict(carrier) if isinstance(carrier, Mapping) else None


# -- callables -----------------------------------------------------------------------------
def callable_kwargs(fn: Callable[..., Any], op_args: list[Any], op_kwargs: Mapping[str, Any],
                    context: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``fn(stage_ctx, *op_args, **kwargs)``, as PythonOperator's.

    ``op_kwargs`` merged over the Airflow context, filtered to the parameters ``fn`` names
    after its first (all of them when it takes ``**kwargs``).
    """
    params = list(inspect.signature(fn).parameters.values())[1:]
    merged = {**context, **op_kwargs}
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for param in [p for p in params if p.kind in positional][: len(op_args)]:
        if param.name in merged:
            raise ValueError(f"The key {param.name!r} in args is a part of kwargs and "
                             "therefore reserved.")
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return merged
    return {p.name: merged[p.name] for p in params
            if p.name in merged and p.kind is not inspect.Parameter.VAR_POSITIONAL}
