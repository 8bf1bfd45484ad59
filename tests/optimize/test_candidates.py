from __future__ import annotations

import math

from airflow_cloudplan.model import AccessStrategy, ScalingPolicy
from airflow_cloudplan.optimize.candidates import enumerate_options, enumerate_with_report
from airflow_cloudplan.optimize.latency import stage_latency_ms

from .conftest import make_input, small_pipeline


def test_enumeration_is_deterministic_and_covers_every_stage(tiny_input) -> None:  # type: ignore[no-untyped-def]
    a = enumerate_options(tiny_input)
    b = enumerate_options(tiny_input)
    assert [o.id for v in a.values() for o in v] == [o.id for v in b.values() for o in v]
    assert set(a) == {"prep", "train", "serve"}
    for stage, opts in a.items():
        ids = [o.id for o in opts]
        assert len(ids) == len(set(ids)), stage
        assert {o.scaling for o in opts} == set(ScalingPolicy)


def test_serverless_timeouts_are_reported(tiny_input) -> None:  # type: ignore[no-untyped-def]
    options, report = enumerate_with_report(tiny_input)
    # prep needs ~20 min on one 4-vCPU replica: over the 900 s serverless timeout.
    assert report["prep"].excluded["serverless: run exceeds request timeout"] > 0
    for o in options["prep"]:
        if o.tier == "fn":
            assert stage_latency_ms(tiny_input, "prep", o) <= 900_000


def test_online_options_carry_peak_load(tiny_input) -> None:  # type: ignore[no-untyped-def]
    for o in enumerate_options(tiny_input)["serve"]:
        assert math.isfinite(stage_latency_ms(tiny_input, "serve", o))


def test_access_strategies_follow_data_location(tiny_input) -> None:  # type: ignore[no-untyped-def]
    opts = enumerate_options(tiny_input)
    serve = {o.access for o in opts["serve"]}
    assert serve == {AccessStrategy.DIRECT}  # reads nothing
    at_home = {o.access for o in opts["prep"] if o.region == "r1"}
    assert at_home == {AccessStrategy.DIRECT, AccessStrategy.REGIONAL_CACHE}
    away = {o.access for o in opts["prep"] if o.region == "r2"}
    assert away == set(AccessStrategy)


def test_stage_restrictions_are_respected() -> None:
    p = small_pipeline()
    p["stages"][0].update({"allowed_regions": ["r2"], "tiers": ["vm"], "instance_types": ["cpu.8"]})
    opts = enumerate_options(make_input(p))["prep"]
    assert opts
    assert {(o.region, o.tier, o.instance_type) for o in opts} == {("r2", "vm", "cpu.8")}


def test_memory_sizes_the_shortlist() -> None:
    p = small_pipeline()
    p["stages"][0]["compute"]["memory_gib"] = 20
    opts = enumerate_options(make_input(p))["prep"]
    assert {o.instance_type for o in opts} == {"cpu.8"}
