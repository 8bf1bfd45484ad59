"""Batch and training operation: queueing of runs, data placement, scaling from zero."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_cloudplan.model import AccessStrategy, ScalingPolicy, StorageKind
from airflow_cloudplan.simulate.batch import simulate_batch
from airflow_cloudplan.simulate.billing import SECONDS_PER_MONTH
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.facts import stage_facts
from airflow_cloudplan.simulate.forecast import forecast_from_times
from airflow_cloudplan.simulate.workload import BatchLoad, BatchRun

from .conftest import catalog, one_stage, option

NO_CKPT = SimConfig(checkpoint_interval_s=1e9)


def gpu_stage(**kw: object) -> object:
    return one_stage("batch", compute={"accelerator": "A10G", "memory_gib": 8}, **kw)


def test_runs_wait_first_come_first_served() -> None:
    facts = stage_facts(catalog(), gpu_stage(), option(instance_type="g5.xlarge"), NO_CKPT)
    runs = (BatchRun(0.0, np.array([3600.0]), divisible=True),
            BatchRun(1.0, np.array([3600.0]), divisible=True))
    out = simulate_batch(catalog(), facts, BatchLoad(runs, 86400.0, "fcfs"), NO_CKPT, seed=0)
    assert out.completion_s == pytest.approx([3600.0, 7199.0])


def _epochs(access: AccessStrategy, runs: int = 2) -> object:
    pipe = gpu_stage(reads=["corpus"], datasets=[
        {"name": "corpus", "uri": "s3://c/", "size_gb": 100, "home_region": "eu-west-1",
         "growth_gb_per_day": 2}])
    facts = stage_facts(catalog(), pipe, option(instance_type="g5.xlarge", access=access),
                        NO_CKPT)
    load = BatchLoad(tuple(BatchRun(i * 43200.0, np.array([600.0]), divisible=True, epochs=3)
                           for i in range(runs)), 86400.0, "epochs")
    return simulate_batch(catalog(), facts, load, NO_CKPT, seed=0)


def test_direct_reads_cross_the_ocean_every_epoch() -> None:
    out = _epochs(AccessStrategy.DIRECT)
    assert out.meter.egress_gb == pytest.approx(2 * 3 * 100.0)


def test_fill_and_keep_cache_hits_only_what_it_holds() -> None:
    out = _epochs(AccessStrategy.REGIONAL_CACHE)
    # Run 1: epoch 1 cold (100 GB), epochs 2-3 hit 25 GB each; run 2: 75 GB × 3.
    assert out.meter.egress_gb == pytest.approx(100 + 2 * 75 + 3 * 75)
    assert out.meter.storage_usd > 0


def test_a_replica_reads_locally_and_pays_storage_and_sync() -> None:
    cat = catalog()
    out = _epochs(AccessStrategy.SELECTIVE_REPLICATION)
    months = out.span_s / SECONDS_PER_MONTH
    # Growth (2 GB/day) crosses as it happens; the 100 GB first copy is spread over 12 months.
    assert out.meter.egress_gb == pytest.approx(2 * out.span_s / 86400 + 100 * months / 12)
    obj = cat.storage_class(StorageKind.OBJECT)
    gets = 2 * 3 * 100 * 1000 / 64 / 1000 * obj.usd_per_1k_reads
    assert out.meter.storage_usd == pytest.approx(
        100 * obj.usd_per_gb_month["us-east-1"] * months + gets)


def test_rule_based_fleet_starts_on_demand_and_pre_warmed_one_does_not_wait() -> None:
    cat = catalog()
    runs = (BatchRun(7200.0, np.array([1800.0]), divisible=True),)
    load = BatchLoad(runs, 86400.0, "one")

    def completion(scaling: ScalingPolicy, lo: int, forecast: bool = False) -> float:
        facts = stage_facts(cat, gpu_stage(), option(
            instance_type="g5.xlarge", replicas_min=lo, replicas_max=1, scaling=scaling),
            NO_CKPT)
        fc = forecast_from_times([7200.0], 3600.0, 86400.0) if forecast else None
        out = simulate_batch(cat, facts, load, NO_CKPT, seed=0, forecast=fc)
        return float(out.completion_s[0])

    static = completion(ScalingPolicy.STATIC, 1)
    rule = completion(ScalingPolicy.RULE_BASED, 0)
    pred = completion(ScalingPolicy.PREDICTIVE, 0, forecast=True)
    launch = stage_facts(cat, gpu_stage(), option(instance_type="g5.xlarge"), NO_CKPT).launch_s
    assert static == pytest.approx(1800.0)
    assert pred == pytest.approx(1800.0)  # pre-warmed one start-up before the window
    assert launch <= rule - static <= launch + 60.0  # next evaluation tick + start-up


def test_items_spread_over_every_server_of_every_replica() -> None:
    cat = catalog()
    facts = stage_facts(cat, gpu_stage(), option(instance_type="g5.12xlarge", replicas_min=2,
                                                 replicas_max=2), NO_CKPT)
    assert facts.slots_per_replica == 4
    runs = (BatchRun(0.0, np.full(80, 10.0)),)
    out = simulate_batch(cat, facts, BatchLoad(runs, 3600.0, "items"), NO_CKPT, seed=0)
    assert out.completion_s[0] == pytest.approx(80 / 8 * 10.0)


def test_cpu_types_run_accelerated_work_slower_by_the_declared_speedup() -> None:
    cat = catalog()
    pipe = one_stage("batch", compute={"accelerator": "A10G", "accelerator_speedup": 50,
                                       "memory_gib": 8})
    facts = stage_facts(cat, pipe, option(instance_type="m7i.large"), NO_CKPT)
    assert facts.slowdown == 50 and facts.slots_per_replica == 2
    runs = (BatchRun(0.0, np.full(2, 1.0)),)
    out = simulate_batch(cat, facts, BatchLoad(runs, 3600.0, "cpu"), NO_CKPT, seed=0)
    assert out.completion_s[0] == pytest.approx(50.0)
