"""From sufficient statistics to the profiles the planner reads (φ_k).

Kept separate from the sources: SQL, REST and trace readers all end in
:func:`build_profile_set`, so a profile means the same thing whichever source made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from airflow_cloudplan.model.workload import (
    Archetype,
    ArrivalStats,
    DurationStats,
    IOStats,
    ProfileSet,
    ResourceStats,
    StageProfile,
)
from airflow_cloudplan.profile.predictor import RuntimePredictor
from airflow_cloudplan.profile.sketch import Moments, StageState

LARGE_OP_BYTES = 8 * 2**20
"""Mean bytes per read op at or above which reads are large and sequential (8 MiB)."""
SMALL_OP_BYTES = 256 * 2**10
"""Mean bytes per read op at or below which reads are random (256 KiB)."""
APPEND_WRITE_RATIO = 2.0
"""Writes this many times larger than reads, in small ops, make a stream-append stage."""
NO_QUEUE_NOTE = (
    "no queue delay: queued_dttm is NULL for these runs (e.g. `airflow dags test` runs "
    "bypass the scheduler); queue delay needs scheduler-run history"
)


def duration_stats(m: Moments, trend: float = 0.0) -> DurationStats | None:
    """Quantiles and moments of a duration-like quantity (``None`` when empty)."""
    if not m.count:
        return None
    return DurationStats(
        count=m.count,
        mean_s=m.mean,
        p50_s=m.quantile(0.50),
        p95_s=m.quantile(0.95),
        p99_s=m.quantile(0.99),
        max_s=m.high,
        trend_s_per_day=trend,
    )


def arrival_stats(s: StageState) -> ArrivalStats | None:
    """Rate, CV² of inter-arrival gaps and hourly peak-to-mean (needs ≥ 2 arrivals)."""
    if s.first_arrival is None or s.last_arrival is None or s.gaps < 1:
        return None
    span = s.last_arrival - s.first_arrival
    if span <= 0:
        return None
    mean_gap = span / s.gaps
    var_gap = max(s.gap_sq / s.gaps - mean_gap * mean_gap, 0.0)
    hours = (s.last_hour or 0) - (s.first_hour or 0) + 1
    mean_per_hour = s.runs / hours
    return ArrivalStats(
        rate_per_s=s.gaps / span,
        cv2=var_gap / (mean_gap * mean_gap),
        peak_to_mean=max(1.0, s.peak_hour_count / mean_per_hour),
    )


def decide_archetype(
    io: IOStats | None, patterns: Mapping[str, int]
) -> tuple[Archetype | None, tuple[str, ...]]:
    """The I/O archetype and the evidence that decided it.

    Measured bytes per op decide when ops were recorded; a pattern the stage operator
    declared decides otherwise (and is reported as agreeing or not).
    """
    evidence: list[str] = []
    declared: Archetype | None = None
    if patterns:
        name, n = max(patterns.items(), key=lambda kv: kv[1])
        if name in Archetype._value2member_map_:
            declared = Archetype(name)
            evidence.append(f"declared read pattern {name} in {n} of {sum(patterns.values())} runs")
    measured: Archetype | None = None
    if io is not None and (io.read_ops > 0 or io.write_ops > 0):
        per_read = io.bytes_read / io.read_ops if io.read_ops else 0.0
        per_write = io.bytes_written / io.write_ops if io.write_ops else 0.0
        ratio = io.bytes_written / io.bytes_read if io.bytes_read else float("inf")
        evidence.append(f"{per_read / 2**20:.2f} MiB per read op, "
                        f"{per_write / 2**20:.2f} MiB per write op")
        evidence.append("write/read bytes ratio "
                        + ("inf (no reads)" if ratio == float("inf") else f"{ratio:.2f}"))
        if ratio >= APPEND_WRITE_RATIO and 0 < per_write <= SMALL_OP_BYTES:
            measured = Archetype.STREAM_APPEND
        elif io.read_ops and per_read >= LARGE_OP_BYTES:
            measured = Archetype.LARGE_SEQUENTIAL
        elif io.read_ops and per_read <= SMALL_OP_BYTES:
            measured = Archetype.RANDOM_READ
        else:
            measured = Archetype.MIXED
        evidence.append(f"measured: {measured.value}")
        if declared is not None and declared != measured:
            evidence.append(f"declared {declared.value} disagrees; measurement wins")
    return (measured or declared), tuple(evidence)


def _io_and_resources(s: StageState) -> tuple[IOStats | None, ResourceStats | None]:
    if not s.metrics_runs:
        return None, None
    n = s.metrics_runs
    io = IOStats(**{k: v / n for k, v in s.io_sums.items()})
    accel = s.resource_sums.get("accelerator_utilisation")
    resources = ResourceStats(
        cpu_seconds=s.resource_sums.get("cpu_seconds", 0.0) / n,
        peak_memory_mb=s.resource_sums.get("peak_memory_mb", 0.0) / n,
        accelerator_utilisation=(
            min(accel / s.accelerator_runs, 1.0) if accel is not None and s.accelerator_runs
            else None),
    )
    return io, resources


def _to_dt(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def build_profile(s: StageState, *, source: str, note: str = "") -> StageProfile:
    """The profile of one stage from its state."""
    if s.runs == 0:
        return StageProfile(dag_id=s.dag_id, task_id=s.task_id, n_runs=0, source=source,
                            note=note or "no history: no finished runs in the window")
    io, resources = _io_and_resources(s)
    archetype, evidence = decide_archetype(io, s.read_patterns)
    if io is not None and archetype is not None:
        io = io.model_copy(update={"read_pattern": archetype})
    notes = [note] if note else []
    if s.queue_delay.count == 0:
        notes.append(NO_QUEUE_NOTE)
    elif s.queue_delay.count < s.duration.count:
        notes.append(f"queue delay from {s.queue_delay.count} of {s.duration.count} runs "
                     "(the others had no queued_dttm)")
    predictor = RuntimePredictor([("task",)], window=len(s.recent) or 1)
    for _, seconds in s.recent:
        predictor.observe({"task": s.task_id}, seconds)
    prediction = predictor.predict({"task": s.task_id})
    if prediction is not None:
        prediction = prediction.model_copy(update={"key": "dag+task"})
    return StageProfile(
        dag_id=s.dag_id,
        task_id=s.task_id,
        n_runs=s.runs,
        window_start=_to_dt(s.first_arrival),
        window_end=_to_dt(s.last_arrival),
        duration=duration_stats(s.duration, s.trend_s_per_day),
        queue_delay=duration_stats(s.queue_delay),
        retries_per_run=s.earlier_tries / s.runs,
        failure_rate=s.failed_runs / s.runs,
        arrivals=arrival_stats(s),
        io=io,
        resources=resources,
        archetype=archetype,
        archetype_evidence=evidence,
        prediction=prediction,
        source=source,
        note="; ".join(notes),
    )


def build_profile_set(
    states: Mapping[tuple[str, str], StageState],
    *,
    source: str,
    watermark: datetime | None,
    note: str = "",
) -> ProfileSet:
    """All profiles, sorted by stage; an empty history yields one explicit no-history entry."""
    profiles = tuple(build_profile(states[k], source=source) for k in sorted(states))
    if not profiles:
        profiles = (StageProfile(dag_id="*", task_id="*", n_runs=0, source=source,
                                 note=note or "no history: no finished task runs found"),)
    return ProfileSet(profiles=profiles, generated_at=datetime.now(UTC), watermark=watermark,
                      source=source)
