"""OpenTelemetry for stage runs: one span per worker segment, stage metrics, serving SLOs.

Uses the *global* tracer and meter providers only (Airflow 3 installs its tracer provider
when ``[traces] otel_on`` is set and starts a ``worker.<task_id>`` span around the task).
A stage span is a child of the task's span: the current span inside ``execute`` on a
worker, or — where Airflow opens no span in the process (``dag.test()``), and for the
resumed segment of a deferred run — the task instance's own span from its trace carrier.
Without a configured provider the API's no-op objects make all of this nearly free.

Instrument names (OTel, dotted) and the Prometheus names they become through the standard
OTLP → Prometheus translation (unit suffix, ``_total`` for counters):

==============================  ==========  =============================================
OTel instrument                 unit        Prometheus series
==============================  ==========  =============================================
cloudplan.stage.runs            {run}       cloudplan_stage_runs_total{pipeline,stage,outcome}
cloudplan.stage.suspensions     {run}       cloudplan_stage_suspensions_total{pipeline,stage,reason}
cloudplan.stage.duration        s           cloudplan_stage_duration_seconds{pipeline,stage}
cloudplan.stage.bytes_read      By          cloudplan_stage_bytes_read_total
cloudplan.stage.bytes_written   By          cloudplan_stage_bytes_written_total
cloudplan.stage.rows_read       {row}       cloudplan_stage_rows_read_total
cloudplan.stage.rows_written    {row}       cloudplan_stage_rows_written_total
cloudplan.request.duration      s           cloudplan_request_duration_seconds{pipeline,stage}
cloudplan.requests              {request}   cloudplan_requests_total{pipeline,stage,code}
==============================  ==========  =============================================

Which outcome counts where is :data:`airflow_cloudplan.runtime.outcome.OUTCOME_TABLE`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, Status, StatusCode, TraceFlags

from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.workload import StageRunMetrics
from airflow_cloudplan.runtime.active_plan import StageRuntimeSettings
from airflow_cloudplan.runtime.declaration import StageDeclaration
from airflow_cloudplan.runtime.outcome import Classified, Outcome

INSTRUMENTATION_SCOPE = "airflow_cloudplan.stage"


@dataclass(frozen=True)
class StageInstruments:
    """The instruments every stage run records into."""

    runs: Any
    suspensions: Any
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
                              description="Finished stage attempts by outcome"),
        suspensions=m.create_counter("cloudplan.stage.suspensions", unit="{run}",
                                     description="Stage runs deferred or rescheduled"),
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


def _sampled_in(ratio: float, parent: Context | None) -> bool:
    """Per-stage ratio sampling on top of the parent's decision, keyed on the trace id.

    Uses the same rule as OTel's ``TraceIdRatioBased`` (low 64 bits of the trace id below
    ``ratio · 2^64``), so every span of a trace gets the same decision.
    """
    if ratio >= 1.0:
        return True
    ctx = trace.get_current_span(parent).get_span_context()
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


def start_stage_span(
    decl: StageDeclaration,
    settings: StageRuntimeSettings,
    request_id: str,
    *,
    parent: Context | None = None,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[tuple[int, int]] = (),
) -> Span | None:
    """Start the stage's span (not yet current, not ended); ``None`` when not traced.

    ``parent`` is the task's span context when it is not the current one; ``links`` are
    (trace id, span id) of earlier segments of the same run (a deferred run).
    """
    if Signal.TRACES not in settings.signals or not _sampled_in(settings.trace_sampling,
                                                                  parent):
        return None
    attrs = span_attributes(decl, settings)
    attrs["cloudplan.request_id"] = request_id
    attrs.update(attributes or {})
    span_links = [
        Link(SpanContext(trace_id=t, span_id=s, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED)))
        for t, s in links
    ]
    return trace.get_tracer(INSTRUMENTATION_SCOPE).start_span(
        f"cloudplan.stage.{decl.stage}", context=parent, attributes=attrs, links=span_links)


def span_ids(span: Span | None) -> tuple[int, int] | None:
    """(trace id, span id) of a recorded span, to link later segments to it."""
    if span is None:
        return None
    ctx = span.get_span_context()
    return (ctx.trace_id, ctx.span_id) if ctx.is_valid else None


def current_trace_id() -> str | None:
    """Hex trace id of the current span (ours or Airflow's), ``None`` when untraced."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def end_stage_span(span: Span | None, run: StageRunMetrics, classified: Classified,
                   error: BaseException | None = None,
                   extra: Mapping[str, Any] | None = None) -> None:
    """Put the outcome and measured figures on the span, set its status, end it."""
    if span is None:
        return
    if span.is_recording():
        outcome = classified.outcome
        span.set_attributes({
            "cloudplan.outcome": outcome.value,
            "cloudplan.io.bytes_read": run.bytes_read,
            "cloudplan.io.bytes_written": run.bytes_written,
            "cloudplan.io.rows_read": run.rows_read,
            "cloudplan.io.rows_written": run.rows_written,
            "cloudplan.cpu_seconds": run.cpu_seconds,
            "cloudplan.peak_memory_mb": run.peak_memory_mb,
            **{f"cloudplan.extra.{k}": v for k, v in (extra or {}).items()},
            **classified.attributes,
        })
        if outcome.is_error:
            if error is not None:
                span.record_exception(error)
            reason = classified.reason or (type(error).__name__ if error else None)
            span.set_status(Status(StatusCode.ERROR, reason))
        elif outcome is Outcome.SUCCESS:
            span.set_status(Status(StatusCode.OK))
        elif classified.reason:
            span.add_event(outcome.value, {"reason": classified.reason})
    span.end()


def record_stage_metrics(
    decl: StageDeclaration, settings: StageRuntimeSettings, run: StageRunMetrics,
    outcome: Outcome, *, io: bool = True,
) -> None:
    """Count a finished attempt (or a suspension) and its I/O, when metrics are enabled.

    ``io=False`` leaves the byte/row counters to a later segment that carries them (the
    finishing segment of a deferred run counts the whole run's I/O once).
    """
    if Signal.METRICS not in settings.signals:
        return
    inst = instruments()
    base = {"pipeline": decl.pipeline, "stage": decl.stage}
    if outcome.finished:
        inst.runs.add(1, {**base, "outcome": outcome.value})
    else:
        inst.suspensions.add(1, {**base, "reason": outcome.value})
    if outcome.did_work:
        inst.duration.record(run.duration_s, base)
    if not io:
        return
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
