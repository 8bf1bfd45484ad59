"""One model of data copies: every consumer agrees on where a stage's bytes are.

The walk covers every access strategy with the stage in the read dataset's home region
and in another region. The expected copies are written out below by hand (not derived
from ``airflow_cloudplan.dataflow``), and each consumer — cost, latency, exposure, audit
hooks, IAM — is checked against them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_cloudplan.dataflow.locations import (
    LocationKind,
    bucket_name,
    copy_uri,
    directory_bucket_name,
    stage_locations,
)
from airflow_cloudplan.gates.exposure import implied_copies
from airflow_cloudplan.gates.iam import stage_iam_policy
from airflow_cloudplan.model import (
    AccessStrategy,
    Catalog,
    Dataset,
    GovernancePolicy,
    Isolation,
    ObjectiveWeights,
    Pipeline,
    PlanningInput,
    PlanResult,
    Policy,
    ScalingPolicy,
    SolverStats,
    Stage,
    StageOption,
    StorageKind,
)
from airflow_cloudplan.model.workload import Archetype
from airflow_cloudplan.optimize.cost import data_costs
from airflow_cloudplan.optimize.demand import resolve_demand
from airflow_cloudplan.optimize.latency import batch_breakdown, read_seconds
from airflow_cloudplan.optimize.scoring import evaluate_assignment
from airflow_cloudplan.runops.audit import audit_spec
from airflow_cloudplan.runops.context import ComposeContext
from airflow_cloudplan.runops.settings import RunOpsSettings
from tests.gates.conftest import make_catalog

HOME, REMOTE = "eu-central-1", "eu-west-1"
SRC_GB, MEMORY_GIB = 40.0, 8.0

# (strategy, stage in the home region?) -> copies the option makes: (kind, region)
EXPECTED_COPIES: dict[tuple[AccessStrategy, bool], set[tuple[str, str]]] = {
    (AccessStrategy.DIRECT, True): set(),
    (AccessStrategy.DIRECT, False): set(),
    (AccessStrategy.REGIONAL_CACHE, True): {("cache", HOME)},
    (AccessStrategy.REGIONAL_CACHE, False): {("cache", REMOTE)},
    (AccessStrategy.SELECTIVE_REPLICATION, True): set(),
    (AccessStrategy.SELECTIVE_REPLICATION, False): {("replica", REMOTE)},
    (AccessStrategy.PARTITIONED_LOCALITY, True): set(),
    (AccessStrategy.PARTITIONED_LOCALITY, False): {("partition", REMOTE)},
}
# share of the dataset each copy holds, and its storage class
HELD = {"cache": (0.25, StorageKind.CACHE), "replica": (1.0, StorageKind.OBJECT),
        "partition": (0.8, StorageKind.OBJECT)}


def _input() -> PlanningInput:
    catalog: Catalog = make_catalog()
    datasets = (
        Dataset(name="src", uri="s3://acme-data/src/", size_gb=SRC_GB, home_region=HOME,
                sensitivity="restricted"),
        Dataset(name="dst", uri="s3://acme-out/dst/", size_gb=5, home_region=HOME,
                sensitivity="restricted"),
    )
    stage = Stage.model_validate({"name": "fit", "kind": "train", "reads": ["src"],
                                  "writes": ["dst"],
                                  "compute": {"vcpu_seconds": 600, "memory_gib": MEMORY_GIB}})
    return PlanningInput(pipeline=Pipeline(name="walk", stages=(stage,), datasets=datasets),
                         policy=Policy(governance=GovernancePolicy()), catalog=catalog)


def _option(region: str, access: AccessStrategy) -> StageOption:
    return StageOption(stage="fit", region=region, zone=f"{region}a", tier="fargate",
                       instance_type="m5.large", replicas_min=1, replicas_max=1,
                       scaling=ScalingPolicy.STATIC, access=access, isolation=Isolation.SCOPED)


def _plan(inp: PlanningInput, option: StageOption) -> PlanResult:
    ev = evaluate_assignment(inp, {"fit": option})
    return PlanResult(pipeline="walk", spec_sha256="0" * 64, catalog_version=inp.catalog.version,
                      created_at=datetime(2026, 1, 1, tzinfo=UTC), weights=ObjectiveWeights(),
                      frontier=(ev,), recommended=0, solver=SolverStats(solver="hand",
                                                                         wall_time_s=0))


def _expected_uri(kind: str, region: str) -> str:
    if kind == "cache":
        return f"s3://{directory_bucket_name('acme-data', 'src', f'{region}a')}/src/"
    suffix = {"replica": "replica", "partition": "part"}[kind]
    return f"s3://{bucket_name('acme-data', f'{suffix}-{region}')}/src/"


CASES = [(a, home) for a in AccessStrategy for home in (True, False)]


@pytest.mark.parametrize(("access", "at_home"), CASES,
                         ids=[f"{a.value}-{'home' if h else 'remote'}" for a, h in CASES])
def test_every_consumer_sees_the_same_locations(access: AccessStrategy, at_home: bool) -> None:
    inp = _input()
    region = HOME if at_home else REMOTE
    option = _option(region, access)
    expected = EXPECTED_COPIES[(access, at_home)]
    checkpoints = f"s3://{bucket_name('cloudplan-walk', region)}/checkpoints/fit/"
    expected_uris = {_expected_uri(k, r) for k, r in expected}

    # the model itself
    held = {(loc.kind.value, loc.region) for loc in stage_locations(inp, "fit", option)
            if loc.kind in (LocationKind.CACHE, LocationKind.REPLICA, LocationKind.PARTITION)}
    assert held == expected

    # exposure: the copies it counts (checkpoints are a place too)
    copies = {(c.kind, c.region) for c in implied_copies(inp, "fit", option)}
    assert copies == expected | {("checkpoint", region)}

    # cost: storage of exactly those copies (+ checkpoints) at the catalog's price of
    # each copy's class in its region; write egress only when dst's home is elsewhere
    cat = inp.catalog
    demand = resolve_demand(inp, "fit")
    costs = data_costs(inp, option, demand)
    price = {c.kind: c.usd_per_gb_month for c in cat.storage}
    want_storage = sum(SRC_GB * HELD[k][0] * price[HELD[k][1]][r] for k, r in expected)
    want_storage += 3 * MEMORY_GIB * price[StorageKind.OBJECT][region]
    assert costs.copy_storage_usd == pytest.approx(want_storage)
    runs = demand.runs_per_month
    want_write_egress = 0.0 if at_home else 5.0 * runs * cat.egress.between(region, HOME)
    assert costs.write_egress_usd == pytest.approx(want_write_egress)

    # latency: reads timed from each location's region with that location's class
    parts = batch_breakdown(inp, option, demand)
    cache_share, home_share = {
        AccessStrategy.REGIONAL_CACHE: (0.8, 0.2),
        AccessStrategy.SELECTIVE_REPLICATION: (1.0, 0.0) if not at_home else (0.0, 1.0),
        AccessStrategy.PARTITIONED_LOCALITY: (0.8, 0.2) if not at_home else (0.0, 1.0),
    }.get(access, (0.0, 1.0))
    streams = 2  # m5.large: 2 vCPUs, one replica
    kind = StorageKind.CACHE if access is AccessStrategy.REGIONAL_CACHE else StorageKind.OBJECT
    want_read = read_seconds(cat, SRC_GB * home_share, Archetype.LARGE_SEQUENTIAL,
                             src_region=HOME, dst_region=region, streams=streams)
    want_read += read_seconds(cat, SRC_GB * cache_share, Archetype.LARGE_SEQUENTIAL,
                              src_region=region, dst_region=region, streams=streams,
                              kind=kind)
    assert parts["data_s"] == pytest.approx(want_read)

    # IAM: the stage may touch exactly its locations
    doc = stage_iam_policy(inp, "fit", option)
    granted = {r for st in doc["Statement"] if st["Effect"] == "Allow"
               and st["Sid"] != "ListPrefixes0" and not st["Sid"].startswith("ListPrefixes")
               for r in st["Resource"]}
    want_arns = {"arn:aws:s3:::acme-data/src/*", "arn:aws:s3:::acme-out/dst/*",
                 f"arn:aws:s3:::{checkpoints[5:]}*"}
    for uri in expected_uris:
        bucket, _, prefix = uri[5:].partition("/")
        want_arns.add(f"arn:aws:s3express:{region}:${{account_id}}:bucket/{bucket}"
                      if bucket.endswith("--x-s3") else f"arn:aws:s3:::{bucket}/{prefix}*")
    assert granted == want_arns

    # audit: every place restricted bytes live is audited, the home-region cache included
    ctx = ComposeContext(_plan(inp, option), inp, "v1", RunOpsSettings())
    audited = {a["uri"] for a in audit_spec(ctx)["audited"]}
    assert audited == {"s3://acme-data/src/", "s3://acme-out/dst/", checkpoints} | expected_uris


def test_copy_naming_is_one_convention() -> None:
    assert copy_uri("s3://acme-data/src/", LocationKind.REPLICA, "eu-west-1") == (
        "s3://acme-data-replica-eu-west-1/src/")
    assert copy_uri("s3://acme-data/src/", LocationKind.PARTITION, "eu-west-1") == (
        "s3://acme-data-part-eu-west-1/src/")
    assert copy_uri("s3://acme-data/src/", LocationKind.CACHE, "eu-west-1", dataset="src",
                    zone="euw1-az1") == "s3://acme-data-src--euw1-az1--x-s3/src/"
    assert copy_uri("/local/path", LocationKind.REPLICA, "eu-west-1") is None
    long = directory_bucket_name("a" * 60, "dataset", "use1-az1")
    assert len(long) <= 63 and long.endswith("--use1-az1--x-s3")
    assert len(bucket_name("b" * 63, "replica-ap-southeast-2")) <= 63


def test_a_cache_is_never_offered_where_its_class_is_unpriced() -> None:
    """The bundled catalog prices S3 Express only in us-east-1: no cache elsewhere."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.optimize.candidates import enumerate_with_report

    inp = _input().model_copy(update={"catalog": load_catalog()})
    pipeline = inp.pipeline.model_copy(update={"candidate_regions": ("us-east-1", "eu-west-1")})
    inp = inp.model_copy(update={"pipeline": pipeline})
    options, reports = enumerate_with_report(inp)
    caches = {o.region for o in options["fit"] if o.access is AccessStrategy.REGIONAL_CACHE}
    assert caches == {"us-east-1"}
    assert reports["fit"].excluded["regional_cache: no cache storage class priced in eu-west-1"]


