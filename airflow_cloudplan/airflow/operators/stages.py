"""One operator per stage kind: the kind is fixed, the rest is :class:`StageOperator`.

Three kinds add behaviour of their own, all in the core:

* :class:`ValidateOperator` runs a Great Expectations suite on one of its input datasets
  and checks model metrics against thresholds; it fails the task with one readable line
  per failed expectation or threshold.
* :class:`ServeOperator` records request latency/status (``stage_ctx.metrics.request()``)
  and, with ``enforce_slo=True``, fails when the observed p95 breaks the stage's SLO.
* :class:`MonitorOperator` fails when a figure the monitor recorded
  (``stage_ctx.metrics.record("psi_max", ...)``) exceeds its configured maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_cloudplan.airflow.operators.base import StageOperator
from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.workload import StageKind

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_cloudplan.runtime.stage import StageContext


class IngestOperator(StageOperator):
    """Bring raw data into the pipeline."""

    stage_kind = StageKind.INGEST


class TransformOperator(StageOperator):
    """Clean and reshape data."""

    stage_kind = StageKind.TRANSFORM


class FeaturesOperator(StageOperator):
    """Compute features."""

    stage_kind = StageKind.FEATURES


class TrainOperator(StageOperator):
    """Train a model."""

    stage_kind = StageKind.TRAIN


class BatchInferenceOperator(StageOperator):
    """Score a batch with a trained model."""

    stage_kind = StageKind.BATCH_INFERENCE


class ValidateOperator(StageOperator):
    """Validate a dataset with a GX suite and a model's metrics with thresholds.

    :param dataset: which declared input to validate (a CSV object, key ``key``)
    :param expectations: GX expectation dicts ``{"type": ..., "kwargs": {...}}``
    :param model_metrics: ``(dataset, key)`` of a JSON object of model metrics
    :param min_metrics: metric → lowest acceptable value
    :param max_metrics: metric → highest acceptable value
    """

    stage_kind = StageKind.VALIDATE
    requires_work: ClassVar[bool] = False
    template_fields: Sequence[str] = (*StageOperator.template_fields, "object_key")

    def __init__(
        self,
        *,
        dataset: str | None = None,
        key: str = "data.csv",
        expectations: Sequence[Mapping[str, Any]] = (),
        model_metrics: tuple[str, str] | None = None,
        min_metrics: Mapping[str, float] | None = None,
        max_metrics: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.object_key = key
        self.expectations = [dict(e) for e in expectations]
        self.model_metrics = tuple(model_metrics) if model_metrics else None
        self.min_metrics = dict(min_metrics or {})
        self.max_metrics = dict(max_metrics or {})
        problems = []
        if dataset is None and self.model_metrics is None and self.python_callable is None:
            problems.append("give dataset= with expectations=, model_metrics=, or a callable")
        if dataset is not None and dataset not in self.reads:
            problems.append(f"dataset {dataset!r} is not among reads {sorted(self.reads)}")
        if dataset is not None and not self.expectations:
            problems.append("dataset= needs expectations=[{'type': ..., 'kwargs': {...}}]")
        if self.model_metrics and self.model_metrics[0] not in self.reads:
            problems.append(f"model_metrics dataset {self.model_metrics[0]!r} is not among reads")
        if problems:
            raise SpecError(f"task {self.task_id!r}: invalid validation",
                            [Problem(message=p, path=self.task_id) for p in problems])

    def stage_work(self, context: Context) -> Callable[[StageContext], Any]:
        """Run the user's callable (if any), then the suite, then the thresholds."""
        user = super().stage_work(context) if self.python_callable else None

        def validate(ctx: StageContext) -> dict[str, Any]:
            from airflow_cloudplan.runtime.validation import (
                DataValidationError,
                check_thresholds,
                run_expectation_suite,
                summary_error,
            )

            out: dict[str, Any] = {"user": user(ctx) if user else None}
            if self.dataset is not None:
                frame = ctx.data.read_frame(self.dataset, self.object_key)
                summary = run_expectation_suite(
                    frame, self.expectations, suite_name=f"{ctx.declaration.stage}_{self.dataset}"
                )
                ctx.metrics.record("expectations_failed", len(summary.failed))
                out["suite"] = summary.model_dump(mode="json")
                if not summary.success:
                    raise summary_error(summary, where=f"{self.task_id}.{self.dataset}")
            if self.model_metrics is not None:
                measured = ctx.data.read_json(*self.model_metrics)
                problems = check_thresholds(
                    measured, minimum=self.min_metrics, maximum=self.max_metrics,
                    where=f"{self.task_id}.model_metrics",
                )
                out["model_metrics"] = measured
                if problems:
                    raise DataValidationError(
                        f"{len(problems)} model metric threshold(s) not met", problems
                    )
            return out

        return validate


class ServeOperator(StageOperator):
    """Publish a model for an online endpoint and check its serving SLO.

    The callable times requests with ``stage_ctx.metrics.request()`` (or
    ``observe_request``); with ``enforce_slo=True`` the task fails when their p95 exceeds
    ``slo.p95_ms``.
    """

    stage_kind = StageKind.SERVE

    def __init__(self, *, enforce_slo: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enforce_slo = enforce_slo

    def stage_work(self, context: Context) -> Callable[[StageContext], Any]:
        """The user's work followed by the p95 check."""
        user = super().stage_work(context)

        def serve(ctx: StageContext) -> Any:
            result = user(ctx)
            p95 = ctx.metrics.p95_request_ms()
            limit = ctx.declaration.slo.p95_ms
            if p95 is not None:
                ctx.metrics.record("request_p95_ms", p95)
            if self.enforce_slo and p95 is not None and limit is not None and p95 > limit:
                from airflow_cloudplan.runtime.validation import DataValidationError

                raise DataValidationError(
                    "serving SLO breached",
                    [Problem(message=f"observed p95 {p95:.1f} ms > SLO {limit:.1f} ms",
                             path=f"{self.task_id}.slo.p95_ms",
                             hint="scale the endpoint or revisit the SLO")],
                )
            return result

        return serve


class MonitorOperator(StageOperator):
    """Compute drift/quality figures; fail when one exceeds its maximum.

    :param max_metrics: recorded figure → highest acceptable value (e.g. ``psi_max``)
    :param min_metrics: recorded figure → lowest acceptable value (e.g. ``accuracy``)
    """

    stage_kind = StageKind.MONITOR

    def __init__(
        self,
        *,
        max_metrics: Mapping[str, float] | None = None,
        min_metrics: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_metrics = dict(max_metrics or {})
        self.min_metrics = dict(min_metrics or {})

    def stage_work(self, context: Context) -> Callable[[StageContext], Any]:
        """The user's work followed by the threshold check on what it recorded."""
        user = super().stage_work(context)

        def monitor(ctx: StageContext) -> Any:
            result = user(ctx)
            from airflow_cloudplan.runtime.validation import DataValidationError, check_thresholds

            problems = check_thresholds(ctx.metrics.extra, minimum=self.min_metrics,
                                        maximum=self.max_metrics, where=f"{self.task_id}")
            if problems:
                raise DataValidationError(f"{len(problems)} monitored figure(s) out of bounds",
                                          problems)
            return result

        return monitor
