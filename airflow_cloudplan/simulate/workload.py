"""What the simulator replays: per-request or per-run work taken from traces.

* :class:`OnlineLoad` — request arrival times (seconds from the start of the window) and
  each request's service time on one *reference server* (one device of the stage's
  preferred accelerator, else one vCPU), optionally the bytes each response sends.
* :class:`BatchLoad` — run submission times and each run's work: either indivisible
  items (batch inference: each item is one request's service time on a reference server)
  or one divisible, data-parallel job (training: reference-device seconds).

Arrays are numpy ``float64``; loads are built by trace adapters (the evaluation protocol)
or by :func:`online_load_from_arrivals` for a user's own arrival file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OnlineLoad:
    """Requests of an online stage: arrival times and reference service times (s)."""

    arrivals_s: Any
    service_s: Any
    horizon_s: float
    source: str
    response_bytes: Any = None

    def __post_init__(self) -> None:
        if len(self.arrivals_s) != len(self.service_s):
            raise ValueError(f"{self.source}: {len(self.arrivals_s)} arrivals but "
                             f"{len(self.service_s)} service times")
        if len(self.arrivals_s) == 0:
            raise ValueError(f"{self.source}: no requests")
        if self.horizon_s <= 0:
            raise ValueError(f"{self.source}: horizon must be positive")

    @property
    def mean_service_s(self) -> float:
        """Mean reference service time of a request."""
        return float(self.service_s.mean())


@dataclass(frozen=True)
class BatchRun:
    """One run of a batch stage: when it is submitted and what it must compute."""

    submit_s: float
    work_s: Any
    divisible: bool = False
    epochs: int = 1

    @property
    def total_work_s(self) -> float:
        """Reference-server seconds of the whole run."""
        return float(self.work_s.sum())


@dataclass(frozen=True)
class BatchLoad:
    """Runs of a batch stage over a window."""

    runs: tuple[BatchRun, ...]
    horizon_s: float
    source: str
    schedule_known: bool = field(
        default=False,
        metadata={"doc": "submissions follow a schedule a predictive scaler can know"})

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError(f"{self.source}: no runs")
        if self.horizon_s <= 0:
            raise ValueError(f"{self.source}: horizon must be positive")


def online_load_from_arrivals(arrivals_s: Any, *, service_mean_s: float, service_cv2: float,
                              seed: int, source: str, horizon_s: float | None = None
                              ) -> OnlineLoad:
    """Recorded arrivals with lognormal service times of a given mean and cv² (seeded).

    For a user's own arrival file when no per-request service times were recorded: the
    arrivals are replayed as recorded, the service times are drawn.
    """
    import numpy as np

    from airflow_cloudplan.simulate.queue import draw

    arrivals = np.asarray(arrivals_s, dtype=float)
    rng = np.random.default_rng(seed)
    service = draw(rng, service_mean_s, service_cv2, len(arrivals), "lognormal")
    span = float(arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 1.0
    return OnlineLoad(arrivals - arrivals[0], service, horizon_s or max(span, 1.0), source)


__all__ = ["BatchLoad", "BatchRun", "OnlineLoad", "online_load_from_arrivals"]
