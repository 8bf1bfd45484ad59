"""Readers of the public traces the evaluation replays (``../shared/data/traces``).

Each reader returns the trace's facts as arrays, with nothing fitted: timestamps stay
timestamps, recorded durations stay durations. How a trace becomes a stage's workload
(and which rows are used, and why) is stated here, next to the code that does it:

* **Helios** (``helios_earth_vc6YE_sequence.csv``): per-minute counts of one GPU virtual
  cluster in May 2020. A minute in which ``total_gpujob_num`` rises by k saw at least k
  GPU-job submissions; they are the training scenario's submission minutes.
* **Alibaba GPU pods** (``alibaba_v2023_openb_pods.csv``): creation → deletion and GPU
  request (``num_gpu`` × ``gpu_milli``/1000) of every pod. Training jobs are the
  best-effort (``qos = BE``) GPU pods whose life ended in the trace (``Succeeded`` or
  ``Failed``; ``Running``/``Pending`` pods are cut off by the trace's end); a job's work is
  its lifetime × GPUs requested, in reference-GPU seconds.
* **Alibaba GenAI LoRA requests** (``alibaba_genai_lora_requests_part1.csv``): the
  recorded ``exec_time_seconds`` of every text-to-image request (on the platform's GPUs).
* **Azure LLM code trace** (``azure_llm_inference_code_2023.csv``): real request
  timestamps with prompt and generated token counts.
* **Alibaba GenAI QPS** (``alibaba_genai_qps.csv``): per-container QPS samples of the
  serving platform; ``Generative Requests`` only (``API Requests`` are control calls).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, ProfileError

HELIOS = "traces/helios_earth_vc6YE_sequence.csv"
PODS = "traces/alibaba_v2023_openb_pods.csv"
LORA = "traces/alibaba_genai_lora_requests_part1.csv"
AZURE = "traces/azure_llm_inference_code_2023.csv"
QPS = "traces/alibaba_genai_qps.csv"

QPS_MAX_HOLD_S = 300.0
"""A container's QPS sample holds until its next sample, at most this long (the median
sampling interval is 114 s; a longer silence means the container is gone)."""


def _open(data_dir: Path, rel: str) -> Any:
    path = data_dir / rel
    if not path.is_file():
        raise ProfileError("a trace of the evaluation is missing", [Problem(
            f"{path} does not exist", file=str(path),
            hint="point --data at the folder holding traces/ (../shared/data)")])
    return path.open(newline="", encoding="utf-8")


def _utc(text: str) -> float:
    return datetime.fromisoformat(text[:26]).replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class TrainingTrace:
    """Submission times (epoch s) and the pool of job work (reference-GPU seconds)."""

    submissions: Any
    job_work_s: Any
    start: float


def training_trace(data_dir: Path) -> TrainingTrace:
    """Helios submission minutes and Alibaba best-effort GPU job sizes."""
    import numpy as np

    subs: list[float] = []
    with _open(data_dir, HELIOS) as fh:
        previous = None
        start = None
        for row in csv.DictReader(fh):
            t = _utc(row["time"])
            start = t if start is None else start
            total = int(row["total_gpujob_num"])
            if previous is not None and total > previous:
                subs.extend([t] * (total - previous))
            previous = total
    work: list[float] = []
    with _open(data_dir, PODS) as fh:
        for row in csv.DictReader(fh):
            if row["qos"] != "BE" or row["pod_phase"] not in ("Succeeded", "Failed"):
                continue
            gpus = float(row["num_gpu"]) * float(row["gpu_milli"]) / 1000.0
            life = float(row["deletion_time"]) - float(row["creation_time"])
            if gpus > 0 and life > 0:
                work.append(life * gpus)
    return TrainingTrace(np.asarray(subs), np.asarray(work), float(start or 0.0))


@dataclass(frozen=True)
class LoraDays:
    """Requests of each complete UTC day: the day's start (epoch s) and execution times."""

    days: tuple[float, ...]
    exec_s: tuple[Any, ...]
    all_exec_s: Any


