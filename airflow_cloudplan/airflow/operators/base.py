"""``StageOperator``: run one pipeline stage instrumented, audited and measured.

It wraps the user's work — a Python callable taking a
:class:`~airflow_cloudplan.runtime.stage.StageContext`, or an operator the user already
has (``BashOperator``, a provider operator) whose ``execute`` it calls unchanged — and
declares the stage once: pipeline, stage name, kind, datasets read/written, sensitivity,
SLO. ``execute`` only gathers Airflow things (config, connection, context) and calls
:func:`~airflow_cloudplan.runtime.stage.run_stage`; everything else is the core's.

Wrapping an existing operator needs no other change to the DAG::

    run_this = StageOperator(
        pipeline="nightly", stage="export", kind="transform",
        operator=BashOperator(task_id="run_after_loop", bash_command="echo 1"),
    )

The inner operator is taken out of the DAG (it was registered when it was created) and
the stage operator takes its place: same task id, same task group, same dependencies,
same retries/pool/queue/trigger rule and the like unless given explicitly.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.workload import STAGE_METRICS_XCOM_KEY, Criticality, StageKind
from airflow_cloudplan.runtime.declaration import (
    DatasetsArg,
    DeclaredDataset,
    StageDeclaration,
    declared_datasets,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_cloudplan.model.workload import StageRunMetrics
    from airflow_cloudplan.runtime.stage import StageContext

INHERITED_FROM_WRAPPED = (
    "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "depends_on_past",
    "wait_for_downstream", "ignore_first_depends_on_past", "trigger_rule", "pool",
    "pool_slots", "queue", "priority_weight", "weight_rule", "execution_timeout",
    "do_xcom_push", "multiple_outputs", "doc_md", "doc", "executor", "executor_config",
    "max_active_tis_per_dag", "max_active_tis_per_dagrun", "on_execute_callback",
    "on_failure_callback", "on_success_callback", "on_retry_callback",
    "on_skipped_callback", "task_display_name", "inlets", "outlets",
)
"""Task attributes the stage operator takes over from a wrapped operator."""


class StageOperator(BaseOperator):
    """Run a pipeline stage: the user's callable or operator, instrumented and audited.

    :param pipeline: pipeline name (as in the pipeline spec)
    :param stage: stage name in the spec (default: the task id)
    :param kind: stage kind; fixed by the per-kind subclasses
    :param python_callable: ``f(stage_ctx, *op_args, **op_kwargs)``; reads and writes its
        data through ``stage_ctx.data``
    :param operator: an existing operator to run unchanged instead of a callable
    :param reads: datasets the stage reads, ``{"name": "uri"}`` (templated)
    :param writes: datasets the stage writes, ``{"name": "uri"}`` (templated)
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

    def __init__(
        self,
        *,
        pipeline: str,
        stage: str | None = None,
        kind: StageKind | str | None = None,
        python_callable: Callable[..., Any] | None = None,
        operator: BaseOperator | None = None,
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
        if operator is not None:
            kwargs = self._adopt(operator, kwargs)
        super().__init__(**kwargs)
        if operator is not None:
            self.upstream_task_ids.update(operator.upstream_task_ids)
            self.downstream_task_ids.update(operator.downstream_task_ids)
        self.pipeline = pipeline
        self.stage = stage or self.task_id.rsplit(".", 1)[-1]
        self.kind = self._resolve_kind(kind)
        self.python_callable = python_callable
        self.operator = operator
        self._validate_work(python_callable, operator)
        reads_decl = declared_datasets(reads, where=f"{self.task_id}.reads")
        writes_decl = declared_datasets(writes, where=f"{self.task_id}.writes")
        self.reads: dict[str, str] = {d.name: d.uri for d in reads_decl}
        self.writes: dict[str, str] = {d.name: d.uri for d in writes_decl}
        self.dataset_sensitivity = {d.name: d.sensitivity for d in (*reads_decl, *writes_decl)}
        self.sensitivity = sensitivity
        self.slo = slo
        self.criticality = Criticality(criticality)
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.aws_conn_id = aws_conn_id
        self.identity = identity
        self.cache_ttl_s = cache_ttl_s
        self.declaration()  # fail at parse time, with the stage's name, not at run time

    # -- construction --------------------------------------------------------------------
    @staticmethod
    def _adopt(operator: BaseOperator, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Take the wrapped operator out of its DAG and inherit its task settings."""
        kwargs = dict(kwargs)
        task_id = operator.task_id
        group = operator.task_group
        if group is not None and group.node_id and group.prefix_group_id:
            task_id = task_id[len(group.node_id) + 1 :]  # the group re-prefixes it
        kwargs.setdefault("task_id", task_id)
        for name in INHERITED_FROM_WRAPPED:
            if name not in kwargs and hasattr(operator, name):
                value = getattr(operator, name)
                if value is not None and value not in ([], {}):
                    kwargs[name] = value
        dag = getattr(operator, "dag", None)
        if dag is not None and operator.task_id in dag.task_dict:
            dag._remove_task(operator.task_id)
        return kwargs

    def _resolve_kind(self, kind: StageKind | str | None) -> StageKind:
        fixed = type(self).stage_kind
        try:
            if fixed is not None:
                if kind is not None and StageKind(kind) is not fixed:
                    raise ValueError(f"{type(self).__name__} is always kind {fixed.value!r}")
                return fixed
            if kind is None:
                raise ValueError("StageOperator needs kind=")
            return StageKind(kind)
        except ValueError as exc:
            raise SpecError(
                f"task {self.task_id!r}: invalid stage kind",
                [Problem(message=str(exc), path=f"{self.task_id}.kind",
                         hint=f"use one of {[k.value for k in StageKind]} or the matching "
                         "per-kind operator (IngestOperator, TrainOperator, ...)")],
            ) from exc

    def _validate_work(
        self, python_callable: Callable[..., Any] | None, operator: BaseOperator | None
    ) -> None:
        problem: str | None = None
        if python_callable is not None and operator is not None:
            problem = "give python_callable or operator, not both"
        elif python_callable is None and operator is None and type(self).requires_work:
            problem = "give the stage's work: python_callable=... or operator=..."
        elif python_callable is not None and not callable(python_callable):
            problem = f"python_callable is not callable (got {type(python_callable).__name__})"
        elif operator is not None and not isinstance(operator, BaseOperator):
            problem = f"operator must be an Airflow operator (got {type(operator).__name__})"
        if problem:
            raise SpecError(f"task {self.task_id!r}: no valid stage work",
                            [Problem(message=problem, path=f"{self.task_id}")])

    def declaration(self) -> StageDeclaration:
        """The stage's declaration from the (possibly rendered) operator fields."""
        try:
            return StageDeclaration(
                pipeline=self.pipeline,
                stage=self.stage,
                kind=self.kind,
                reads=self._declared(self.reads),
                writes=self._declared(self.writes),
                sensitivity=self.sensitivity,
                slo=self.slo if self.slo is not None else {},
                criticality=self.criticality,
            )
        except ValueError as exc:
            raise SpecError(
                f"task {self.task_id!r}: invalid stage declaration",
                [Problem(message=str(exc).replace("\n", " "), path=self.task_id,
                         hint="names are lower-case snake_case; slo takes p95_ms, "
                         "deadline_minutes, availability")],
            ) from exc

    def _declared(self, datasets: Mapping[str, str]) -> tuple[DeclaredDataset, ...]:
        return tuple(
            DeclaredDataset(name=n, uri=str(u),
                            sensitivity=self.dataset_sensitivity.get(n, "internal"))
            for n, u in datasets.items()
        )

    # -- execution -----------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Validate, run the stage through the core, push its metrics, return its result."""
        from airflow_cloudplan.airflow.operators.runtime_wiring import stage_runtime
        from airflow_cloudplan.runtime.stage import run_stage

        decl = self.declaration()
        wiring = stage_runtime(self, decl, context)
        ti = context["ti"]

        def publish(metrics: StageRunMetrics) -> None:
            ti.xcom_push(key=STAGE_METRICS_XCOM_KEY, value=metrics.model_dump(mode="json"))

        run = run_stage(
            self.stage_work(context),
            declaration=decl,
            settings=wiring.settings,
            data=wiring.data,
            publish=publish,
            airflow_context=context,
            logger=self.log,  # type: ignore[arg-type]
        )
        return run.result

    def stage_work(self, context: Context) -> Callable[[StageContext], Any]:
        """The work to run: the callable, or the wrapped operator's ``execute``."""
        if self.operator is not None:
            return lambda _ctx: self._execute_wrapped(context)
        fn = self.python_callable
        if fn is None:  # subclasses with built-in work override this method
            raise SpecError(f"task {self.task_id!r} has no work to run")
        return lambda ctx: fn(ctx, *self.op_args, **self.op_kwargs)

    def _execute_wrapped(self, context: Context) -> Any:
        from airflow.sdk.bases.operator import ExecutorSafeguard

        inner = self.operator
        assert inner is not None  # stage_work checked it
        inner.render_template_fields(context)
        sentinel = {f"{type(inner).__name__}__sentinel": ExecutorSafeguard.sentinel_value}
        return inner.execute(context, **sentinel)

    def on_kill(self) -> None:
        """Pass a kill on to the wrapped operator (e.g. a Bash subprocess)."""
        if self.operator is not None:
            self.operator.on_kill()

    @property
    def identity_for_audit(self) -> str:
        """The identity to audit when no connection is involved."""
        return self.identity or f"local:{getpass.getuser()}"
