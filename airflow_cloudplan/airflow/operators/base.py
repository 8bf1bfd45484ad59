"""``StageOperator``: run a Python callable as a pipeline stage, instrumented and audited.

The callable receives the :class:`~airflow_cloudplan.runtime.stage.StageContext` first,
then ``op_args``, then keyword arguments the way ``PythonOperator`` passes them:
``op_kwargs`` merged over Airflow's context (``ti``, ``ds``, ``params``, …), filtered to
the parameters it names (all of them when it takes ``**kwargs``)::

    def clean(stage, day, ti):            # stage: StageContext; ti from Airflow's context
        frame = stage.data.read_frame("raw_events", f"{day}.csv")
        stage.data.write_frame("clean_events", "data.csv", frame.drop_duplicates())

    TransformOperator(task_id="clean", python_callable=clean, op_kwargs={"day": "{{ ds }}"},
                      reads={"raw_events": "s3://lake/raw/"},
                      writes={"clean_events": "s3://lake/clean/"})

An operator the DAG already has becomes a stage with
:func:`~airflow_cloudplan.airflow.operators.wrap.as_stage` (in place; nothing about the
task changes). ``StageOperator(operator=existing, ...)`` is the older spelling of the same
thing and returns ``existing``, turned into a stage.

``execute`` only gathers Airflow things and calls the core through
:func:`~airflow_cloudplan.airflow.operators.execution.run_task_stage`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_cloudplan.airflow.operators.spec import STAGE_ARGUMENTS, StageSpec, dag_id_of
from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.workload import Criticality, StageKind
from airflow_cloudplan.runtime.declaration import DatasetsArg, StageDeclaration

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_cloudplan.runtime.stage import StageContext

SETTABLE_ON_WRAPPED = (
    "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "depends_on_past",
    "wait_for_downstream", "ignore_first_depends_on_past", "trigger_rule", "pool",
    "pool_slots", "queue", "priority_weight", "weight_rule", "execution_timeout",
    "do_xcom_push", "multiple_outputs", "doc_md", "doc", "executor", "executor_config",
    "max_active_tis_per_dag", "max_active_tis_per_dagrun", "on_execute_callback",
    "on_failure_callback", "on_success_callback", "on_retry_callback",
    "on_skipped_callback", "inlets", "outlets",
)
"""Task settings ``StageOperator(operator=..., <setting>=...)`` still sets on the task."""


def _wrap_existing(cls: type[StageOperator], operator: Any, kwargs: dict[str, Any]) -> Any:
    """``StageOperator(operator=existing, ...)``: turn ``existing`` into a stage in place."""
    from airflow.sdk import TriggerRule

    from airflow_cloudplan.airflow.operators.wrap import as_stage

    stage_args = {k: kwargs.pop(k) for k in STAGE_ARGUMENTS if k in kwargs}
    if cls.stage_kind is not None:
        given = stage_args.get("kind")
        if given is not None and StageKind(given) is not cls.stage_kind:
            raise SpecError(f"task {getattr(operator, 'task_id', '?')!r}: invalid stage kind",
                            [Problem(f"{cls.__name__} is always kind {cls.stage_kind.value!r}",
                                     hint="drop kind= or use the matching operator")])
        stage_args["kind"] = cls.stage_kind
    task_id = kwargs.pop("task_id", None)
    own_id = str(getattr(operator, "task_id", task_id))
    if task_id is not None and task_id not in (own_id, own_id.rsplit(".", 1)[-1]):
        raise SpecError(f"task {task_id!r}: a wrapped operator keeps its own task id",
                        [Problem(f"the operator's task id is {operator.task_id!r}",
                                 hint="rename the operator you wrap, not the stage")])
    unknown = sorted(k for k in kwargs if k not in SETTABLE_ON_WRAPPED)
    if unknown:
        raise SpecError(f"{cls.__name__}(operator=...) cannot take {unknown}", [Problem(
            message=f"{unknown} configure {cls.__name__}'s own work, which a wrapped "
            "operator does not run", hint="run that work in a separate task, or give a "
            "python_callable instead of operator=")])
    if "kind" not in stage_args:
        raise SpecError("StageOperator(operator=...) needs kind=", [Problem(
            message="the stage kind is missing", hint="pass kind='transform' (or another)")])
    as_stage(operator, **stage_args)
    for name, value in kwargs.items():
        setattr(operator, name, TriggerRule(value) if name == "trigger_rule" else value)
    return operator


class StageOperator(BaseOperator):
    """Run a pipeline stage: the user's callable, instrumented, audited and measured.

    :param pipeline: pipeline name (as in the pipeline spec; default: the DAG id)
    :param stage: stage name in the spec (default: the full task id, group prefix included)
    :param kind: stage kind; fixed by the per-kind subclasses
    :param python_callable: ``f(stage_ctx, *op_args, **kwargs)``; reads and writes its data
        through ``stage_ctx.data``; keyword arguments as ``PythonOperator`` passes them
    :param operator: an existing operator to turn into a stage instead (returns it; see
        :func:`~airflow_cloudplan.airflow.operators.wrap.as_stage`)
    :param reads: datasets the stage reads, ``{"name": "uri"}`` or a list (templated)
    :param writes: datasets the stage writes, ``{"name": "uri"}`` or a list (templated)
    :param sensitivity: overrides the most sensitive class of its datasets
    :param slo: ``StageSLO`` or its dict (``p95_ms``, ``deadline_minutes``, ``availability``)
    :param aws_conn_id: connection with the stage's scoped credentials for ``s3://`` data
    :param identity: identity written to audit records (default: from the connection or
        the OS user)
    """

    template_fields: Sequence[str] = ("reads", "writes", "op_args", "op_kwargs", "aws_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "reads": "json", "writes": "json", "op_kwargs": "py",
    }
    ui_color = "#dbeafe"
    stage_kind: ClassVar[StageKind | None] = None
    requires_work: ClassVar[bool] = True

    def __new__(cls, *args: Any, operator: Any = None, **kwargs: Any) -> StageOperator:
        """A new stage operator — or, with ``operator=``, that operator made a stage."""
        if operator is not None:
            # Not an instance of cls, so Python does not call __init__ on it.
            wrapped: StageOperator = _wrap_existing(cls, operator, kwargs)
            return wrapped
        return super().__new__(cls)

    def __init__(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        kind: StageKind | str | None = None,
        python_callable: Callable[..., Any] | None = None,
        reads: DatasetsArg = None,
        writes: DatasetsArg = None,
        sensitivity: str | None = None,
        slo: Mapping[str, Any] | Any | None = None,
        criticality: Criticality | str = Criticality.STANDARD,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        aws_conn_id: str = "aws_default",
        identity: str | None = None,
        cache_ttl_s: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.cloudplan_stage = StageSpec.build(
            task_id=self.task_id, dag_id=dag_id_of(self), kind=kind,
            fixed_kind=type(self).stage_kind, owner=type(self).__name__, pipeline=pipeline,
            stage=stage, reads=reads, writes=writes, sensitivity=sensitivity, slo=slo,
            criticality=criticality, aws_conn_id=aws_conn_id, identity=identity,
            cache_ttl_s=cache_ttl_s,
        )
        self._validate_work(python_callable)
        spec = self.cloudplan_stage
        self.pipeline = pipeline
        self.stage = spec.stage or self.task_id
        self.kind = spec.kind
        self.reads: dict[str, str] = dict(spec.reads)
        self.writes: dict[str, str] = dict(spec.writes)
        self.sensitivity = sensitivity
        self.slo = slo
        self.criticality = spec.criticality
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.aws_conn_id = aws_conn_id
        self.identity = identity
        self.cache_ttl_s = cache_ttl_s

    # -- construction --------------------------------------------------------------------
    def _validate_work(self, python_callable: Callable[..., Any] | None) -> None:
        problem: Problem | None = None
        where = self.task_id
        if python_callable is None and type(self).requires_work:
            problem = Problem(
                "give the stage's work: python_callable=... or operator=...", path=where,
                hint="wrap an operator the DAG has with as_stage(task, kind=...)")
        elif python_callable is not None and not callable(python_callable):
            problem = Problem(
                f"python_callable is not callable (got {type(python_callable).__name__})",
                path=where, hint="pass a function")
        elif python_callable is not None and not _takes_stage_context(python_callable):
            name = getattr(python_callable, "__name__", "python_callable")
            problem = Problem(f"{name} takes no argument for the StageContext", path=where,
                              hint=f"define it as def {name}(stage, ...): the first "
                              "argument receives the StageContext")
        if problem:
            raise SpecError(f"task {self.task_id!r}: no valid stage work", [problem])

    def declaration(self) -> StageDeclaration:
        """The stage's declaration from the (possibly rendered) operator fields."""
        return self.cloudplan_stage.declaration(
            task_id=self.task_id, dag_id=dag_id_of(self),
            reads=self.reads, writes=self.writes)

    # -- execution -----------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Run the stage through the core, push its metrics, return its result."""
        from airflow_cloudplan.airflow.operators.execution import run_task_stage

        return run_task_stage(self, self.cloudplan_stage, context, self.stage_work(context),
                              reads=self.reads, writes=self.writes,
                              aws_conn_id=self.aws_conn_id)

    def stage_work(self, context: Context) -> Callable[[StageContext], Any]:
        """The work to run: the callable with the stage context and Airflow's kwargs."""
        from airflow_cloudplan.airflow.operators.execution import callable_kwargs

        fn = self.python_callable
        if fn is None:  # subclasses with built-in work override this method
            raise SpecError(f"task {self.task_id!r} has no work to run")
        kwargs = callable_kwargs(fn, self.op_args, self.op_kwargs, context)
        return lambda ctx: fn(ctx, *self.op_args, **kwargs)

    def on_kill(self) -> None:
        """Close a running stage as killed."""
        from airflow_cloudplan.airflow.operators.execution import kill_running_stage

        kill_running_stage(self)


def _takes_stage_context(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    return any(p.kind in positional for p in params)
