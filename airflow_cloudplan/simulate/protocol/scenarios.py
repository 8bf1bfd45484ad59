"""The evaluation's scenarios: a declared pipeline (YAML next to this file) and its traces.

A :class:`Scenario` says which stage the traces drive, what the Workload Profiler is fed
(one row per run or request: arrival time and duration on the reference server), and
how each seed's workload is replayed. The reference server is one device of the stage's
preferred accelerator (an A10G here); the spec's one-vCPU figures are that × the declared
``accelerator_speedup`` (the planner's convention, docs/models.md §2).

Randomness per seed is only what operation leaves to chance: which job of the pool a
Helios submission is (training), the order items of a batch are picked up (batch
inference), the Poisson arrivals within each 10-second step of the measured QPS curve and
which recorded execution time each request gets (GenAI), and the phase of the
autoscaler's evaluation clock (all). The Azure requests are replayed exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_cloudplan.simulate.protocol import traces
from airflow_cloudplan.simulate.workload import BatchLoad, BatchRun, OnlineLoad

SPECS = Path(__file__).with_name("scenarios")

LLM_PREFILL_TOKENS_PER_S = 4000.0
"""Prompt tokens one A10G processes per second for a 7B model in fp16 (batch of one):
an engineering figure, not a measurement; it sets only the scale of service times."""
LLM_DECODE_S_PER_TOKEN = 0.025
"""Seconds per generated token of that model on one A10G (40 tokens/s)."""
RESPONSE_BYTES_PER_TOKEN = 4.0
"""Bytes a generated token adds to an API response (UTF-8 text + JSON framing)."""
GENAI_RESPONSE_BYTES = 1_500_000.0
"""Bytes of one generated image returned by the API (a 1024×1024 PNG)."""


@dataclass(frozen=True)
class Scenario:
    """One scenario of the protocol."""

    key: str
    title: str
    spec: Path
    stage: str
    mode: str
    sources: tuple[str, ...]
    mapping: str
    profile_rows: Callable[[], Iterator[tuple[float, float]]] | None
    load: Callable[[int], OnlineLoad | BatchLoad]
    facts: dict[str, str] = field(default_factory=dict)
    online_plot: bool = False
    other_loads: Callable[[int], dict[str, OnlineLoad | BatchLoad]] | None = None
    """Workloads of the pipeline's other stages (a user's own multi-stage pipeline)."""

    def loads(self, seed: int) -> dict[str, OnlineLoad | BatchLoad]:
        """Every stage's workload for one seed."""
        out = dict(self.other_loads(seed)) if self.other_loads else {}
        out[self.stage] = self.load(seed)
        return out


def _rng(seed: int, salt: int) -> Any:
    import numpy as np

    return np.random.default_rng([seed, salt])


def training(data_dir: Path, window_s: float | None = None) -> Scenario:
    """Helios GPU-job submissions × Alibaba best-effort GPU job sizes, one fleet."""
    import numpy as np

    tr = traces.training_trace(data_dir)
    horizon = min(31 * 86400.0, window_s or math.inf)
    keep = (tr.submissions - tr.start) < horizon
    tr = traces.TrainingTrace(tr.submissions[keep], tr.job_work_s, tr.start)
    rel = tr.submissions - tr.start

    def jobs(seed: int) -> Any:
        rng = _rng(seed, 1)
        return rng.choice(tr.job_work_s, size=len(rel), replace=True)

    def rows() -> Iterator[tuple[float, float]]:
        offsets = _rng(0, 2).uniform(0.0, 60.0, len(rel))
        for t, off, w in zip(tr.submissions, offsets, jobs(0), strict=True):
            yield float(t + off), float(w)

    def load(seed: int) -> BatchLoad:
        offsets = _rng(seed, 2).uniform(0.0, 60.0, len(rel))
        runs = tuple(BatchRun(float(t + o), np.array([w]), divisible=True, epochs=3)
                     for t, o, w in zip(rel, offsets, jobs(seed), strict=True))
        return BatchLoad(tuple(sorted(runs, key=lambda r: r.submit_s)), horizon, "training")

    return Scenario(
        key="training", title="Offline training: Helios submissions × Alibaba GPU jobs",
        spec=SPECS / "training.yaml", stage="train", mode="batch",
        sources=(traces.HELIOS, traces.PODS),
        mapping=(f"{len(rel):,} GPU-job submissions of Helios VC vc6YE (May 2020, "
                 "minute resolution, offset uniformly within the minute) each draw one job "
                 f"from the {len(tr.job_work_s):,} best-effort GPU pods of the Alibaba "
                 "trace that ended (work = lifetime × GPUs requested, reference-GPU "
                 "seconds); a job runs 3 epochs over the corpus, data-parallel on every GPU "
                 "of the fleet, jobs first come first served"),
        profile_rows=rows, load=load,
        facts={"jobs": f"{len(rel):,}", "window": f"{horizon / 86400:g} days",
               "mean job work": f"{tr.job_work_s.mean() / 3600:.2f} GPU-h",
               "p99 job work": f"{np.quantile(tr.job_work_s, 0.99) / 3600:.2f} GPU-h"})


