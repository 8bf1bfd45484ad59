"""Running one stage: the core every stage operator calls.

:func:`run_stage` (and the :class:`StageExecution` behind it) wraps the user's work — any
callable taking a :class:`StageContext` — in the stage's span, measures it, records its
metrics and hands the resulting
:class:`~airflow_cloudplan.model.workload.StageRunMetrics` to ``publish``, then returns
the work's result or re-raises its exception unchanged.

How the run ended is an :class:`~airflow_cloudplan.runtime.outcome.Outcome`, decided by
``classify`` (the Airflow layer maps skips, branches, deferrals, reschedules, retries and
kills; without it every exception is a failure). A *finished* attempt is counted and
published once — failures too, so they count in the profiler's failure rate. A deferred
segment is not: its measurements travel to the resumed segment as a
:class:`StageProgress` (``suspend`` stores it, ``progress`` brings it back), and the
finishing segment reports the whole run. :meth:`StageExecution.kill` closes the run at
once when the task is killed from outside.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import Field

from airflow_cloudplan.model.catalog import Frozen, Signal
from airflow_cloudplan.model.workload import StageRunMetrics
from airflow_cloudplan.runtime import telemetry
from airflow_cloudplan.runtime.access import DataAccess
from airflow_cloudplan.runtime.active_plan import StageRuntimeSettings
from airflow_cloudplan.runtime.audit import AuditRecord
from airflow_cloudplan.runtime.declaration import StageDeclaration
from airflow_cloudplan.runtime.measure import ResourceSample, resource_use
from airflow_cloudplan.runtime.outcome import Classified, Outcome

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

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
    """A stage run that returned (successfully, or after being killed)."""

    result: T
    metrics: StageRunMetrics
    outcome: Outcome = Outcome.SUCCESS


class StageProgress(Frozen):
    """What a deferred stage run carries to its resumed segment (JSON in XCom)."""

    request_id: str
    started_at: float = Field(description="wall-clock start of the first segment (epoch s)")
    suspended_at: float | None = Field(default=None, description="when it last suspended")
    segments: int = Field(default=1, ge=1)
    suspended_s: float = Field(default=0.0, ge=0)
    cpu_seconds: float = Field(default=0.0, ge=0)
    peak_memory_mb: float = Field(default=0.0, ge=0)
    io: dict[str, float] = Field(default_factory=dict, description="IOMeter counts so far")
    extra: dict[str, float] = Field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = Field(
        default=(), description="hex (trace id, span id) of the earlier segments' spans")


IO_FIELDS = ("bytes_read", "bytes_written", "rows_read", "rows_written", "read_ops",
             "write_ops", "list_ops")


def _io_so_far(meter: Any, progress: StageProgress | None) -> dict[str, float]:
    """The I/O counts of this segment plus the earlier segments' (a resumed run)."""
    before = progress.io if progress else {}
    return {f: float(getattr(meter, f)) + before.get(f, 0.0) for f in IO_FIELDS}


def classify_as_failure(error: BaseException) -> Classified:
    """Without Airflow's semantics every exception is a failure."""
    return Classified(Outcome.FAILURE)


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


