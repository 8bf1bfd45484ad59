"""The evaluation protocol's pieces: trace readers, profiling, readiness, report rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.simulate.protocol import traces
from airflow_cloudplan.simulate.protocol.report import compare, dur
from airflow_cloudplan.simulate.protocol.run import (
    PlanOutcome,
    Stat,
    dominates,
    fill_stage,
    scenario_input,
)
from airflow_cloudplan.simulate.protocol.scenarios import (
    LLM_DECODE_S_PER_TOKEN,
    LLM_PREFILL_TOKENS_PER_S,
    online_azure,
)


@pytest.mark.shared_data
def test_trace_readers_keep_the_traces_facts(shared_data: Path) -> None:
    tr = traces.training_trace(shared_data)
    assert len(tr.submissions) == 1503  # rises of total_gpujob_num in May 2020
    assert len(tr.job_work_s) == 1627  # best-effort GPU pods that ended
    assert tr.job_work_s.min() > 0
    lora = traces.lora_days(shared_data)
    assert len(lora.days) == 16  # complete UTC days 2024-11-16 … 2024-12-01
    assert sum(len(x) for x in lora.exec_s) == 15_541
    az = traces.azure_requests(shared_data)
    assert len(az.times) == 8_819
    assert az.times[-1] - az.times[0] == pytest.approx(3435.9, abs=0.1)
    curve = traces.genai_qps(shared_data)
    assert curve.containers == 107
    assert 3.0 < curve.rate.mean() < 4.5


@pytest.mark.shared_data
def test_the_profiler_measures_the_replayed_trace(shared_data: Path) -> None:
    sc = online_azure(shared_data)
    inp, _sha, profile, filled = scenario_input(sc, load_catalog("aws"))
    assert profile["runs"] == 8_819
    assert profile["rate_per_s"] == pytest.approx(2.57, rel=0.01)
    assert profile["cv2"] > 100  # bursty far beyond Poisson
    az = traces.azure_requests(shared_data)
    mean = (az.context_tokens / LLM_PREFILL_TOKENS_PER_S
            + az.generated_tokens * LLM_DECODE_S_PER_TOKEN).mean()
    assert profile["mean_s"] == pytest.approx(mean, rel=1e-9)
    assert filled["service_ms_per_request"] == pytest.approx(mean * 1000 * 100)
    stage = inp.pipeline.stage_by_name["serve"]
    assert stage.compute.service_ms_per_request == filled["service_ms_per_request"]
    assert inp.profile_of("serve") is not None


def test_fill_stage_converts_reference_device_seconds_to_one_vcpu() -> None:
    from airflow_cloudplan.model.workload import Stage

    gpu = Stage.model_validate({"name": "t", "kind": "train",
                                "compute": {"accelerator": "A10G", "accelerator_speedup": 40}})
    cpu = Stage.model_validate({"name": "s", "kind": "serve", "mode": "online"})
    assert fill_stage(gpu, 10.0)[0].compute.vcpu_seconds == 400.0
    assert fill_stage(cpu, 0.25)[0].compute.service_ms_per_request == 250.0


def _outcome(label: str, cost: float, p95: float, viol: float) -> PlanOutcome:
    def s(v: float) -> Stat:
        return Stat(mean=v, lo=v, hi=v)

    return PlanOutcome(label=label, kind="baseline", options={"s": f"x/{label}"},
                       predicted_cost_usd_month=cost, predicted_latency_s=p95, risk=1.0,
                       sim={"cost_total": s(cost), "p95_s": s(p95), "violation_ratio": s(viol),
                            "latency_s": s(p95)})


def test_compare_names_where_a_plan_wins_and_loses() -> None:
    rec = _outcome("rec", 100.0, 2.0, 0.05)
    base = _outcome("base", 50.0, 3.0, 0.05)
    assert compare(rec, base) == (["p95"], ["cost"])
    assert compare(rec, rec) == ([], [])


def test_dominance_and_durations() -> None:
    assert dominates((1, 1, 1), (1, 2, 1))
    assert not dominates((1, 1, 1), (1, 1, 1))
    assert not dominates((0, 3, 1), (1, 2, 1))
    assert dur(float("inf")) == "∞"
    assert dur(0.25) == "250 ms"
    assert dur(90.0) == "90 s"
    assert dur(3 * 3600.0) == "3 h"
