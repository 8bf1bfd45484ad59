"""A tiny, hand-checkable catalog and pipeline factory for the model tests."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from airflow_cloudplan.model import (
    Catalog,
    EgressPrices,
    InstancePrice,
    InstanceType,
    NetworkLink,
    Pipeline,
    PlanningInput,
    Policy,
    Region,
    ServiceTier,
    Signal,
    StorageClass,
    StorageKind,
    TierCapabilities,
    TierKind,
)

ALL_SIGNALS = frozenset({Signal.LOGS, Signal.METRICS, Signal.TRACES})


def tiny_catalog() -> Catalog:
    """Two regions 1 Gbps apart, one VM and one serverless tier, round prices."""
    caps = TierCapabilities(
        signals=ALL_SIGNALS,
        isolation="vm",
        data_plane_audit=True,
        cold_start_s=60,
        scale_step_s=60,
        scale_to_zero=False,
        accelerators=True,
    )
    fn_caps = TierCapabilities(
        signals=ALL_SIGNALS,
        isolation="microvm",
        data_plane_audit=True,
        cold_start_s=1,
        scale_step_s=1,
        scale_to_zero=True,
        accelerators=False,
        max_request_timeout_s=900,
    )
    return Catalog(
        version="tiny-1",
        snapshot_date=date(2026, 1, 1),
        providers=("aws",),
        regions=(
            Region(
                id="r1",
                provider="aws",
                jurisdiction="eu",
                zones=("r1a", "r1b"),
                latitude=50.0,
                longitude=8.0,
            ),
            Region(
                id="r2",
                provider="aws",
                jurisdiction="us",
                zones=("r2a",),
                latitude=39.0,
                longitude=-77.0,
            ),
        ),
        tiers=(
            ServiceTier(id="vm", provider="aws", kind=TierKind.VM, capabilities=caps),
            ServiceTier(
                id="fn",
                provider="aws",
                kind=TierKind.SERVERLESS,
                capabilities=fn_caps,
                price_multiplier=2.0,
            ),
        ),
        instance_types=(
            InstanceType(
                name="cpu.4",
                provider="aws",
                family="cpu",
                category="general",
                vcpus=4,
                memory_gib=16,
            ),
            InstanceType(
                name="cpu.8",
                provider="aws",
                family="cpu",
                category="general",
                vcpus=8,
                memory_gib=32,
            ),
        ),
        prices=tuple(
            InstancePrice(
                instance_type=t,
                region=r,
                zones=(f"{r}a",),
                on_demand_usd_per_hour=p * (1.0 if r == "r1" else 1.1),
            )
            for t, p in (("cpu.4", 0.2), ("cpu.8", 0.4))
            for r in ("r1", "r2")
        ),
        storage=(
            StorageClass(
                id="obj",
                provider="aws",
                kind=StorageKind.OBJECT,
                usd_per_gb_month={"r1": 0.02, "r2": 0.02},
                first_byte_latency_ms=50,
                throughput_mb_s=100,
            ),
            StorageClass(
                id="cache",
                provider="aws",
                kind=StorageKind.CACHE,
                usd_per_gb_month={"r1": 0.10, "r2": 0.10},
                first_byte_latency_ms=5,
                throughput_mb_s=200,
            ),
        ),
        egress=EgressPrices(
            cross_zone_usd_per_gb=0.01,
            cross_region={"r1>r2": 0.02, "r2>r1": 0.02},
            internet_usd_per_gb={"r1": 0.09, "r2": 0.09},
        ),
        network=(NetworkLink(src="r1", dst="r2", throughput_gbps=1.0),),
        intra_region_gbps=10.0,
    )


def make_input(pipeline: dict[str, Any], policy: Policy | None = None) -> PlanningInput:
    """A planning input over the tiny catalog from a pipeline dict."""
    return PlanningInput(
        pipeline=Pipeline.model_validate(pipeline),
        policy=policy or Policy(),
        catalog=tiny_catalog(),
    )


def small_pipeline() -> dict[str, Any]:
    """prep (batch) -> train (batch, 2 epochs, remote data) -> serve (online)."""
    return {
        "name": "tiny",
        "candidate_regions": ["r1", "r2"],
        "datasets": [
            {
                "name": "raw",
                "uri": "s3://b/raw/",
                "size_gb": 100,
                "home_region": "r1",
                "sensitivity": "internal",
            },
            {
                "name": "feats",
                "uri": "s3://b/f/",
                "size_gb": 10,
                "home_region": "r2",
                "sensitivity": "confidential",
            },
        ],
        "stages": [
            {
                "name": "prep",
                "kind": "transform",
                "reads": ["raw"],
                "writes": ["feats"],
                "compute": {"vcpu_seconds": 3600, "memory_gib": 8, "parallel_fraction": 0.9},
            },
            {
                "name": "train",
                "kind": "train",
                "reads": ["feats"],
                "epochs": 2,
                "compute": {"vcpu_seconds": 7200, "memory_gib": 8},
            },
            {
                "name": "serve",
                "kind": "serve",
                "mode": "online",
                "public_endpoint": True,
                "load": {"mean_rps": 20, "cv2": 2.0, "peak_to_mean": 2.0},
                "compute": {"service_ms_per_request": 50, "memory_gib": 4},
                "slo": {"p95_ms": 500},
            },
        ],
        "edges": [
            {"src": "prep", "dst": "train", "gb_per_run": 10},
            {"src": "train", "dst": "serve", "gb_per_run": 1},
        ],
        "deadline_minutes": 600,
    }


@pytest.fixture
def tiny_input() -> PlanningInput:
    return make_input(small_pipeline())
