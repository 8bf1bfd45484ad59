"""Factories for gate tests: a small catalog, pipelines and every option combination.

Built in Python (not from the bundled catalog or a spec file) so that the gate tests pin
exactly the facts each rule reads: three regions in two jurisdictions, three tiers with
different signals/audit, a CPU and a GPU instance type.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from airflow_cloudplan.model import (
    AccessStrategy,
    Catalog,
    Dataset,
    Declassification,
    DeclassificationAllowance,
    EgressPrices,
    GovernancePolicy,
    InstancePrice,
    InstanceType,
    Isolation,
    NetworkLink,
    Pipeline,
    PlanningInput,
    Policy,
    Region,
    ScalingPolicy,
    ServiceTier,
    Signal,
    Stage,
    StageOption,
    StorageClass,
    StorageKind,
    TierCapabilities,
    TierKind,
)
from airflow_cloudplan.model.catalog import Accelerator

REGIONS = ("eu-central-1", "eu-west-1", "us-east-1")


def make_catalog() -> Catalog:
    regions = (
        Region(id="eu-central-1", provider="aws", jurisdiction="eu", zones=("eu-central-1a",),
               latitude=50.1, longitude=8.7),
        Region(id="eu-west-1", provider="aws", jurisdiction="eu", zones=("eu-west-1a",),
               latitude=53.3, longitude=-6.3),
        Region(id="us-east-1", provider="aws", jurisdiction="us", zones=("us-east-1a",),
               latitude=38.9, longitude=-77.0),
    )

    def caps(signals: set[Signal], audit: bool, **kw: Any) -> TierCapabilities:
        return TierCapabilities(signals=frozenset(signals), isolation="container",
                                data_plane_audit=audit, cold_start_s=1.0, scale_step_s=30.0,
                                scale_to_zero=False, accelerators=True, **kw)

    tiers = (
        ServiceTier(id="lambda", provider="aws", kind=TierKind.SERVERLESS,
                    capabilities=caps({Signal.LOGS, Signal.METRICS}, False,
                                      max_request_timeout_s=900.0)),
        ServiceTier(id="fargate", provider="aws", kind=TierKind.CONTAINER,
                    capabilities=caps({Signal.LOGS, Signal.METRICS, Signal.TRACES}, True)),
        ServiceTier(id="ec2", provider="aws", kind=TierKind.VM,
                    capabilities=caps({Signal.LOGS}, True)),
    )
    types = (
        InstanceType(name="m5.large", provider="aws", family="m5", category="general",
                     vcpus=2, memory_gib=8),
        InstanceType(name="g5.xlarge", provider="aws", family="g5", category="gpu",
                     vcpus=4, memory_gib=16, accelerator=Accelerator(name="A10G", count=1)),
    )
    prices = tuple(
        InstancePrice(instance_type=t.name, region=r.id, zones=r.zones,
                      on_demand_usd_per_hour=0.1 if t.name == "m5.large" else 1.0,
                      spot_usd_per_hour=0.04)
        for t in types for r in regions
    )
    storage = (
        StorageClass(id="s3", provider="aws", kind=StorageKind.OBJECT,
                     usd_per_gb_month={r.id: 0.023 for r in regions}, first_byte_latency_ms=20,
                     throughput_mb_s=100),
        StorageClass(id="elasticache", provider="aws", kind=StorageKind.CACHE,
                     usd_per_gb_month={r.id: 5.0 for r in regions}, first_byte_latency_ms=1,
                     throughput_mb_s=1000),
        StorageClass(id="ebs", provider="aws", kind=StorageKind.BLOCK,
                     usd_per_gb_month={r.id: 0.08 for r in regions}, first_byte_latency_ms=1,
                     throughput_mb_s=250),
    )
    egress = EgressPrices(
        cross_zone_usd_per_gb=0.01,
        cross_region={f"{a.id}>{b.id}": 0.02 for a in regions for b in regions if a != b},
        internet_usd_per_gb={r.id: 0.09 for r in regions},
    )
    network = tuple(
        NetworkLink(src=a.id, dst=b.id, throughput_gbps=1.0)
        for a in regions for b in regions if a != b
    )
    return Catalog(version="test-1", snapshot_date=date(2026, 1, 1), providers=("aws",),
                   regions=regions, tiers=tiers, instance_types=types, prices=prices,
                   storage=storage, egress=egress, network=network)


PREPARE_DECLASSIFIES = DeclassificationAllowance.model_validate(
    {"from": "restricted", "to": "internal", "kinds": ["transform"], "reference": "DPIA-1"}
)
"""The allowance under which ``prepare`` pseudonymises customers into internal features."""


def make_pipeline(**overrides: Any) -> Pipeline:
    """Three stages over restricted, internal and public data (EU homes).

    ``prepare`` declassifies restricted → internal (pseudonymised features); the
    ``planning_input`` factory's policy allows it, so by lineage ``train`` and ``serve``
    handle internal data. Without the allowance they would handle restricted data.
    """
    datasets = (
        Dataset(name="customers", uri="s3://acme-data/customers/", size_gb=50,
                home_region="eu-central-1", sensitivity="restricted"),
        Dataset(name="features", uri="s3://acme-data/features/", size_gb=10,
                home_region="eu-west-1", sensitivity="internal"),
        Dataset(name="weather", uri="s3://acme-open/weather/", size_gb=5,
                home_region="us-east-1", sensitivity="public"),
        Dataset(name="model", uri="s3://acme-data/models/churn/", size_gb=1,
                home_region="eu-west-1", sensitivity="internal"),
    )
    stages = (
        Stage(name="prepare", kind="transform", reads=("customers", "weather"),
              writes=("features",),
              declassifies=Declassification.model_validate(
                  {"from": "restricted", "to": "internal", "justification": "pseudonymised"})),
        Stage(name="train", kind="train", reads=("features",), writes=("model",)),
        Stage(name="serve", kind="serve", mode="online", reads=("model",),
              criticality="critical", public_endpoint=True),
    )
    data: dict[str, Any] = {"name": "churn", "stages": stages, "datasets": datasets,
                            "edges": ()}
    data.update(overrides)
    return Pipeline(**data)


def all_options(inp: PlanningInput) -> dict[str, list[StageOption]]:
    """Every combination of region × tier × type × access × isolation × spot per stage."""
    out: dict[str, list[StageOption]] = {}
    for stage in inp.pipeline.stages:
        out[stage.name] = [
            StageOption(stage=stage.name, region=r.id, zone=r.zones[0], tier=t.id,
                        instance_type=it.name, replicas_min=1, replicas_max=2,
                        scaling=ScalingPolicy.STATIC, access=a, isolation=iso, spot=spot)
            for r, t, it, a, iso, spot in itertools.product(
                inp.catalog.regions, inp.catalog.tiers, inp.catalog.instance_types,
                AccessStrategy, Isolation, (False, True))
        ]
    return out


@pytest.fixture
def catalog() -> Catalog:
    return make_catalog()


@pytest.fixture
def planning_input() -> Callable[..., PlanningInput]:
    """Factory: ``planning_input(governance=..., observability=..., pipeline=...)``.

    A governance policy without declassifications gets ``PREPARE_DECLASSIFIES``.
    """

    def build(pipeline: Pipeline | None = None, **policy: Any) -> PlanningInput:
        gov = policy.pop("governance", GovernancePolicy())
        if not gov.declassifications:
            gov = gov.model_copy(update={"declassifications": (PREPARE_DECLASSIFIES,)})
        return PlanningInput(pipeline=pipeline or make_pipeline(),
                             policy=Policy(governance=gov, **policy), catalog=make_catalog())

    return build