def lora_days(data_dir: Path) -> LoraDays:
    """The LoRA request trace grouped into complete UTC days."""
    import numpy as np

    by_day: dict[float, list[float]] = defaultdict(list)
    everything: list[float] = []
    first = last = None
    with _open(data_dir, LORA) as fh:
        for row in csv.DictReader(fh):
            if not row["exec_time_seconds"]:
                continue
            t = _utc(row["gmt_create"])
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
            x = float(row["exec_time_seconds"])
            by_day[math.floor(t / 86400.0) * 86400.0].append(x)
            if row["predict_status"] == "SUCCEED":
                everything.append(x)
    assert first is not None and last is not None
    complete = sorted(d for d in by_day if d >= first and d + 86400.0 <= last)
    return LoraDays(tuple(complete), tuple(np.asarray(by_day[d]) for d in complete),
                    np.asarray(everything))


@dataclass(frozen=True)
class AzureRequests:
    """Arrival times (epoch s), prompt and generated tokens of every request."""

    times: Any
    context_tokens: Any
    generated_tokens: Any


def azure_requests(data_dir: Path) -> AzureRequests:
    """The Azure LLM code trace, in arrival order."""
    import numpy as np

    rows: list[tuple[float, int, int]] = []
    with _open(data_dir, AZURE) as fh:
        for row in csv.DictReader(fh):
            rows.append((_utc(row["TIMESTAMP"]), int(row["ContextTokens"]),
                         int(row["GeneratedTokens"])))
    rows.sort()
    arr = np.asarray(rows, dtype=float)
    return AzureRequests(arr[:, 0], arr[:, 1], arr[:, 2])


@dataclass(frozen=True)
class QpsCurve:
    """Total generative QPS as a step function: ``rate[i]`` over [t[i], t[i] + step)."""

    start: float
    step_s: float
    rate: Any
    containers: int


def genai_qps(data_dir: Path, step_s: float = 10.0) -> QpsCurve:
    """Sum over containers of each one's latest QPS sample (sample-and-hold)."""
    import numpy as np

    samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with _open(data_dir, QPS) as fh:
        for row in csv.DictReader(fh):
            if row["request_type"] != "Generative Requests" or not row["container_ip"]:
                continue
            samples[row["container_ip"]].append((float(row["timestamp_anon"]),
                                                 float(row["value"])))
    t0 = min(s[0][0] for s in map(sorted, samples.values()))
    t1 = max(s[-1][0] for s in map(sorted, samples.values()))
    n = math.ceil((t1 - t0) / step_s) + 1
    rate = np.zeros(n)
    for series in samples.values():
        series.sort()
        for (ta, qa), (tb, _) in zip(series, [*series[1:], (series[-1][0] + step_s, 0.0)],
                                     strict=True):
            end = min(tb, ta + QPS_MAX_HOLD_S)
            lo = int((ta - t0) // step_s)
            hi = max(lo + 1, math.ceil((end - t0) / step_s))
            rate[lo:min(hi, n)] += qa
    return QpsCurve(t0, step_s, rate, len(samples))


def poisson_arrivals(curve: QpsCurve, rng: Any) -> Any:
    """Arrival times (s from the curve's start) of a Poisson process with the curve's rate."""
    import numpy as np

    counts = rng.poisson(curve.rate * curve.step_s)
    starts = np.repeat(np.arange(len(counts)) * curve.step_s, counts)
    return np.sort(starts + rng.uniform(0.0, curve.step_s, len(starts)))


__all__ = ["AZURE", "HELIOS", "LORA", "PODS", "QPS", "AzureRequests", "LoraDays", "QpsCurve",
           "TrainingTrace", "azure_requests", "genai_qps", "lora_days", "poisson_arrivals",
           "training_trace"]
