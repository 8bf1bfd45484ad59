"""A seeded discrete-event simulation of a FIFO G/G/c queue.

Customers are served in arrival order by ``c`` identical servers; a customer starts at
``max(arrival, earliest time a server is free)``. Only that event order matters for a
FIFO multi-server queue, so the simulation keeps a heap of server-free times instead of a
general event list: O(n log c) for n customers.

Inter-arrival and service times are drawn from gamma or lognormal distributions matched
to a mean and a squared coefficient of variation (cv²): gamma(shape = 1/cv²,
scale = mean·cv²); lognormal(σ² = ln(1 + cv²), μ = ln(mean) − σ²/2). A cv² of 0 is
deterministic. The first ``warmup`` share of customers is discarded so that the queue
starts near steady state.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Distribution = Literal["gamma", "lognormal"]


@dataclass(frozen=True)
class SimulatedQueue:
    """Response-time statistics of one simulation run (milliseconds)."""

    customers: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    wait_probability: float
    utilisation: float


def draw(rng: Any, mean: float, cv2: float, n: int, dist: Distribution) -> Any:
    """``n`` positive samples with the given mean and cv² (a numpy array)."""
    import numpy as np

    if cv2 <= 0:
        return np.full(n, mean)
    if dist == "gamma":
        return rng.gamma(1.0 / cv2, mean * cv2, n)
    if dist == "lognormal":
        sigma2 = math.log1p(cv2)
        return rng.lognormal(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2), n)
    raise ValueError(f"unknown distribution {dist!r}; use 'gamma' or 'lognormal'")


def _serve(arrivals_s: Any, services_s: Any, servers: int, warmup: float) -> SimulatedQueue:
    import numpy as np

    n = len(arrivals_s)
    free = [0.0] * servers
    heapq.heapify(free)
    response = np.empty(n)
    waited = np.zeros(n, dtype=bool)
    arr = arrivals_s.tolist()
    svc = services_s.tolist()
    for i in range(n):
        earliest = free[0]
        a = arr[i]
        start = a if a >= earliest else earliest
        heapq.heapreplace(free, start + svc[i])
        response[i] = start + svc[i] - a
        waited[i] = start > a
    skip = int(n * warmup)
    kept = response[skip:] * 1000.0
    span = arr[-1] - arr[skip] if n - skip > 1 else 1.0
    busy = float(np.sum(services_s[skip:]))
    return SimulatedQueue(
        customers=n - skip,
        mean_ms=float(kept.mean()),
        p50_ms=float(np.percentile(kept, 50)),
        p95_ms=float(np.percentile(kept, 95)),
        p99_ms=float(np.percentile(kept, 99)),
        wait_probability=float(waited[skip:].mean()),
        utilisation=busy / (servers * span) if span > 0 else 0.0,
    )


def simulate_ggc(
    arrival_rate_per_s: float,
    service_mean_ms: float,
    servers: int,
    *,
    arrival_cv2: float,
    service_cv2: float,
    customers: int = 200_000,
    seed: int = 0,
    arrival_dist: Distribution = "gamma",
    service_dist: Distribution = "lognormal",
    warmup: float = 0.05,
) -> SimulatedQueue:
    """Simulate a G/G/c FIFO queue with renewal arrivals; statistics in ms."""
    import numpy as np

    if servers < 1 or arrival_rate_per_s <= 0 or service_mean_ms <= 0:
        raise ValueError("need servers >= 1, a positive arrival rate and service time")
    rng = np.random.default_rng(seed)
    gaps = draw(rng, 1.0 / arrival_rate_per_s, arrival_cv2, customers, arrival_dist)
    services = draw(rng, service_mean_ms / 1000.0, service_cv2, customers, service_dist)
    return _serve(np.cumsum(gaps), services, servers, warmup)


def simulate_trace(
    arrival_times_s: Sequence[float],
    service_mean_ms: float,
    servers: int,
    *,
    service_cv2: float,
    seed: int = 0,
    service_dist: Distribution = "lognormal",
    warmup: float = 0.0,
) -> SimulatedQueue:
    """Simulate the queue fed by recorded arrival times (seconds, sorted ascending)."""
    import numpy as np

    arrivals = np.asarray(arrival_times_s, dtype=float)
    if len(arrivals) < 2 or np.any(np.diff(arrivals) < 0):
        raise ValueError("arrival trace needs at least 2 ascending timestamps")
    rng = np.random.default_rng(seed)
    services = draw(rng, service_mean_ms / 1000.0, service_cv2, len(arrivals), service_dist)
    return _serve(arrivals - arrivals[0], services, servers, warmup)
