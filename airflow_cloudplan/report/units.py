"""How objective values (and durations) are written for people.

One place, so the CLI, the UI, the pictures and the approval text agree on units: cost in
USD per month, latency and durations in a readable time unit, risk with three significant
digits. Every command formats through these functions; none prints raw milliseconds.
"""

from __future__ import annotations

import math

# (unit, milliseconds per unit, use it when the largest value is at least this many ms)
LATENCY_UNITS = (("h", 3_600_000.0, 7_200_000.0), ("min", 60_000.0, 120_000.0),
                 ("s", 1_000.0, 2_000.0), ("ms", 1.0, 0.0))


def latency_unit(max_ms: float) -> tuple[str, float]:
    """The unit to show latencies up to ``max_ms`` in, and its size in ms."""
    for unit, size, threshold in LATENCY_UNITS:
        if max_ms >= threshold:
            return unit, size
    return "ms", 1.0


def fmt_latency(ms: float | None, unit: tuple[str, float] | None = None) -> str:
    """A latency like ``2.4 h`` or ``180 ms`` (in ``unit`` when given).

    ``None`` or an infinite value is ``unbounded`` (a stage whose load exceeds its capacity).
    """
    if ms is None or not math.isfinite(ms):
        return "unbounded"
    name, size = unit or latency_unit(ms)
    v = ms / size
    return f"{v:,.0f} {name}" if name == "ms" or v >= 100 else f"{v:,.3g} {name}"


def fmt_cost(usd: float) -> str:
    """A monthly cost like ``$12,345``."""
    return f"${usd:,.0f}" if abs(usd) >= 100 else f"${usd:,.2f}"


def fmt_cost_short(usd: float) -> str:
    """An axis label like ``$12k``."""
    if abs(usd) >= 1_000_000:
        return f"${usd / 1_000_000:g}M"
    if abs(usd) >= 1_000:
        return f"${usd / 1_000:g}k"
    return f"${usd:g}"


def fmt_risk(risk: float) -> str:
    """A risk score with three significant digits."""
    return f"{risk:,.3g}" if risk < 1000 else f"{risk:,.0f}"


def fmt_delta(before: float | None, after: float) -> str:
    """Relative change ``+4.2 %`` (``new`` when there is nothing to compare with)."""
    if before is None:
        return "new"
    if before == 0:
        return "±0 %" if after == 0 else "from 0"
    d = (after - before) / before * 100
    if abs(d) < 0.05:
        return "±0 %"
    return f"{d:+.1f} %"


def fmt_duration(seconds: float) -> str:
    """A wall-clock duration like ``350 ms``, ``8.6 s``, ``4.2 min`` or ``2.1 h``."""
    if seconds < 1.0:
        return f"{seconds * 1000:,.0f} ms"
    if seconds < 120.0:
        return f"{seconds:,.1f} s"
    return fmt_latency(seconds * 1000.0)


OBJECTIVE_LABELS = {"cost_usd_month": "cost / month", "latency_ms": "latency", "risk": "risk"}
"""People's names of the objective fields of a plan."""


def fmt_objective(name: str, value: float | None) -> str:
    """Any objective field (``cost_usd_month``, ``latency_ms``, ``risk``) for people."""
    if name == "latency_ms":
        return fmt_latency(value)
    if value is None:
        return "-"
    if name == "cost_usd_month":
        return fmt_cost(value)
    if name == "risk":
        return fmt_risk(value)
    raise KeyError(f"unknown objective {name!r}")


def fmt_elapsed(seconds: float) -> str:
    """Time since a command started, for progress lines: ``12.3 s``, ``14.2 min``."""
    return f"{seconds:,.1f} s" if seconds < 600 else f"{seconds / 60:,.1f} min"
