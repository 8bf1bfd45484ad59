from __future__ import annotations

import itertools
import math

import pytest

from airflow_cloudplan.model import AccessStrategy, ScalingPolicy, StageOption
from airflow_cloudplan.model.workload import Archetype
from airflow_cloudplan.optimize.demand import resolve_demand
from airflow_cloudplan.optimize.latency import (
    batch_breakdown,
    edge_transfer_ms_per_gb,
    ggc_response_p95_ms,
    read_seconds,
    rtt_ms,
    stage_latency_ms,
)

from .test_cost import opt


def test_batch_completion_hand_value(tiny_input) -> None:  # type: ignore[no-untyped-def]
    # compute: 3600 vCPU·s × (0.1 + 0.9/4); data: 100 GB large-sequential, 4 streams of
    # 64 MB blocks at 100 MB/s with 50 ms first byte + 1 ms RTT, below the 10 Gbps link;
    # write: feats (10 GB, homed in r2) goes r1 → r2: 4 streams would carry 4 × 64 MB /
    # (50 ms + RTT + 0.64 s) > 125 MB/s, so the 1 Gbps link (125 MB/s) bounds it.
    compute = 3600 * (0.1 + 0.9 / 4)
    per_stream = 64 / (0.051 + 64 / 100)
    data = 100_000 / (4 * per_stream)
    cat = tiny_input.catalog
    rtt = rtt_ms(cat, "r1", "r2") / 1000
    assert 4 * 64 / (0.05 + rtt + 0.64) > 125
    write = 10_000 / 125
    got = stage_latency_ms(tiny_input, "prep", opt("prep"))
    assert got == pytest.approx((compute + data + write) * 1000)


def test_remote_direct_read_is_slower_than_local_and_replica(tiny_input) -> None:  # type: ignore[no-untyped-def]
    def reads_s(o: StageOption) -> float:
        return batch_breakdown(tiny_input, o, resolve_demand(tiny_input, "prep"))["data_s"]

    remote = reads_s(opt("prep", "r2"))
    local = reads_s(opt("prep", "r1"))
    repl = reads_s(opt("prep", "r2", access=AccessStrategy.SELECTIVE_REPLICATION))
    assert remote > local
    assert repl == pytest.approx(local)


def test_online_latency_is_the_queue_p95(tiny_input) -> None:  # type: ignore[no-untyped-def]
    # 20 rps × peak 2 = 40 rps on 1 replica × 4 vCPU servers of 50 ms: rho = 0.5.
    got = stage_latency_ms(tiny_input, "serve", opt("serve"))
    assert got == pytest.approx(
        ggc_response_p95_ms(40.0, 50.0, 4, arrival_cv2=2.0, service_cv2=1.0)
    )
    assert got > 50.0


def test_more_replicas_never_increase_online_p95(tiny_input) -> None:  # type: ignore[no-untyped-def]
    values = [
        stage_latency_ms(tiny_input, "serve", opt("serve", replicas_min=n, replicas_max=n))
        for n in range(1, 6)
    ]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(values))


def test_unstable_online_option_is_infinite(tiny_input) -> None:  # type: ignore[no-untyped-def]
    from .conftest import make_input, small_pipeline

    p = small_pipeline()
    p["stages"][2]["load"]["mean_rps"] = 500
    inp = make_input(p)
    assert math.isinf(stage_latency_ms(inp, "serve", opt("serve")))


def test_rule_based_batch_waits_for_cold_start_and_scale_step(tiny_input) -> None:  # type: ignore[no-untyped-def]
    static = stage_latency_ms(tiny_input, "prep", opt("prep", replicas_max=4, replicas_min=4))
    rule = stage_latency_ms(
        tiny_input,
        "prep",
        opt("prep", replicas_min=0, replicas_max=4, scaling=ScalingPolicy.RULE_BASED),
    )
    assert rule == pytest.approx(static + (60 + 60) * 1000)


def test_edge_transfer_and_archetypes(tiny_input) -> None:  # type: ignore[no-untyped-def]
    cat = tiny_input.catalog
    assert edge_transfer_ms_per_gb(cat, "r1", "r2") == pytest.approx(8000.0)  # 8 Gb at 1 Gbps
    assert edge_transfer_ms_per_gb(cat, "r1", "r1") == pytest.approx(800.0)
    kw = {"src_region": "r2", "dst_region": "r1", "streams": 8}
    seq = read_seconds(cat, 10, Archetype.LARGE_SEQUENTIAL, **kw)  # type: ignore[arg-type]
    rnd = read_seconds(cat, 10, Archetype.RANDOM_READ, **kw)  # type: ignore[arg-type]
    mixed = read_seconds(cat, 10, Archetype.MIXED, **kw)  # type: ignore[arg-type]
    assert seq < mixed < rnd
    assert mixed == pytest.approx((seq + rnd) / 2)
