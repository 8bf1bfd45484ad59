"""OpenTelemetry for stage runs: one span per run, stage metrics, serving SLO metrics.

Uses the *global* tracer and meter providers only (Airflow 3 installs its tracer provider
when ``[traces] otel_on`` is set and starts a ``worker.<task_id>`` span around the task;
the stage span started inside ``execute`` is its child, so both join one trace). Without
a configured provider the API's no-op objects make all of this nearly free.

Instrument names (OTel, dotted) and the Prometheus names they become through the standard
OTLP → Prometheus translation (unit suffix, ``_total`` for counters):

=============================  ====  =============================================
OTel instrument                unit  Prometheus series
=============================  ====  =============================================
cloudplan.stage.runs           {run} cloudplan_stage_runs_total{pipeline,stage,outcome}
cloudplan.stage.duration       s     cloudplan_stage_duration_seconds{pipeline,stage}
cloudplan.stage.bytes_read     By    cloudplan_stage_bytes_read_total
cloudplan.stage.bytes_written  By    cloudplan_stage_bytes_written_total
cloudplan.stage.rows_read      {row} cloudplan_stage_rows_read_total
cloudplan.stage.rows_written   {row} cloudplan_stage_rows_written_total
cloudplan.request.duration     s     cloudplan_request_duration_seconds{pipeline,stage}
cloudplan.requests             {request} cloudplan_requests_total{pipeline,stage,code}
=============================  ====  =============================================
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode

from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.workload import StageRunMetrics
from airflow_cloudplan.runtime.active_plan import StageRuntimeSettings
from airflow_cloudplan.runtime.declaration import StageDeclaration

INSTRUMENTATION_SCOPE = "airflow_cloudplan.stage"


@dataclass(frozen=True)
class StageInstruments:
    """The instruments every stage run records into."""

    runs: Any
    duration: Any
    bytes_read: Any
    bytes_written: Any
    rows_read: Any
    rows_written: Any
    request_duration: Any
    requests: Any


_instruments: dict[int, StageInstruments] = {}


def instruments() -> StageInstruments:
    """Instruments of the current global meter provider (created once per provider)."""
    provider = metrics.get_meter_provider()
    hit = _instruments.get(id(provider))
    if hit is not None:
        return hit
    m = provider.get_meter(INSTRUMENTATION_SCOPE)
    made = StageInstruments(
        runs=m.create_counter("cloudplan.stage.runs", unit="{run}",
                              description="Stage runs by outcome"),
        duration=m.create_histogram("cloudplan.stage.duration", unit="s",
                                    description="Wall-clock duration of a stage run"),
        bytes_read=m.create_counter("cloudplan.stage.bytes_read", unit="By",
                                    description="Bytes a stage read from its datasets"),
        bytes_written=m.create_counter("cloudplan.stage.bytes_written", unit="By",
                                       description="Bytes a stage wrote to its datasets"),
        rows_read=m.create_counter("cloudplan.stage.rows_read", unit="{row}",
                                   description="Rows a stage read"),
        rows_written=m.create_counter("cloudplan.stage.rows_written", unit="{row}",
                                      description="Rows a stage wrote"),
        request_duration=m.create_histogram("cloudplan.request.duration", unit="s",
                                            description="Latency of a served request"),
        requests=m.create_counter("cloudplan.requests", unit="{request}",
                                  description="Served requests by status code"),
    )
    _instruments[id(provider)] = made
    return made


def _sampled_in(ratio: float) -> bool:
    """Per-stage ratio sampling on top of the parent's decision, keyed on the trace id.

    Uses the same rule as OTel's ``TraceIdRatioBased`` (low 64 bits of the trace id below
    ``ratio · 2^64``), so every span of a trace gets the same decision.
    """
    if ratio >= 1.0:
        return True
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return ratio > 0
    return (ctx.trace_id & 0xFFFFFFFFFFFFFFFF) < int(ratio * (1 << 64))


def span_attributes(decl: StageDeclaration, settings: StageRuntimeSettings) -> dict[str, Any]:
    """The attributes every stage span carries."""
    attrs: dict[str, Any] = {
        "cloudplan.pipeline": decl.pipeline,
        "cloudplan.stage": decl.stage,
        "cloudplan.stage.kind": decl.kind.value,
        "cloudplan.sensitivity": decl.effective_sensitivity,
        "cloudplan.plan.version": settings.plan_version or "none",
        "cloudplan.data.access": settings.access.value,
    }
    attrs.update({f"cloudplan.placement.{k}": v for k, v in settings.placement.items()})
    attrs.update(settings.span_attributes)
    return attrs


@contextmanager
def stage_span(
    decl: StageDeclaration, settings: StageRuntimeSettings, request_id: str
) -> Iterator[Span | None]:
    """A span for the stage run when traces are enabled and sampled; ``None`` otherwise.

    Exceptions are recorded on the span and re-raised.
    """
    if Signal.TRACES not in settings.signals or not _sampled_in(settings.trace_sampling):
        yield None
        return
    tracer = trace.get_tracer(INSTRUMENTATION_SCOPE)
    attrs = span_attributes(decl, settings)
    attrs["cloudplan.request_id"] = request_id
    with tracer.start_as_current_span(
        f"cloudplan.stage.{decl.stage}", attributes=attrs, record_exception=True,
        set_status_on_exception=True,
    ) as span:
        yield span


def current_trace_id() -> str | None:
    """Hex trace id of the current span (ours or Airflow's), ``None`` when untraced."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def finish_span(span: Span | None, run: StageRunMetrics, outcome: str) -> None:
    """Put the measured figures on the span (cheap: one call with a dict)."""
    if span is None or not span.is_recording():
        return
    span.set_attributes({
        "cloudplan.outcome": outcome,
        "cloudplan.io.bytes_read": run.bytes_read,
        "cloudplan.io.bytes_written": run.bytes_written,
        "cloudplan.io.rows_read": run.rows_read,
        "cloudplan.io.rows_written": run.rows_written,
        "cloudplan.cpu_seconds": run.cpu_seconds,
        "cloudplan.peak_memory_mb": run.peak_memory_mb,
    })
    if outcome == "success":
        span.set_status(Status(StatusCode.OK))


def record_stage_metrics(
    decl: StageDeclaration, settings: StageRuntimeSettings, run: StageRunMetrics, outcome: str
) -> None:
    """Record the run's counters and duration (only when metrics are enabled)."""
    if Signal.METRICS not in settings.signals:
        return
    inst = instruments()
    base = {"pipeline": decl.pipeline, "stage": decl.stage}
    inst.runs.add(1, {**base, "outcome": outcome})
    inst.duration.record(run.duration_s, base)
    for counter, value in (
        (inst.bytes_read, run.bytes_read),
        (inst.bytes_written, run.bytes_written),
        (inst.rows_read, run.rows_read),
        (inst.rows_written, run.rows_written),
    ):
        if value:
            counter.add(value, base)


def record_request(
    decl: StageDeclaration, settings: StageRuntimeSettings, duration_s: float, code: str
) -> None:
    """Record one served request (serving SLO metrics)."""
    if Signal.METRICS not in settings.signals:
        return
    inst = instruments()
    base = {"pipeline": decl.pipeline, "stage": decl.stage}
    inst.request_duration.record(duration_s, base)
    inst.requests.add(1, {**base, "code": code})
