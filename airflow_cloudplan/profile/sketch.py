"""Mergeable per-stage sufficient statistics: what the incremental profiler keeps.

The nightly profiler must touch only new rows, so everything a :class:`StageProfile`
reports is derived from statistics that *merge*: counts and sums (means, variances,
failure rate, retries, least-squares trend), a log-bucketed histogram for quantiles (the
DDSketch idea: bucket ``i`` holds values in ``(γ^(i-1), γ^i]`` with ``γ = (1+α)/(1-α)``,
so every quantile is within relative error ``α`` and two histograms merge by adding
counts), the arrival process as first/last arrival, count and Σgap² of inter-arrival gaps
plus the busiest hour and the boundary hours, and the most recent runs (for the
recency-weighted prediction).

The SQL sources compute a *partial* :class:`StageState` over new rows inside the
database; Python sources (REST, traces) build one run by run with :meth:`StageState.add_run`.
Both are folded into the kept state with :meth:`StageState.merge`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, Field

RELATIVE_ACCURACY = 0.02
"""α: every reported quantile is within 2% of a true sample quantile (coarser buckets
keep the rows a database returns per stage in the tens, not hundreds)."""
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LN_GAMMA = math.log(GAMMA)
MIN_TRACKED_S = 1e-2
"""Values at or below ten milliseconds are counted in the zero bucket."""
ZERO_BUCKET = -(10**6)
RECENT_RUNS_KEPT = 32
TREND_ORIGIN_S = 1_577_836_800.0
"""2020-01-01T00:00Z: the trend's x axis is days since this origin (keeps sums small)."""


def bucket_of(value: float) -> int:
    """The histogram bucket of a value (seconds)."""
    if value <= MIN_TRACKED_S:
        return ZERO_BUCKET
    return math.ceil(math.log(value) / LN_GAMMA)


def bucket_value(index: int) -> float:
    """The representative value of a bucket (relative error ≤ α to anything inside it)."""
    if index == ZERO_BUCKET:
        return 0.0
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


