"""Online operation: autoscaling as it runs, start-up data loading, spot, lookups, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_cloudplan.model import AccessStrategy, ScalingPolicy
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.facts import read_rate_mb_s, rtt_s, stage_facts
from airflow_cloudplan.simulate.forecast import forecast_from_times
from airflow_cloudplan.simulate.online import simulate_online
from airflow_cloudplan.simulate.workload import OnlineLoad

from .conftest import catalog, one_stage, option

STEP_AT = 1200.0


def step_load() -> OnlineLoad:
    """1 req/s for 20 min, then 8 req/s for 20 min; every request takes 1 s."""
    rng = np.random.default_rng(4)
    before = np.cumsum(rng.exponential(1.0, 1500))
    before = before[before < STEP_AT]
    after = STEP_AT + np.cumsum(rng.exponential(1 / 8.0, 12000))
    after = after[after < 2 * STEP_AT]
    arrivals = np.concatenate([before, after])
    return OnlineLoad(arrivals, np.ones(len(arrivals)), 2 * STEP_AT, "step")


def run(scaling: ScalingPolicy, *, lo: int = 1, hi: int = 12, forecast: bool = False,
        seed: int = 0) -> tuple[np.ndarray, object]:
    load = step_load()
    facts = stage_facts(catalog(), one_stage(slo={"p95_ms": 3000}), option(
        instance_type="m7i.large", replicas_min=lo, replicas_max=hi, scaling=scaling),
        SimConfig())
    fc = forecast_from_times(load.arrivals_s, 600.0, load.horizon_s) if forecast else None
    out = simulate_online(catalog(), facts, load, SimConfig(), seed=seed, forecast=fc)
    return out.response_s, out


def test_threshold_rules_react_late_and_then_catch_up() -> None:
    resp, out = run(ScalingPolicy.RULE_BASED)
    arrivals = step_load().arrivals_s
    first = (arrivals >= STEP_AT) & (arrivals < STEP_AT + 300)
    settled = arrivals >= STEP_AT + 900
    assert np.mean(resp[first] > 3.0) > 0.3  # the burst outruns one evaluation + start-up
    assert np.mean(resp[settled] > 3.0) < 0.05
    assert max(r for _, r, _ in out.timeline) >= 6  # ⌈8 × 1 s / (2 slots × 0.7)⌉ = 6
    assert out.launches >= 5


def test_predictive_prewarms_for_the_forecast_step() -> None:
    rule, _ = run(ScalingPolicy.RULE_BASED)
    pred, out = run(ScalingPolicy.PREDICTIVE, forecast=True)
    arrivals = step_load().arrivals_s
    first = (arrivals >= STEP_AT) & (arrivals < STEP_AT + 300)
    assert np.mean(pred[first] > 3.0) < 0.05 < np.mean(rule[first] > 3.0)
    # Ready before the step: one start-up ahead of the forecast window.
    ready_at_step = [r for t, r, _ in out.timeline if t <= STEP_AT][-1]
    assert ready_at_step >= 6


def test_static_pays_its_replicas_and_never_launches() -> None:
    resp, out = run(ScalingPolicy.STATIC, lo=6, hi=6)
    assert out.launches == 0
    assert np.quantile(resp, 0.95) < 3.0


def test_same_seed_same_result_and_seed_changes_the_autoscaler_phase() -> None:
    a, out_a = run(ScalingPolicy.RULE_BASED, seed=3)
    b, out_b = run(ScalingPolicy.RULE_BASED, seed=3)
    c, _ = run(ScalingPolicy.RULE_BASED, seed=4)
    assert np.array_equal(a, b)
    assert out_a.meter.compute_usd == out_b.meter.compute_usd
    assert not np.array_equal(a, c)


def _three_requests(access: AccessStrategy, size_gb: float) -> tuple[object, object]:
    """Requests an hour apart: the fleet (warm at the start) scales to zero in between."""
    cat = catalog()
    pipe = one_stage(reads=["weights"], datasets=[
        {"name": "weights", "uri": "s3://m/", "size_gb": size_gb, "home_region": "eu-west-1"}])
    facts = stage_facts(cat, pipe, option(
        instance_type="m7i.large", replicas_min=0, replicas_max=2, tier="aws-fargate",
        scaling=ScalingPolicy.RULE_BASED, access=access), SimConfig())
    load = OnlineLoad(np.array([0.0, 3600.0, 7200.0]), np.full(3, 0.5), 7300.0, "three")
    return facts, simulate_online(cat, facts, load, SimConfig(), seed=0)


def test_new_replicas_load_their_model_across_regions_and_pay_egress() -> None:
    cat = catalog()
    facts, out = _three_requests(AccessStrategy.DIRECT, 14.0)
    rate = read_rate_mb_s(cat, SimConfig(), src="eu-west-1", dst="us-east-1", replicas=1)
    assert out.launches == 2  # woken from zero twice; the first replica was warm
    assert out.cold_waits == 2
    assert out.response_s[0] == pytest.approx(0.5)
    assert out.response_s[1] == pytest.approx(facts.launch_s + 14_000 / rate + 0.5)
    assert out.meter.egress_gb == pytest.approx(28.0)
    assert out.meter.egress_usd == pytest.approx(28 * cat.egress.between("eu-west-1",
                                                                         "us-east-1"))


def test_a_regional_cache_serves_part_of_each_load_and_costs_storage() -> None:
    _, out = _three_requests(AccessStrategy.REGIONAL_CACHE, 20.0)
    assert out.meter.egress_gb == pytest.approx(2 * 20.0 * 0.75)  # 25 % from the cache
    assert out.meter.storage_usd > 0


def test_remote_lookups_add_a_round_trip_per_request() -> None:
    cat = catalog()
    pipe = one_stage(reads=["features"], datasets=[
        {"name": "features", "uri": "s3://f/", "size_gb": 100, "home_region": "eu-west-1",
         "archetype": "random_read"}])
    facts = stage_facts(cat, pipe, option(replicas_min=4, replicas_max=4), SimConfig())
    arrivals = np.arange(0.0, 100.0, 1.0)
    load = OnlineLoad(arrivals, np.full(100, 0.05), 100.0, "lookups")
    out = simulate_online(cat, facts, load, SimConfig(), seed=0)
    assert out.response_s == pytest.approx(np.full(100, 0.05 + rtt_s(cat, "eu-west-1",
                                                                      "us-east-1")))
    assert 0.06 < rtt_s(cat, "eu-west-1", "us-east-1") < 0.09  # measured ~70 ms


def test_spot_interruptions_requeue_the_lost_requests() -> None:
    cat = catalog()
    cfg = SimConfig(spot_interruptions_per_hour=30.0)
    facts = stage_facts(cat, one_stage(), option(replicas_min=2, replicas_max=2, spot=True),
                        cfg)
    arrivals = np.arange(0.0, 3600.0, 0.5)
    load = OnlineLoad(arrivals, np.full(len(arrivals), 4.0), 3600.0, "spot")
    out = simulate_online(cat, facts, load, cfg, seed=1)
    assert out.interruptions > 20
    assert not np.isnan(out.response_s).any()  # nothing is lost
    assert out.response_s.min() >= 4.0
    assert out.launches >= out.interruptions  # a replacement for every interrupted replica
    price = cat.price("m7i.xlarge", "us-east-1")
    assert price is not None and price.spot_usd_per_hour is not None
    assert out.meter.compute_usd == pytest.approx(
        out.meter.replica_seconds / 3600 * price.spot_usd_per_hour)
