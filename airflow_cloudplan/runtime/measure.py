"""Cheap resource measurements of one stage run.

Wall time (``perf_counter``), CPU time of the process (``time.process_time``: user +
system, all threads) and peak resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``).
``tracemalloc`` would see only Python allocations and slows allocation-heavy code by
several times, so peak memory is the process high-water mark at the end of the run — in
Airflow 3 every task runs in its own process, so that is the stage's peak (plus the
interpreter and Airflow's own baseline, which is the memory the stage must be given).
Taking a sample costs a few microseconds.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceSample:
    """One reading of the clocks and the memory high-water mark."""

    wall_s: float
    cpu_s: float
    maxrss_mb: float

    @classmethod
    def take(cls) -> ResourceSample:
        """Read the clocks and ru_maxrss now."""
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        mb = rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
        return cls(time.perf_counter(), time.process_time(), mb)


@dataclass(frozen=True)
class ResourceUse:
    """What a run used between two samples."""

    duration_s: float
    cpu_s: float
    peak_memory_mb: float


def resource_use(start: ResourceSample, end: ResourceSample) -> ResourceUse:
    """Duration and CPU time between two samples; peak memory is the end high-water mark."""
    return ResourceUse(
        duration_s=max(0.0, end.wall_s - start.wall_s),
        cpu_s=max(0.0, end.cpu_s - start.cpu_s),
        peak_memory_mb=end.maxrss_mb,
    )
