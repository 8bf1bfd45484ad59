"""Running one stage: the core every stage operator calls.

:func:`run_stage` wraps the user's work (any callable taking a :class:`StageContext`) in
the stage's span, measures it, records its metrics and hands the resulting
:class:`~airflow_cloudplan.model.workload.StageRunMetrics` to ``publish`` — also when the
work fails, so failures count in the profiler's failure rate — then returns the work's
result or re-raises its exception unchanged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.workload import StageRunMetrics
from airflow_cloudplan.runtime import telemetry
from airflow_cloudplan.runtime.access import DataAccess
from airflow_cloudplan.runtime.active_plan import StageRuntimeSettings
from airflow_cloudplan.runtime.audit import AuditRecord
from airflow_cloudplan.runtime.declaration import StageDeclaration
from airflow_cloudplan.runtime.measure import ResourceSample, resource_use

T = TypeVar("T")
log = logging.getLogger("airflow_cloudplan.stage")


@dataclass
class MetricsRecorder:
    """What stage code may add to the automatic measurements.

    Serving stages time requests with :meth:`request` (or record them with
    :meth:`observe_request`); they become ``cloudplan_request_duration_seconds`` and
    ``cloudplan_requests_total{code}``. Any stage can report accelerator utilisation and
    free-form figures (``extra``, logged and put on the span).
    """

    declaration: StageDeclaration
    settings: StageRuntimeSettings
    accelerator_utilisation: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    request_latencies_s: list[float] = field(default_factory=list)
    request_codes: dict[str, int] = field(default_factory=dict)

    def observe_request(self, duration_s: float, code: str | int = "200") -> None:
        """Record one served request and its status code."""
        code = str(code)
        self.request_latencies_s.append(duration_s)
        self.request_codes[code] = self.request_codes.get(code, 0) + 1
        telemetry.record_request(self.declaration, self.settings, duration_s, code)

    @contextmanager
    def request(self) -> Iterator[dict[str, str]]:
        """Time a request; set ``status["code"]`` inside, an exception counts as 500."""
        import time

        status = {"code": "200"}
        start = time.perf_counter()
        try:
            yield status
        except Exception:
            status["code"] = "500"
            raise
        finally:
            self.observe_request(time.perf_counter() - start, status["code"])

    def p95_request_ms(self) -> float | None:
        """p95 of observed request latencies in ms (nearest-rank), ``None`` if none."""
        if not self.request_latencies_s:
            return None
        xs = sorted(self.request_latencies_s)
        rank = max(0, -(-95 * len(xs) // 100) - 1)
        return xs[rank] * 1000.0

    def record(self, name: str, value: float) -> None:
        """Record a free-form figure (e.g. ``accuracy``, ``psi_max``)."""
        self.extra[name] = float(value)


@dataclass
class StageContext:
    """What stage code receives: its data, the Airflow context, a metrics recorder."""

    declaration: StageDeclaration
    data: DataAccess
    metrics: MetricsRecorder
    settings: StageRuntimeSettings
    request_id: str
    airflow_context: Mapping[str, Any] = field(default_factory=dict)
    log: logging.Logger = log

    @property
    def trace_id(self) -> str | None:
        """The current trace id (hex), for correlating logs with traces."""
        return telemetry.current_trace_id()


@dataclass(frozen=True)
class StageRun(Generic[T]):
    """A finished (successful) stage run."""

    result: T
    metrics: StageRunMetrics


def _metrics_of(ctx: StageContext, duration: float, cpu: float, mem: float,
                errors: int) -> StageRunMetrics:
    m = ctx.data.meter
    decl = ctx.declaration
    return StageRunMetrics(
        pipeline=decl.pipeline,
        stage=decl.stage,
        kind=decl.kind,
        duration_s=duration,
        bytes_read=m.bytes_read,
        bytes_written=m.bytes_written,
        rows_read=m.rows_read,
        rows_written=m.rows_written,
        read_ops=m.read_ops + m.list_ops,
        write_ops=m.write_ops,
        read_pattern=m.read_pattern(),
        cpu_seconds=cpu,
        peak_memory_mb=mem,
        accelerator_utilisation=ctx.metrics.accelerator_utilisation,
        errors=errors,
        plan_version=ctx.settings.plan_version,
    )


def structured_fields(ctx: StageContext, run: StageRunMetrics, outcome: str) -> dict[str, Any]:
    """The fields of the stage's summary log line (ids first, so logs join traces)."""
    return {
        "trace_id": ctx.trace_id,
        "request_id": ctx.request_id,
        "pipeline": run.pipeline,
        "stage": run.stage,
        "outcome": outcome,
        "duration_s": round(run.duration_s, 6),
        "cpu_s": round(run.cpu_seconds, 6),
        "peak_memory_mb": round(run.peak_memory_mb, 1),
        "bytes_read": run.bytes_read,
        "bytes_written": run.bytes_written,
        "rows_read": run.rows_read,
        "rows_written": run.rows_written,
        "plan_version": run.plan_version,
        **ctx.metrics.extra,
    }


def run_stage(
    work: Callable[[StageContext], T],
    *,
    declaration: StageDeclaration,
    settings: StageRuntimeSettings,
    data: DataAccess,
    publish: Callable[[StageRunMetrics], None],
    airflow_context: Mapping[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> StageRun[T]:
    """Run ``work`` as one instrumented, audited, measured stage run."""
    request_id = uuid.uuid4().hex
    logger = logger or log
    ctx = StageContext(
        declaration=declaration,
        data=data,
        metrics=MetricsRecorder(declaration, settings),
        settings=settings,
        request_id=request_id,
        airflow_context=airflow_context or {},
        log=logger,
    )
    full = settings.detail == "full"
    with telemetry.stage_span(declaration, settings, request_id) as span:
        if full and span is not None:
            data_span = span

            def on_access(rec: AuditRecord) -> None:
                data_span.add_event(f"data.{rec.action.value}", {
                    "dataset": rec.dataset, "via": rec.via, "outcome": rec.outcome.value,
                    "bytes": rec.bytes,
                })

            data.observe(on_access)
        start = ResourceSample.take()
        outcome, errors = "failure", 1
        try:
            result = work(ctx)
            outcome, errors = "success", 0
        finally:
            use = resource_use(start, ResourceSample.take())
            run = _metrics_of(ctx, use.duration_s, use.cpu_s, use.peak_memory_mb, errors)
            telemetry.finish_span(span, run, outcome)
            if span is not None and ctx.metrics.extra and span.is_recording():
                span.set_attributes({f"cloudplan.extra.{k}": v
                                     for k, v in ctx.metrics.extra.items()})
            telemetry.record_stage_metrics(declaration, settings, run, outcome)
            publish(run)
            if Signal.LOGS in settings.signals:
                fields = structured_fields(ctx, run, outcome)
                logger.info(
                    "cloudplan stage run %s",
                    " ".join(f"{k}={v}" for k, v in fields.items()),
                    extra={"cloudplan": fields},
                )
    return StageRun(result=result, metrics=run)