class StageExecution:
    """One worker segment of a stage run: start, run the work, close with its outcome."""

    def __init__(
        self,
        *,
        declaration: StageDeclaration,
        settings: StageRuntimeSettings,
        data: DataAccess,
        publish: Callable[[StageRunMetrics], None],
        airflow_context: Mapping[str, Any] | None = None,
        logger: logging.Logger | None = None,
        classify: Callable[[BaseException], Classified] | None = None,
        progress: StageProgress | None = None,
        suspend: Callable[[StageProgress], None] | None = None,
        parent: Context | None = None,
        span_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.progress = progress
        self.ctx = StageContext(
            declaration=declaration,
            data=data,
            metrics=MetricsRecorder(declaration, settings),
            settings=settings,
            request_id=progress.request_id if progress else uuid.uuid4().hex,
            airflow_context=airflow_context or {},
            log=logger or log,
        )
        self._publish = publish
        self._classify = classify or classify_as_failure
        self._suspend = suspend
        self._parent = parent
        self._span_attributes = dict(span_attributes or {})
        self._span: Span | None = None
        self._start: ResourceSample | None = None
        self._wall_start = 0.0
        self._closed: StageRunMetrics | None = None
        self._unpublished: StageRunMetrics | None = None
        self.outcome: Outcome | None = None

    # -- the run ---------------------------------------------------------------------------
    def run(self, work: Callable[[StageContext], T]) -> StageRun[T]:
        """Run ``work`` as this segment; re-raise its exception after closing the segment."""
        self._open()
        try:
            with self._current_span():
                result = work(self.ctx)
        except BaseException as exc:
            self._close(self._outcome_of(exc), exc)
            raise
        finally:
            self._flush()
        metrics = self._close(Classified(Outcome.SUCCESS), None)
        self._flush()
        return StageRun(result=result, metrics=metrics, outcome=self.outcome or Outcome.SUCCESS)

    def kill(self, reason: str = "killed externally") -> None:
        """Close the run now as killed (the process may be gone before the work returns).

        Safe to call from a signal handler: it ends the span and records the metrics; the
        stage record is published when the work returns control (no IPC here).
        """
        if self._start is not None and self._closed is None:
            self._close(Classified(Outcome.KILLED, reason), None, publish=False)

    # -- internals ---------------------------------------------------------------------
    def _outcome_of(self, error: BaseException) -> Classified:
        try:
            return self._classify(error)
        except Exception:  # a broken classifier must not hide the work's own exception
            log.exception("cloudplan: could not classify %r; counting it as a failure", error)
            return Classified(Outcome.FAILURE)

    def _open(self) -> None:
        decl, settings = self.ctx.declaration, self.ctx.settings
        links = [(int(t, 16), int(s, 16)) for t, s in (self.progress.links
                                                        if self.progress else ())]
        attrs = dict(self._span_attributes)
        if self.progress is not None:
            attrs["cloudplan.run.segment"] = self.progress.segments + 1
        self._span = telemetry.start_stage_span(decl, settings, self.ctx.request_id,
                                                parent=self._parent, attributes=attrs,
                                                links=links)
        if settings.detail == "full" and self._span is not None:
            data_span = self._span

            def on_access(rec: AuditRecord) -> None:
                data_span.add_event(f"data.{rec.action.value}", {
                    "dataset": rec.dataset, "via": rec.via, "outcome": rec.outcome.value,
                    "bytes": rec.bytes,
                })

            self.ctx.data.observe(on_access)
        self._wall_start = time.time()
        self._start = ResourceSample.take()

    @contextmanager
    def _current_span(self) -> Iterator[None]:
        if self._span is None:
            yield
            return
        from opentelemetry import trace

        # The outcome decides the status (a skip or a deferral is no error), not the exception.
        with trace.use_span(self._span, end_on_exit=False, record_exception=False,
                            set_status_on_exception=False):
            yield

    def _segment(self) -> tuple[float, float, float]:
        """Wall seconds, CPU seconds and peak memory of the segment so far."""
        assert self._start is not None
        use = resource_use(self._start, ResourceSample.take())
        return use.duration_s, use.cpu_s, use.peak_memory_mb

    def _close(self, classified: Classified, error: BaseException | None, *,
               publish: bool = True) -> StageRunMetrics:
        if self._closed is not None:
            return self._closed
        outcome = classified.outcome
        self.outcome = outcome
        wall, cpu, mem = self._segment()
        if outcome is Outcome.DEFERRED:
            run = self._metrics(wall, cpu, mem, outcome=Outcome.SUCCESS, whole_run=False)
        else:
            run = self._metrics(wall, cpu, mem, outcome=outcome, whole_run=True)
        self._closed = run
        extra = {**(self.progress.extra if self.progress else {}), **self.ctx.metrics.extra}
        if self.progress is not None and outcome.finished:
            classified.attributes.update({
                "cloudplan.run.segments": self.progress.segments + 1,
                "cloudplan.run.duration_s": run.duration_s,
                "cloudplan.run.suspended_s": run.suspended_s,
            })
        ids = telemetry.span_ids(self._span)
        telemetry.end_stage_span(self._span, run, classified, error, extra)
        decl, settings = self.ctx.declaration, self.ctx.settings
        telemetry.record_stage_metrics(decl, settings, run, outcome,
                                       io=outcome is not Outcome.DEFERRED)
        if outcome is Outcome.DEFERRED and self._suspend is not None:
            self._suspend(self._carry(run, ids))
        if outcome.finished:
            self._unpublished = run
            if publish:
                self._flush()
        self._log(run, outcome)
        return run

    def _flush(self) -> None:
        if self._unpublished is not None:
            run, self._unpublished = self._unpublished, None
            self._publish(run)

    def _metrics(self, wall: float, cpu: float, mem: float, *, outcome: Outcome,
                 whole_run: bool) -> StageRunMetrics:
        m = self.ctx.data.meter
        p = self.progress if whole_run else None
        io = _io_so_far(m, p)
        suspended = 0.0
        if p is not None:
            wall = max(wall, time.time() - p.started_at)
            suspended = p.suspended_s + max(0.0, self._wall_start - (p.suspended_at
                                                                      or self._wall_start))
        decl = self.ctx.declaration
        return StageRunMetrics(
            pipeline=decl.pipeline,
            stage=decl.stage,
            kind=decl.kind,
            duration_s=wall,
            bytes_read=io["bytes_read"],
            bytes_written=io["bytes_written"],
            rows_read=io["rows_read"],
            rows_written=io["rows_written"],
            read_ops=io["read_ops"] + io["list_ops"],
            write_ops=io["write_ops"],
            read_pattern=m.read_pattern(),
            cpu_seconds=cpu + (p.cpu_seconds if p else 0.0),
            peak_memory_mb=max(mem, p.peak_memory_mb if p else 0.0),
            accelerator_utilisation=self.ctx.metrics.accelerator_utilisation,
            errors=1 if outcome.is_error else 0,
            plan_version=self.ctx.settings.plan_version,
            outcome=outcome.value if outcome.finished else Outcome.SUCCESS.value,
            suspended_s=min(suspended, wall),
        )

    def _carry(self, segment: StageRunMetrics, ids: tuple[int, int] | None) -> StageProgress:
        """The progress after this (suspending) segment, for the next one to pick up."""
        p = self.progress
        m = self.ctx.data.meter
        now = time.time()
        links = (*(p.links if p else ()),
                 *(((format(ids[0], "032x"), format(ids[1], "016x")),) if ids else ()))
        resumed_wait = (max(0.0, self._wall_start - p.suspended_at)
                        if p is not None and p.suspended_at is not None else 0.0)
        return StageProgress(
            request_id=self.ctx.request_id,
            started_at=p.started_at if p else self._wall_start,
            suspended_at=now,
            segments=(p.segments + 1) if p else 1,
            suspended_s=(p.suspended_s if p else 0.0) + resumed_wait,
            cpu_seconds=(p.cpu_seconds if p else 0.0) + segment.cpu_seconds,
            peak_memory_mb=max(segment.peak_memory_mb, p.peak_memory_mb if p else 0.0),
            extra={**(p.extra if p else {}), **self.ctx.metrics.extra},
            links=links,
            io=_io_so_far(m, p),
        )

    def _log(self, run: StageRunMetrics, outcome: Outcome) -> None:
        if Signal.LOGS not in self.ctx.settings.signals:
            return
        with self._current_span():
            fields = structured_fields(self.ctx, run, outcome.value)
        with contextlib.suppress(Exception):  # never let logging mask the run's own outcome
            self.ctx.log.info(
                "cloudplan stage run %s",
                " ".join(f"{k}={v}" for k, v in fields.items()),
                extra={"cloudplan": fields},
            )


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
    """Run ``work`` as one instrumented, audited, measured stage run.

    Every exception counts as a failure here; the Airflow layer uses
    :class:`StageExecution` directly for Airflow's outcomes, deferral and kills.
    """
    return StageExecution(
        declaration=declaration, settings=settings, data=data, publish=publish,
        airflow_context=airflow_context, logger=logger,
    ).run(work)