class Moments(BaseModel):
    """Count, sum, sum of squares, extremes and a quantile histogram of one quantity."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    low: float | None = None
    high: float = 0.0
    buckets: dict[int, int] = Field(default_factory=dict)

    def add(self, value: float, weight: int = 1) -> None:
        """Record one value (``weight`` identical values)."""
        value = max(value, 0.0)
        self.count += weight
        self.total += value * weight
        self.total_sq += value * value * weight
        self.low = value if self.low is None else min(self.low, value)
        self.high = max(self.high, value)
        b = bucket_of(value)
        self.buckets[b] = self.buckets.get(b, 0) + weight

    def merge(self, other: Moments) -> None:
        """Add another partial's counts into this one."""
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        if other.low is not None:
            self.low = other.low if self.low is None else min(self.low, other.low)
        self.high = max(self.high, other.high)
        for b, c in other.buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + c

    @property
    def mean(self) -> float:
        """Arithmetic mean (0 when empty)."""
        return self.total / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """The nearest-rank q-quantile (lower), clamped to the observed extremes."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return min(max(bucket_value(b), self.low or 0.0), self.high)
        return self.high


class StageState(BaseModel):
    """Sufficient statistics of one stage (dag_id, task_id) over the runs folded so far.

    Times are seconds since the Unix epoch (UTC). A stage run is one ``(dag_id, task_id,
    run_id)``: the map indices of a mapped task are folded into it (duration = first start
    to last end; failed if any index failed).
    """

    dag_id: str
    task_id: str
    runs: int = 0
    failed_runs: int = 0
    earlier_tries: int = 0
    earlier_failed_tries: int = 0
    duration: Moments = Field(default_factory=Moments)
    queue_delay: Moments = Field(default_factory=Moments)
    trend_sx: float = 0.0
    trend_sxx: float = 0.0
    trend_sxy: float = 0.0
    first_arrival: float | None = None
    last_arrival: float | None = None
    gaps: int = 0
    gap_sq: float = 0.0
    peak_hour_count: int = 0
    first_hour: int | None = None
    first_hour_count: int = 0
    last_hour: int | None = None
    last_hour_count: int = 0
    recent: list[tuple[float, float]] = Field(
        default_factory=list, description="(arrival, duration) of the latest runs"
    )
    metrics_runs: int = 0
    io_sums: dict[str, float] = Field(default_factory=dict)
    resource_sums: dict[str, float] = Field(default_factory=dict)
    accelerator_runs: int = 0
    read_patterns: dict[str, int] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """The stage identity."""
        return (self.dag_id, self.task_id)

    def add_run(
        self,
        *,
        arrival: float,
        duration_s: float,
        failed: bool,
        queue_delay_s: float | None = None,
        earlier_tries: int = 0,
        earlier_failed_tries: int = 0,
    ) -> None:
        """Fold one stage run into the state (Python sources call this in time order)."""
        one = StageState(dag_id=self.dag_id, task_id=self.task_id)
        one.runs = 1
        one.failed_runs = int(failed)
        one.earlier_tries = earlier_tries
        one.earlier_failed_tries = earlier_failed_tries
        one.duration.add(duration_s)
        if queue_delay_s is not None:
            one.queue_delay.add(queue_delay_s)
        x = (arrival - TREND_ORIGIN_S) / 86400.0
        one.trend_sx, one.trend_sxx, one.trend_sxy = x, x * x, x * max(duration_s, 0.0)
        one.first_arrival = one.last_arrival = arrival
        hour = int(arrival // 3600)
        one.peak_hour_count = one.first_hour_count = one.last_hour_count = 1
        one.first_hour = one.last_hour = hour
        one.recent = [(arrival, max(duration_s, 0.0))]
        self.merge(one)

    def add_metrics(self, metrics: dict[str, object]) -> None:
        """Fold one recorded :class:`StageRunMetrics` (as a JSON dict) into the sums."""
        self.metrics_runs += 1
        for name in ("bytes_read", "bytes_written", "rows_read", "rows_written",
                     "read_ops", "write_ops"):
            self.io_sums[name] = self.io_sums.get(name, 0.0) + _number(metrics.get(name))
        for name in ("cpu_seconds", "peak_memory_mb"):
            self.resource_sums[name] = self.resource_sums.get(name, 0.0) + _number(
                metrics.get(name)
            )
        accel = metrics.get("accelerator_utilisation")
        if accel is not None:
            self.accelerator_runs += 1
            self.resource_sums["accelerator_utilisation"] = self.resource_sums.get(
                "accelerator_utilisation", 0.0
            ) + _number(accel)
        pattern = metrics.get("read_pattern")
        if isinstance(pattern, str) and pattern:
            self.read_patterns[pattern] = self.read_patterns.get(pattern, 0) + 1

    def merge(self, new: StageState) -> None:
        """Fold a partial state of *later* rows into this one."""
        if new.first_arrival is not None and self.last_arrival is not None:
            boundary_gap = new.first_arrival - self.last_arrival
            self.gaps += 1
            self.gap_sq += boundary_gap * boundary_gap
        self.runs += new.runs
        self.failed_runs += new.failed_runs
        self.earlier_tries += new.earlier_tries
        self.earlier_failed_tries += new.earlier_failed_tries
        self.duration.merge(new.duration)
        self.queue_delay.merge(new.queue_delay)
        self.trend_sx += new.trend_sx
        self.trend_sxx += new.trend_sxx
        self.trend_sxy += new.trend_sxy
        self.gaps += new.gaps
        self.gap_sq += new.gap_sq
        if new.first_arrival is not None:
            self.first_arrival = (
                new.first_arrival
                if self.first_arrival is None
                else min(self.first_arrival, new.first_arrival)
            )
            self.last_arrival = (
                new.last_arrival
                if self.last_arrival is None or new.last_arrival is None
                else max(self.last_arrival, new.last_arrival)
            )
        self._merge_hours(new)
        self.recent = sorted(self.recent + new.recent)[-RECENT_RUNS_KEPT:]
        self.metrics_runs += new.metrics_runs
        self.accelerator_runs += new.accelerator_runs
        for target, source in ((self.io_sums, new.io_sums),
                               (self.resource_sums, new.resource_sums)):
            for k, v in source.items():
                target[k] = target.get(k, 0.0) + v
        for k, n in new.read_patterns.items():
            self.read_patterns[k] = self.read_patterns.get(k, 0) + n

    def _merge_hours(self, new: StageState) -> None:
        """Busiest hour across the boundary: the new first hour may continue our last."""
        if new.first_hour is None:
            return
        if self.first_hour is None or self.last_hour is None:
            self.peak_hour_count = new.peak_hour_count
            self.first_hour, self.first_hour_count = new.first_hour, new.first_hour_count
            self.last_hour, self.last_hour_count = new.last_hour, new.last_hour_count
            return
        joined = 0
        if new.first_hour == self.last_hour:
            joined = self.last_hour_count + new.first_hour_count
        self.peak_hour_count = max(self.peak_hour_count, new.peak_hour_count, joined)
        if new.first_hour == self.first_hour == self.last_hour:
            self.first_hour_count = joined
        if new.last_hour is not None and new.last_hour >= self.last_hour:
            if new.last_hour == self.last_hour:
                self.last_hour_count += new.last_hour_count
            else:
                self.last_hour, self.last_hour_count = new.last_hour, new.last_hour_count
        self.first_hour = min(self.first_hour, new.first_hour)

    @property
    def trend_s_per_day(self) -> float:
        """Least-squares slope of duration over time (seconds per day)."""
        n = self.duration.count
        if n < 3:
            return 0.0
        sxx = self.trend_sxx - self.trend_sx * self.trend_sx / n
        if sxx <= 1e-9:
            return 0.0
        return (self.trend_sxy - self.trend_sx * self.duration.total / n) / sxx


def _number(value: object) -> float:
    """A recorded metric as a non-negative float (missing or malformed → 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 0.0


def merge_states(
    kept: dict[tuple[str, str], StageState], new: Iterable[StageState]
) -> dict[tuple[str, str], StageState]:
    """Fold partial states of later rows into the kept ones (in place; returns ``kept``)."""
    for state in new:
        if state.key in kept:
            kept[state.key].merge(state)
        else:
            kept[state.key] = state
    return kept
