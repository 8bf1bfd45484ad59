"""The trace-driven simulator against closed forms (written here, not imported).

* M/M/c: a static fleet of c servers fed Poisson arrivals with exponential service must
  reproduce Erlang-C's mean response and the exact p95 of T = W + S.
* A deterministic batch: N equal items on P servers finish after ⌈N/P⌉ item times; items
  behind a slow input stream finish one item after the stream ends.
* A data-parallel job: work / S(G) on G devices, plus its checkpoint pauses.
* Spot interruptions with checkpoints: each segment of length L costs
  (e^{λL} − 1)(1/λ + R) in expectation (exponential failures, restart R).
* Cost: a static fleet pays exactly replicas × price × time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from airflow_cloudplan.model import ScalingPolicy
from airflow_cloudplan.simulate.batch import simulate_batch
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.facts import read_rate_mb_s, stage_facts
from airflow_cloudplan.simulate.online import simulate_online
from airflow_cloudplan.simulate.workload import BatchLoad, BatchRun, OnlineLoad

from .conftest import catalog, one_stage, option


def erlang_c(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b / (1.0 - a / c * (1.0 - b))


def mmc_tail(t: float, lam: float, mu: float, c: int) -> float:
    """P(T > t) for M/M/c FIFO: T = S + W, W | W>0 ~ Exp(cμ − λ)."""
    prob_wait = erlang_c(c, lam / mu)
    theta = c * mu - lam
    both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1.0 - prob_wait) * math.exp(-mu * t) + prob_wait * both


def mmc_p95(lam: float, mu: float, c: int) -> float:
    lo, hi = 0.0, 100.0 / mu
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mmc_tail(mid, lam, mu, c) > 0.05 else (lo, mid)
    return hi


@pytest.mark.parametrize(("itype", "servers", "rho"),
                         [("m7i.large", 2, 0.6), ("m7i.xlarge", 4, 0.8),
                          ("m7i.2xlarge", 8, 0.7)])
def test_static_fleet_is_mmc(itype: str, servers: int, rho: float) -> None:
    service = 0.1
    lam = rho * servers / service
    rng = np.random.default_rng(11)
    n = 300_000
    arrivals = np.cumsum(rng.exponential(1.0 / lam, n))
    load = OnlineLoad(arrivals, rng.exponential(service, n), float(arrivals[-1]), "M/M/c")
    facts = stage_facts(catalog(), one_stage(), option(instance_type=itype), SimConfig())
    assert facts.slots_per_replica == servers
    out = simulate_online(catalog(), facts, load, SimConfig(), seed=0)
    resp = out.response_s[n // 20:]
    mu = 1.0 / service
    mean = 1.0 / mu + erlang_c(servers, lam / mu) / (servers * mu - lam)
    assert resp.mean() == pytest.approx(mean, rel=0.03)
    assert np.quantile(resp, 0.95) == pytest.approx(mmc_p95(lam, mu, servers), rel=0.03)


def test_static_fleet_pays_replicas_times_price_times_time() -> None:
    cat = catalog()
    arrivals = np.linspace(0.0, 7200.0, 1000)
    load = OnlineLoad(arrivals, np.full(1000, 0.01), 7200.0, "flat")
    opt = option(replicas_min=3, replicas_max=3)
    facts = stage_facts(cat, one_stage(), opt, SimConfig())
    out = simulate_online(cat, facts, load, SimConfig(), seed=0)
    price = cat.price("m7i.xlarge", "us-east-1")
    assert price is not None
    assert out.span_s == pytest.approx(7200.01)  # billed until the last request finished
    assert out.meter.compute_usd == pytest.approx(
        3 * price.on_demand_usd_per_hour * out.span_s / 3600.0)
    assert out.meter.storage_usd == 0.0
    assert out.meter.egress_usd == 0.0
    assert out.launches == 0


def test_deterministic_batch_makespan() -> None:
    cat = catalog()
    pipe = one_stage("batch")
    facts = stage_facts(cat, pipe, option(instance_type="m7i.2xlarge", replicas_min=2,
                                          replicas_max=2), SimConfig())
    assert facts.slots_per_replica * 2 == 16
    runs = tuple(BatchRun(day * 86400.0, np.full(100, 30.0)) for day in range(3))
    out = simulate_batch(cat, facts, BatchLoad(runs, 3 * 86400.0, "det"), SimConfig(), seed=0)
    assert out.completion_s == pytest.approx([math.ceil(100 / 16) * 30.0] * 3)


def test_items_behind_a_slow_input_stream_finish_one_item_after_it() -> None:
    cat = catalog()
    pipe = one_stage("batch", reads=["inputs"], datasets=[
        {"name": "inputs", "uri": "s3://b/i/", "size_gb": 500, "home_region": "eu-west-1"}])
    cfg = SimConfig()
    facts = stage_facts(cat, pipe, option(instance_type="m7i.2xlarge"), cfg)
    rate = read_rate_mb_s(cat, cfg, src="eu-west-1", dst="us-east-1", replicas=1)
    stream_s = 500 * 1000.0 / rate
    runs = (BatchRun(0.0, np.full(50, 2.0)),)
    out = simulate_batch(cat, facts, BatchLoad(runs, 86400.0, "io"), cfg, seed=0)
    assert out.completion_s[0] == pytest.approx(stream_s + 2.0)
    assert out.meter.egress_gb == pytest.approx(500.0)
    assert out.meter.egress_usd == pytest.approx(500 * cat.egress.between("eu-west-1",
                                                                          "us-east-1"))


def test_data_parallel_job_speedup_and_checkpoints() -> None:
    cat = catalog()
    pipe = one_stage("batch", compute={"accelerator": "A10G", "memory_gib": 16})
    cfg = SimConfig(checkpoint_interval_s=1e9)
    facts = stage_facts(cat, pipe, option(instance_type="g5.12xlarge"), cfg)
    assert facts.devices_per_replica == 4
    work = 36_000.0
    runs = (BatchRun(0.0, np.array([work]), divisible=True, epochs=2),)
    out = simulate_batch(cat, facts, BatchLoad(runs, 86400.0, "dp"), cfg, seed=0)
    speedup = 4 * 0.9 ** 2
    assert out.completion_s[0] == pytest.approx(work / speedup)
    cfg2 = SimConfig(checkpoint_interval_s=600.0)
    out2 = simulate_batch(cat, facts, BatchLoad(runs, 86400.0, "dp"), cfg2, seed=0)
    write_s = 16 * 1000.0 / read_rate_mb_s(cat, cfg2, src="us-east-1", dst="us-east-1",
                                           replicas=1)
    pauses = math.floor((work / speedup) / 600.0 - 1e-9)
    assert out2.checkpoints == pauses
    assert out2.completion_s[0] == pytest.approx(work / speedup + pauses * write_s, rel=1e-9)


def test_spot_interruptions_with_checkpoints_match_the_expected_segment_time() -> None:
    cat = catalog()
    pipe = one_stage("batch", compute={"accelerator": "A10G", "memory_gib": 4})
    lam_per_h = 1.0
    tau = 1200.0
    cfg = SimConfig(spot_interruptions_per_hour=lam_per_h, checkpoint_interval_s=tau)
    facts = stage_facts(cat, pipe, option(instance_type="g5.xlarge", spot=True), cfg)
    write_s = 4 * 1000.0 / read_rate_mb_s(cat, cfg, src="us-east-1", dst="us-east-1",
                                          replicas=1)
    segments = 4
    runs = tuple(BatchRun(i * 200_000.0, np.array([segments * tau]), divisible=True)
                 for i in range(300))
    out = simulate_batch(cat, facts, BatchLoad(runs, 300 * 200_000.0, "spot"), cfg, seed=5)
    lam = lam_per_h / 3600.0
    restart = facts.launch_s  # a replacement replica; the process restart overlaps it
    full = (math.exp(lam * (tau + write_s)) - 1.0) * (1.0 / lam + restart)
    last = (math.exp(lam * tau) - 1.0) * (1.0 / lam + restart)
    expected = (segments - 1) * full + last
    assert out.interruptions > 100
    assert out.completion_s.mean() == pytest.approx(expected, rel=0.05)


def test_scale_to_zero_makes_the_first_request_wait_for_a_cold_start() -> None:
    cat = catalog()
    facts = stage_facts(cat, one_stage(), option(
        tier="aws-fargate", instance_type="m7i.large", replicas_min=0, replicas_max=2,
        scaling=ScalingPolicy.RULE_BASED), SimConfig())
    # Two requests an hour apart: the fleet scales to zero in between.
    load = OnlineLoad(np.array([0.0, 3600.0]), np.array([0.2, 0.2]), 3700.0, "sparse")
    out = simulate_online(cat, facts, load, SimConfig(), seed=0)
    assert out.response_s[1] == pytest.approx(facts.launch_s + 0.2)
    assert out.cold_waits >= 1
