"""Arrival traces: read recorded request timestamps and summarise them as (λ, cv², peak).

The summary is what the latency model consumes (:class:`~airflow_cloudplan.model.
ArrivalStats`): mean rate, squared coefficient of variation of inter-arrival times, and
the peak-to-mean ratio of per-window arrival counts.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from airflow_cloudplan.model.workload import ArrivalStats


@dataclass(frozen=True)
class ArrivalTrace:
    """Arrival times in seconds from the first arrival, ascending."""

    times_s: tuple[float, ...]
    source: str

    def stats(self, window_s: float = 60.0) -> ArrivalStats:
        """Mean rate, inter-arrival cv² and peak-to-mean of ``window_s`` arrival counts."""
        t = self.times_s
        if len(t) < 3:
            raise ValueError(f"{self.source}: need at least 3 arrivals, got {len(t)}")
        gaps = [b - a for a, b in itertools.pairwise(t)]
        mean = sum(gaps) / len(gaps)
        var = sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1)
        span = t[-1] - t[0]
        windows = max(1, int(span // window_s))
        counts = [0] * windows
        for x in t:
            counts[min(windows - 1, int((x - t[0]) // window_s))] += 1
        rate = (len(t) - 1) / span
        peak = max(counts) / (len(t) / windows)
        return ArrivalStats(rate_per_s=rate, cv2=var / mean**2, peak_to_mean=max(1.0, peak))


def _parse_time(text: str) -> float:
    stamp = text.strip()
    if "." in stamp:  # Python parses at most 6 fractional digits
        head, frac = stamp.split(".", 1)
        stamp = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(stamp).timestamp()


def load_arrival_trace(path: str | Path, column: str = "TIMESTAMP") -> ArrivalTrace:
    """Read a CSV with one arrival per row (ISO timestamps or seconds in ``column``)."""
    p = Path(path)
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise ValueError(
                f"{p}: no column {column!r} (columns: {reader.fieldnames}); "
                "pass column= naming the arrival timestamp"
            )
        raw: list[float] = []
        for row in reader:
            value = row[column]
            try:
                raw.append(float(value))
            except ValueError:
                raw.append(_parse_time(value))
    raw.sort()
    if not raw:
        raise ValueError(f"{p}: no arrivals")
    return ArrivalTrace(tuple(x - raw[0] for x in raw), str(p))