def batch_inference(data_dir: Path, window_s: float | None = None) -> Scenario:
    """Each complete UTC day of LoRA requests is one batch, due 3 h after midnight."""
    import numpy as np

    lora = traces.lora_days(data_dir)
    if window_s is not None:
        days = max(2, int(window_s // 86400))  # arrival statistics need two runs
        lora = traces.LoraDays(lora.days[:days], lora.exec_s[:days], lora.all_exec_s)
    start = lora.days[0] + 86400.0
    horizon = len(lora.days) * 86400.0

    def rows() -> Iterator[tuple[float, float]]:
        for day, work in zip(lora.days, lora.exec_s, strict=True):
            yield day + 86400.0, float(work.sum())

    def load(seed: int) -> BatchLoad:
        rng = _rng(seed, 3)
        runs = tuple(BatchRun(day + 86400.0 - start, rng.permutation(work))
                     for day, work in zip(lora.days, lora.exec_s, strict=True))
        return BatchLoad(runs, horizon, "batch_inference", schedule_known=True)

    sizes = [len(w) for w in lora.exec_s]
    return Scenario(
        key="batch_inference", title="Batch inference with a deadline: Alibaba GenAI requests",
        spec=SPECS / "batch_inference.yaml", stage="render", mode="batch",
        sources=(traces.LORA,),
        mapping=(f"the {sum(sizes):,} requests of the {len(sizes)} complete UTC days of the "
                 "LoRA request trace; day d's requests form the batch submitted at midnight "
                 "after d, each item holds one GPU for its recorded exec_time_seconds (items "
                 "in a seeded random order)"),
        profile_rows=rows, load=load,
        facts={"batches": str(len(sizes)), "items per batch": f"{min(sizes)}–{max(sizes)}",
               "work per batch": f"{min(w.sum() for w in lora.exec_s) / 3600:.1f}–"
                                 f"{max(w.sum() for w in lora.exec_s) / 3600:.1f} GPU-h",
               "p95 item": f"{np.quantile(np.concatenate(lora.exec_s), 0.95):.0f} s"})


def llm_service_s(context: Any, generated: Any) -> Any:
    """Service time of an LLM request on one A10G from its token counts."""
    return context / LLM_PREFILL_TOKENS_PER_S + generated * LLM_DECODE_S_PER_TOKEN


def online_azure(data_dir: Path, window_s: float | None = None) -> Scenario:
    """The Azure LLM code trace replayed as recorded; token-derived service times."""
    az = traces.azure_requests(data_dir)
    if window_s is not None:
        keep = az.times - az.times[0] < window_s
        az = traces.AzureRequests(az.times[keep], az.context_tokens[keep],
                                  az.generated_tokens[keep])
    service = llm_service_s(az.context_tokens, az.generated_tokens)
    rel = az.times - az.times[0]
    horizon = float(rel[-1])

    def rows() -> Iterator[tuple[float, float]]:
        for t, s in zip(az.times, service, strict=True):
            yield float(t), float(s)

    def load(seed: int) -> OnlineLoad:
        return OnlineLoad(rel, service, horizon, "azure",
                          response_bytes=az.generated_tokens * RESPONSE_BYTES_PER_TOKEN)

    per_s = _per_window_peak(rel, 1.0)
    per_min = _per_window_peak(rel, 60.0)
    return Scenario(
        key="online_llm", title="Online inference: Azure LLM code trace",
        spec=SPECS / "online_azure.yaml", stage="serve", mode="online",
        sources=(traces.AZURE,),
        mapping=(f"{len(rel):,} requests at their recorded timestamps (one hour); service "
                 f"time = prompt tokens / {LLM_PREFILL_TOKENS_PER_S:,.0f} per s + generated "
                 f"tokens × {LLM_DECODE_S_PER_TOKEN * 1000:.0f} ms on one A10G (no batching "
                 "across requests); each response returns its tokens to the internet"),
        profile_rows=rows, load=load, online_plot=True,
        facts={"requests": f"{len(rel):,}", "mean rate": f"{len(rel) / horizon:.2f} req/s",
               "busiest second": f"{per_s:.0f} req", "busiest minute": f"{per_min:.0f} req",
               "mean service": f"{service.mean():.2f} s"})


def online_genai(data_dir: Path, window_s: float | None = None) -> Scenario:
    """The GenAI platform's QPS curve replayed with LoRA execution times."""
    import numpy as np

    curve = traces.genai_qps(data_dir)
    if window_s is not None:
        steps = max(1, int(window_s // curve.step_s))
        curve = traces.QpsCurve(curve.start, curve.step_s, curve.rate[:steps], curve.containers)
    pool = traces.lora_days(data_dir).all_exec_s
    horizon = len(curve.rate) * curve.step_s

    def requests(seed: int) -> tuple[Any, Any]:
        rng = _rng(seed, 4)
        arrivals = traces.poisson_arrivals(curve, rng)
        return arrivals, rng.choice(pool, size=len(arrivals), replace=True)

    def rows() -> Iterator[tuple[float, float]]:
        arrivals, service = requests(0)
        for t, s in zip(arrivals, service, strict=True):
            yield float(curve.start + t), float(s)

    def load(seed: int) -> OnlineLoad:
        arrivals, service = requests(seed)
        return OnlineLoad(arrivals, service, horizon, "genai",
                          response_bytes=np.full(len(arrivals), GENAI_RESPONSE_BYTES))

    return Scenario(
        key="online_genai", title="Online inference: Alibaba GenAI QPS replayed",
        spec=SPECS / "online_genai.yaml", stage="serve", mode="online",
        sources=(traces.QPS, traces.LORA),
        mapping=(f"the measured generative QPS of {curve.containers} containers summed "
                 f"(each sample held until the next, at most {traces.QPS_MAX_HOLD_S:.0f} s) "
                 f"over {horizon / 3600:.1f} h, replayed as Poisson arrivals within each "
                 f"{curve.step_s:.0f}-second step; each request's service time is a recorded "
                 "exec_time_seconds of the LoRA request trace"),
        profile_rows=rows, load=load, online_plot=True,
        facts={"window": f"{horizon / 3600:.1f} h",
               "mean rate": f"{float(curve.rate.mean()):.2f} req/s",
               "peak 10-s rate": f"{float(curve.rate.max()):.1f} req/s",
               "mean service": f"{float(pool.mean()):.1f} s"})


def _per_window_peak(times: Any, window_s: float) -> float:
    import numpy as np

    counts = np.bincount((times // window_s).astype(int))
    return float(counts.max())


BUILTIN: tuple[Callable[[Path, float | None], Scenario], ...] = (
    training, batch_inference, online_azure, online_genai)
"""The paper's three scenarios (online inference on two traces), in report order."""


SCENARIO_KEYS = ("training", "batch_inference", "online_llm", "online_genai")


def builtin_scenarios(data_dir: Path, only: tuple[str, ...] = (),
                      window_s: float | None = None) -> list[Scenario]:
    """Build the scenarios whose key is in ``only`` (all when empty).

    ``window_s`` cuts every trace to its first ``window_s`` seconds (a reduced run).
    """
    out = []
    for key, make in zip(SCENARIO_KEYS, BUILTIN, strict=True):
        if only and key not in only:
            continue
        out.append(make(data_dir, window_s))
    return out


__all__ = ["BUILTIN", "SCENARIO_KEYS", "Scenario", "builtin_scenarios", "llm_service_s"]
