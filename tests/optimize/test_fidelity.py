"""Model fidelity: accelerator count and pre-warmed (predictive) start-up.

Both were found by hand-checking ``cloudplan evaluate`` on the bundled catalog: train time
followed the host's vCPUs instead of the GPUs, and predictive scaling with
``replicas_min = 0`` paid the pre-warm and still waited for the cold start.
"""

from __future__ import annotations

import math

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.model import (
    AccessStrategy,
    Isolation,
    Pipeline,
    PlanningInput,
    Policy,
    ScalingPolicy,
    StageOption,
)
from airflow_cloudplan.optimize.demand import (
    DATA_PARALLEL_EFFICIENCY,
    data_parallel_speedup,
    resolve_demand,
)
from airflow_cloudplan.optimize.latency import batch_breakdown, online_breakdown


def _input() -> PlanningInput:
    pipeline = Pipeline.model_validate({
        "name": "fidelity",
        "candidate_regions": ["us-east-1"],
        "stages": [
            {"name": "train", "kind": "train",
             "compute": {"vcpu_seconds": 80_000, "memory_gib": 8, "parallel_fraction": 1.0,
                         "accelerator": "A10G", "accelerator_speedup": 8}},
            {"name": "serve", "kind": "serve", "mode": "online",
             "load": {"mean_rps": 0.0005},
             "compute": {"service_ms_per_request": 50, "memory_gib": 4}},
        ],
    })
    return PlanningInput(pipeline=pipeline, policy=Policy(), catalog=load_catalog("aws"))


def _opt(stage: str, itype: str, tier: str = "aws-ec2", **kw: object) -> StageOption:
    base: dict[str, object] = {
        "stage": stage, "region": "us-east-1", "zone": "use1-az1", "tier": tier,
        "instance_type": itype, "replicas_min": 1, "replicas_max": 1,
        "scaling": ScalingPolicy.STATIC, "access": AccessStrategy.DIRECT,
        "isolation": Isolation.SCOPED,
    }
    base.update(kw)
    return StageOption.model_validate(base)


def _compute_s(inp: PlanningInput, itype: str, replicas: int = 1) -> float:
    option = _opt("train", itype, replicas_min=replicas, replicas_max=replicas)
    return batch_breakdown(inp, option, resolve_demand(inp, "train"))["compute_s"]


def test_speedup_law() -> None:
    assert data_parallel_speedup(1) == 1.0
    assert data_parallel_speedup(2) == pytest.approx(2 * DATA_PARALLEL_EFFICIENCY)
    assert data_parallel_speedup(8) == pytest.approx(8 * DATA_PARALLEL_EFFICIENCY**3)


def test_one_gpu_types_train_equally_fast_whatever_their_host_vcpus() -> None:
    inp = _input()
    assert _compute_s(inp, "g5.xlarge") == pytest.approx(80_000 / 8)  # 4 vCPUs, 1 GPU
    assert _compute_s(inp, "g5.4xlarge") == pytest.approx(80_000 / 8)  # 16 vCPUs, 1 GPU


def test_gpu_count_gives_data_parallel_speedup() -> None:
    inp = _input()
    four, eight = _compute_s(inp, "g5.12xlarge"), _compute_s(inp, "g5.48xlarge")
    assert four == pytest.approx(80_000 / 8 / data_parallel_speedup(4))
    assert four / eight == pytest.approx(2 * DATA_PARALLEL_EFFICIENCY)
    # Four one-GPU replicas are as fast as one four-GPU instance.
    assert _compute_s(inp, "g5.xlarge", replicas=4) == pytest.approx(four)


def test_predictive_scale_from_zero_is_pre_warmed_in_batch() -> None:
    inp = _input()
    demand = resolve_demand(inp, "train")
    pred = _opt("train", "g5.xlarge", replicas_min=0, scaling=ScalingPolicy.PREDICTIVE)
    rule = _opt("train", "g5.xlarge", replicas_min=0, scaling=ScalingPolicy.RULE_BASED)
    assert batch_breakdown(inp, pred, demand)["startup_s"] == 0.0
    assert batch_breakdown(inp, rule, demand)["startup_s"] == pytest.approx(90.0)


def test_predictive_scale_to_zero_adds_no_cold_start_online() -> None:
    inp = _input()
    demand = resolve_demand(inp, "serve")
    kw = {"replicas_min": 0, "replicas_max": 2}
    pred = _opt("serve", "m7i.large", "aws-fargate", scaling=ScalingPolicy.PREDICTIVE, **kw)
    rule = _opt("serve", "m7i.large", "aws-fargate", scaling=ScalingPolicy.RULE_BASED, **kw)
    p, r = online_breakdown(inp, pred, demand), online_breakdown(inp, rule, demand)
    assert p["cold_share"] == 0.0
    assert r["cold_share"] == pytest.approx(math.exp(-0.0005 * 600))
    assert p["p95_ms"] < 1000.0 < r["p95_ms"]
