from __future__ import annotations

import pytest

from airflow_cloudplan.errors import CatalogError
from airflow_cloudplan.model import AccessStrategy, Isolation, ScalingPolicy, StageOption
from airflow_cloudplan.optimize.cost import stage_cost

from .conftest import make_input, small_pipeline


def opt(stage: str, region: str = "r1", **kw: object) -> StageOption:
    base: dict[str, object] = {
        "stage": stage,
        "region": region,
        "zone": f"{region}a",
        "tier": "vm",
        "instance_type": "cpu.4",
        "replicas_min": 1,
        "replicas_max": 1,
        "scaling": ScalingPolicy.STATIC,
        "access": AccessStrategy.DIRECT,
        "isolation": Isolation.SCOPED,
    }
    base.update(kw)
    return StageOption.model_validate(base)


def test_static_local_batch_pays_peak_capacity_all_month(tiny_input) -> None:  # type: ignore[no-untyped-def]
    c = stage_cost(tiny_input, "prep", opt("prep"))
    assert c.compute_usd == pytest.approx(0.2 * 730)
    # prep reads raw at home (r1) but writes feats to its home r2: the whole 10 GB
    # dataset (no growth: rewritten each run) crosses r1 → r2 every run.
    assert c.network_usd == pytest.approx(10 * 30.4 * 0.02)
    assert c.storage_usd == 0.0


def test_writes_to_a_remote_home_pay_egress_and_growth_sets_the_volume() -> None:
    p = small_pipeline()
    p["datasets"][1]["growth_gb_per_day"] = 2.0  # appends 2 GB a day, one run a day
    c = stage_cost(make_input(p), "prep", opt("prep"))
    assert c.network_usd == pytest.approx(2 * 30.4 * 0.02)
    p["datasets"][1]["write_gb_per_run"] = 0.5  # declared volume wins
    c = stage_cost(make_input(p), "prep", opt("prep"))
    assert c.network_usd == pytest.approx(0.5 * 30.4 * 0.02)


def test_remote_direct_reads_pay_egress_every_run(tiny_input) -> None:  # type: ignore[no-untyped-def]
    c = stage_cost(tiny_input, "prep", opt("prep", "r2"))
    assert c.compute_usd == pytest.approx(0.22 * 730)
    assert c.network_usd == pytest.approx(100 * 30.4 * 0.02)  # 100 GB × runs/month × $/GB


def test_training_checkpoints_and_replication_hand_values(tiny_input) -> None:  # type: ignore[no-untyped-def]
    direct = stage_cost(tiny_input, "train", opt("train", "r1"))
    assert direct.network_usd == pytest.approx(10 * 2 * 30.4 * 0.02)  # 2 epochs, remote
    assert direct.storage_usd == pytest.approx(3 * 8 * 0.02)  # 3 checkpoints of 8 GiB
    repl = stage_cost(
        tiny_input, "train", opt("train", "r1", access=AccessStrategy.SELECTIVE_REPLICATION)
    )
    assert repl.network_usd == pytest.approx(10 / 12 * 0.02)  # first copy over 12 months
    assert repl.storage_usd == pytest.approx(3 * 8 * 0.02 + 10 * 0.02)


def test_more_epochs_of_remote_direct_reads_cost_more() -> None:
    costs = []
    for epochs in (1, 2, 4, 8):
        p = small_pipeline()
        p["stages"][1]["epochs"] = epochs
        inp = make_input(p)
        costs.append(stage_cost(inp, "train", opt("train", "r1")).network_usd)
    assert costs == sorted(costs) and len(set(costs)) == 4
    # Replicating once does not grow with epochs.
    p = small_pipeline()
    p["stages"][1]["epochs"] = 8
    repl = stage_cost(
        make_input(p), "train", opt("train", "r1", access=AccessStrategy.SELECTIVE_REPLICATION)
    )
    assert repl.network_usd < costs[0]


def test_autoscaled_batch_pays_only_run_time(tiny_input) -> None:  # type: ignore[no-untyped-def]
    static = stage_cost(tiny_input, "prep", opt("prep"))
    rule = stage_cost(
        tiny_input,
        "prep",
        opt("prep", replicas_min=0, scaling=ScalingPolicy.RULE_BASED),
    )
    assert rule.compute_usd < static.compute_usd


def test_online_static_costs_at_least_autoscaled_on_fast_tier(tiny_input) -> None:  # type: ignore[no-untyped-def]
    static = stage_cost(tiny_input, "serve", opt("serve", replicas_min=2, replicas_max=2))
    pred = stage_cost(
        tiny_input,
        "serve",
        opt("serve", replicas_min=1, replicas_max=2, scaling=ScalingPolicy.PREDICTIVE),
    )
    assert pred.compute_usd <= static.compute_usd
    # Public endpoint: 20 rps × 24 h × 30.4 d × 4 KB to the internet at $0.09/GB.
    assert static.network_usd == pytest.approx(20 * 3600 * 24 * 30.4 * 4e-6 * 0.09)


def test_missing_price_is_a_located_catalog_error(tiny_input) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogError) as err:
        stage_cost(tiny_input, "prep", opt("prep", instance_type="cpu.16"))
    assert "cpu.16" in err.value.render()
