"""The forecast a predictive scaler pre-warms from.

The Workload Profiler summarises a stage's arrivals per hour (mean rate, hourly peak);
:class:`RateForecast` is that per-window arrival rate as a step function over the window
the simulation replays. Built from the same history the profile was built from, it is an
in-sample forecast at hourly granularity — the best an hourly predictive scaler can do —
so what remains for the predictive policy to miss is exactly what an hourly forecast
cannot see: bursts inside the hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RateForecast:
    """Forecast arrivals per second in consecutive windows of ``window_s`` from time 0."""

    window_s: float
    rates: tuple[float, ...]

    def rate_at(self, t: float) -> float:
        """The forecast rate at time ``t`` (the last window's beyond the end, 0 before 0)."""
        if t < 0 or not self.rates:
            return 0.0
        i = min(len(self.rates) - 1, int(t // self.window_s))
        return self.rates[i]

    def peak_over(self, start: float, end: float) -> float:
        """The highest forecast rate of any window overlapping [start, end]."""
        if not self.rates:
            return 0.0
        lo = max(0, int(start // self.window_s))
        hi = min(len(self.rates) - 1, int(max(start, end) // self.window_s))
        if lo > hi:
            return self.rates[-1]
        return max(self.rates[lo:hi + 1])


def forecast_from_times(times_s: Sequence[float], window_s: float,
                        horizon_s: float) -> RateForecast:
    """Per-window rates of events at ``times_s`` (seconds from 0) over ``horizon_s``."""
    n = max(1, math.ceil(horizon_s / window_s))
    counts = [0] * n
    for t in times_s:
        counts[min(n - 1, max(0, int(t // window_s)))] += 1
    last = horizon_s - (n - 1) * window_s
    rates = [c / window_s for c in counts[:-1]] + [counts[-1] / max(last, 1e-9)]
    return RateForecast(window_s, tuple(rates))


__all__ = ["RateForecast", "forecast_from_times"]