def test_write_egress_of_ingest_in_tokyo_is_hand_checkable() -> None:
    """The ml example's ingest placed in ap-northeast-1 writes raw_events to us-east-1."""
    from pathlib import Path

    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.commands.evaluate import evaluate
    from airflow_cloudplan.spec import load_spec

    repo = Path(__file__).resolve().parents[2]
    catalog = load_catalog()
    inp = load_spec(repo / "docs" / "examples" / "ml_pipeline.yaml", catalog).planning_input(
        catalog)
    base = {s.name: _first(inp, s.name) for s in inp.pipeline.stages}
    ingest = base["ingest"].model_copy(update={"region": "ap-northeast-1",
                                               "zone": "apne1-az1"})
    report = evaluate(inp, {**base, "ingest": ingest}, None)
    row = next(s for s in report["stages"] if s["stage"] == "ingest")
    # raw_events grows 40 GB/day, ingest runs once a day: 40 GB × 30.4 runs × $/GB
    per_gb = catalog.egress.between("ap-northeast-1", "us-east-1")
    assert per_gb == 0.09
    assert row["detail"]["write_egress_usd"] == pytest.approx(40 * 30.4 * per_gb)
    assert row["cost"]["network_usd"] >= 40 * 30.4 * per_gb
    json.dumps(report)  # the report stays JSON


def _first(inp: PlanningInput, stage: str) -> StageOption:
    from airflow_cloudplan.optimize.candidates import enumerate_options

    opts = enumerate_options(inp)[stage]
    return next(o for o in opts if o.region == "us-east-1" and o.access is AccessStrategy.DIRECT)
