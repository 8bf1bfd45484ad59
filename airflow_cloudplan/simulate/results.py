"""What a simulation reports: JSON-able summaries of latencies, SLOs, cost and the fleet.

Latencies are seconds. A request or run that never finished (the window ended with it
still queued) counts as a violation and as an infinite latency in the quantiles, so an
overloaded plan can never look good by dropping work.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from airflow_cloudplan.model.catalog import Frozen, NonNegFloat
from airflow_cloudplan.simulate.billing import SECONDS_PER_MONTH, CostMeter

CDF_POINTS = 101
"""Quantiles kept for latency CDF plots (0 %, 1 %, …, 100 %), plus the tail below."""
CDF_TAIL = (0.995, 0.999)


class LatencySummary(Frozen):
    """Quantiles of a latency sample (seconds; ``inf`` when unfinished work is in the tail)."""

    count: int = Field(ge=0)
    unfinished: int = Field(ge=0)
    mean_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float


class SimCost(Frozen):
    """Cost accrued over the simulated span, and normalised to a month."""

    span_s: NonNegFloat
    compute_usd: NonNegFloat
    storage_usd: NonNegFloat
    egress_usd: NonNegFloat
    replica_hours: NonNegFloat
    egress_gb: NonNegFloat

    @property
    def total_usd(self) -> float:
        """Compute + storage + egress over the span."""
        return self.compute_usd + self.storage_usd + self.egress_usd

    def per_month(self, usd: float) -> float:
        """``usd`` over the span as USD per month."""
        return usd * SECONDS_PER_MONTH / self.span_s if self.span_s > 0 else 0.0

    @property
    def month_usd(self) -> dict[str, float]:
        """Compute/storage/egress/total in USD per month."""
        return {"compute": self.per_month(self.compute_usd),
                "storage": self.per_month(self.storage_usd),
                "egress": self.per_month(self.egress_usd),
                "total": self.per_month(self.total_usd)}


class TimeSeries(Frozen):
    """Per-bucket requests, SLO violations and mean ready/provisioned replicas."""

    bucket_s: float
    requests: tuple[int, ...]
    violations: tuple[int, ...]
    ready: tuple[float, ...]
    provisioned: tuple[float, ...]


class StageSim(Frozen):
    """One stage of one plan under one seed."""

    stage: str
    mode: str = Field(description="online or batch")
    option: str
    latency: LatencySummary
    cdf_s: tuple[float, ...] = Field(description="latency at quantiles 0..1 step 0.01, "
                                                 "then 0.995 and 0.999")
    slo_s: float | None = None
    violations: int = Field(ge=0)
    total: int = Field(ge=0)
    cost: SimCost
    launches: int = 0
    interruptions: int = 0
    restarts: int = 0
    cold_waits: int = 0
    series: TimeSeries | None = None

    @property
    def violation_ratio(self) -> float:
        """Violations / requests (or missed deadlines / runs)."""
        return self.violations / self.total if self.total else 0.0


class PlanSim(Frozen):
    """A whole plan under one seed: its stages, edge traffic and the plan-level figures."""

    seed: int
    stages: tuple[StageSim, ...]
    edge_egress_usd_month: NonNegFloat = 0.0
    latency_s: float = Field(description="the planner's L, simulated: longest path of batch "
                                         "mean completion + online p95 + edge transfers")
    deadline_misses: int = 0
    pipeline_runs: int = 0

    @property
    def cost_month(self) -> dict[str, float]:
        """Compute/storage/egress/total USD per month over all stages (+ edges)."""
        out = {"compute": 0.0, "storage": 0.0, "egress": self.edge_egress_usd_month}
        for s in self.stages:
            m = s.cost.month_usd
            for k in ("compute", "storage", "egress"):
                out[k] += m[k]
        out["total"] = out["compute"] + out["storage"] + out["egress"]
        return out


def summarise(values_s: Any) -> tuple[LatencySummary, tuple[float, ...]]:
    """Quantile summary and CDF points of latencies (NaN = unfinished = infinite)."""
    import numpy as np

    v = np.asarray(values_s, dtype=float)
    unfinished = int(np.isnan(v).sum())
    v = np.where(np.isnan(v), np.inf, v)
    if len(v) == 0:
        nan = math.nan
        return LatencySummary(count=0, unfinished=0, mean_s=nan, p50_s=nan, p95_s=nan,
                              p99_s=nan, max_s=nan), ()
    qs = np.concatenate([np.linspace(0.0, 1.0, CDF_POINTS), np.asarray(CDF_TAIL)])
    points = np.quantile(v, qs, method="inverted_cdf")
    finite = v[np.isfinite(v)]
    mean = float(finite.mean()) if unfinished == 0 and len(finite) else math.inf
    p50, p95, p99 = (float(x) for x in np.quantile(v, [0.5, 0.95, 0.99],
                                                    method="inverted_cdf"))
    return (LatencySummary(count=len(v), unfinished=unfinished, mean_s=mean, p50_s=p50,
                           p95_s=p95, p99_s=p99, max_s=float(v.max())),
            tuple(float(x) for x in points))


def sim_cost(meter: CostMeter, span_s: float) -> SimCost:
    """Freeze a meter's totals."""
    return SimCost(span_s=span_s, compute_usd=meter.compute_usd, storage_usd=meter.storage_usd,
                   egress_usd=meter.egress_usd, replica_hours=meter.replica_seconds / 3600.0,
                   egress_gb=meter.egress_gb + meter.internet_gb)


def time_series(arrivals_s: Any, latency_s: Any, slo_s: float | None, *,
                timeline: list[tuple[float, int, int]], span_s: float,
                bucket_s: float) -> TimeSeries:
    """Requests and violations per bucket, with time-averaged replica counts."""
    import numpy as np

    n = max(1, math.ceil(span_s / bucket_s))
    idx = np.minimum(n - 1, (np.asarray(arrivals_s) // bucket_s).astype(int))
    requests = np.bincount(idx, minlength=n)
    lat = np.asarray(latency_s, dtype=float)
    bad = np.isnan(lat) | (lat > slo_s) if slo_s is not None else np.isnan(lat)
    violations = np.bincount(idx, weights=bad.astype(float), minlength=n)
    ready = np.zeros(n)
    prov = np.zeros(n)
    for (t0, r, a), (t1, _, _) in zip(timeline, [*timeline[1:], (span_s, 0, 0)], strict=True):
        lo, hi = max(0.0, t0), min(span_s, t1)
        while lo < hi:
            b = min(n - 1, int(lo // bucket_s))
            end = min(hi, (b + 1) * bucket_s) if b < n - 1 else hi
            ready[b] += r * (end - lo)
            prov[b] += a * (end - lo)
            if end <= lo:
                break
            lo = end
    widths = np.full(n, bucket_s)
    widths[-1] = max(1e-9, span_s - (n - 1) * bucket_s)
    return TimeSeries(bucket_s=bucket_s, requests=tuple(int(x) for x in requests),
                      violations=tuple(int(x) for x in violations),
                      ready=tuple(round(float(x), 3) for x in ready / widths),
                      provisioned=tuple(round(float(x), 3) for x in prov / widths))


__all__ = ["LatencySummary", "PlanSim", "SimCost", "StageSim", "TimeSeries", "sim_cost",
           "summarise", "time_series"]
