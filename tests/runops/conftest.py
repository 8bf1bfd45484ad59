"""Plans built by hand for the composer's tests (the composer must not need the optimizer).

``hand_plan`` places every stage on a plausible option that respects its sensitivity
class's residency: the home region of its first input when allowed, a GPU instance with
the preferred accelerator for stages that ask for one, a container tier for online
stages. ``golden_input`` is a small pipeline owned by these tests, so golden files change
only when the composer does.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.model import (
    Catalog,
    CostBreakdown,
    EvaluatedPlan,
    Objectives,
    ObjectiveWeights,
    PlanningInput,
    PlanResult,
    SolverStats,
    StageEvaluation,
    StageOption,
)
from airflow_cloudplan.model.policy import (
    GovernancePolicy,
    ObservabilityPolicy,
    Policy,
    SensitivityClass,
    TelemetryBackend,
    TelemetryDeployment,
)
from airflow_cloudplan.model.workload import (
    Archetype,
    ComputeDemand,
    Criticality,
    DataEdge,
    Dataset,
    ExecutionMode,
    LoadProfile,
    Pipeline,
    Stage,
    StageKind,
    StageSLO,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("ml_pipeline", "regulated_pipeline")


def promtool() -> str:
    """The promtool binary, or skip (fail when CLOUDPLAN_REQUIRE_TOOLS=1)."""
    found = shutil.which("promtool")
    if found is None:
        reason = ("promtool is not installed (apt-get install -y prometheus, or extract it from "
                  "the .deb: apt-get download prometheus && dpkg -x)")
        if os.environ.get("CLOUDPLAN_REQUIRE_TOOLS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def _allowed_regions(inp: PlanningInput, stage: Stage) -> list[str]:
    governance = inp.policy.governance
    classes = [governance.sensitivity_class(inp.pipeline.dataset_by_name[d].sensitivity)
               for d in (*stage.reads, *stage.writes) if d in inp.pipeline.dataset_by_name]
    if stage.sensitivity:
        classes.append(governance.sensitivity_class(stage.sensitivity))
    regions = list(stage.allowed_regions or inp.pipeline.candidate_regions
                   or [r.id for r in inp.catalog.regions])
    for cls in classes:
        regions = [r for r in regions
                   if (cls.allowed_regions is None or r in cls.allowed_regions)
                   and (cls.allowed_jurisdictions is None
                        or inp.catalog.region(r).jurisdiction in cls.allowed_jurisdictions)]
    return regions


def _instance(inp: PlanningInput, stage: Stage, region: str) -> str:
    priced = [t for t in inp.catalog.instance_types if inp.catalog.price(t.name, region)]
    if stage.instance_types:
        return stage.instance_types[0]
    if stage.compute.accelerator:
        for t in priced:
            if t.accelerator and t.accelerator.name == stage.compute.accelerator:
                return t.name
    for name in ("m7i.xlarge", "m7i.large"):
        if any(t.name == name for t in priced):
            return name
    return next(t.name for t in priced if t.accelerator is None)


def hand_option(inp: PlanningInput, stage: Stage, region: str | None = None) -> StageOption:
    allowed = _allowed_regions(inp, stage)
    homes = [inp.pipeline.dataset_by_name[d].home_region for d in stage.reads
             if d in inp.pipeline.dataset_by_name]
    if region is None:
        region = next((h for h in homes if h in allowed), allowed[0])
    online = stage.mode == ExecutionMode.ONLINE
    kind = "container" if online else "vm"
    if stage.tiers:
        kind = str(stage.tiers[0])
    tier = next(t.id for t in inp.catalog.tiers if t.kind == kind)
    instance = _instance(inp, stage, region)
    price = inp.catalog.price(instance, region)
    assert price is not None, (instance, region)
    return StageOption(
        stage=stage.name, region=region, zone=price.zones[0], tier=tier,
        instance_type=instance, replicas_min=2 if online else 1,
        replicas_max=4 if online else 1, scaling="rule_based" if online else "static",
        access="direct", isolation="scoped",
    )


def hand_plan(inp: PlanningInput, overrides: dict[str, StageOption] | None = None) -> PlanResult:
    """A one-point plan over ``inp`` with ``overrides`` replacing some stages' options."""
    assignment = {s.name: hand_option(inp, s) for s in inp.pipeline.stages}
    assignment.update(overrides or {})
    evals = tuple(
        StageEvaluation(
            stage=name, option=o, cost=CostBreakdown(compute_usd=10.0 * (i + 1)),
            latency_ms=60_000.0 * (i + 1) if inp.pipeline.stage_by_name[name].mode != "online"
            else 80.0,
            exposure=1.0, blast_radius=1.0, risk=1.0,
        )
        for i, (name, o) in enumerate(sorted(assignment.items()))
    )
    point = EvaluatedPlan(
        assignment=assignment,
        objectives=Objectives(cost_usd_month=sum(e.cost.total_usd for e in evals),
                              latency_ms=600_000.0, risk=float(len(evals))),
        stages=evals,
    )
    return PlanResult(
        pipeline=inp.pipeline.name, spec_sha256="0" * 64, catalog_version=inp.catalog.version,
        created_at=datetime(2026, 11, 28, 3, 0, tzinfo=UTC), weights=ObjectiveWeights(),
        frontier=(point,), recommended=0, solver=SolverStats(solver="hand", wall_time_s=0.0),
    )


def example_input(name: str, catalog: Catalog) -> PlanningInput:
    from airflow_cloudplan.spec import load_spec

    path = REPO / "docs" / "examples" / f"{name}.yaml"
    if not path.is_file():
        pytest.skip(f"example spec {path.name} is not written yet")
    return load_spec(path, catalog).planning_input(catalog)


def one_stage_input(catalog: Catalog, target: float = 0.999) -> PlanningInput:
    """One batch stage with an availability SLO (the burn-rate tests and benchmark)."""
    pipeline = Pipeline(
        name="one",
        stages=(Stage(name="ingest", kind=StageKind.INGEST, writes=("raw",),
                      slo=StageSLO(availability=target)),),
        datasets=(Dataset(name="raw", uri="s3://one-raw/x/", size_gb=1,
                          home_region="us-east-1", sensitivity="internal"),),
    )
    return PlanningInput(pipeline=pipeline, policy=Policy(), catalog=catalog)


def golden_pipeline() -> Pipeline:
    """Five stages: confidential ingest, features, GPU training, online serving, monitor."""
    return Pipeline(
        name="golden_ml",
        stages=(
            Stage(name="ingest", kind=StageKind.INGEST, writes=("raw",),
                  slo=StageSLO(deadline_minutes=30, availability=0.99), owner="ingest-team"),
            Stage(name="features", kind=StageKind.FEATURES, reads=("raw",), writes=("features",),
                  slo=StageSLO(deadline_minutes=60, availability=0.99)),
            Stage(name="train", kind=StageKind.TRAIN, reads=("features",), writes=("model",),
                  criticality=Criticality.CRITICAL,
                  compute=ComputeDemand(accelerator="A10G", memory_gib=12),
                  slo=StageSLO(deadline_minutes=120, availability=0.95), owner="ml-team"),
            Stage(name="serve", kind=StageKind.SERVE, mode=ExecutionMode.ONLINE,
                  reads=("model", "features"), criticality=Criticality.CRITICAL,
                  load=LoadProfile(mean_rps=50, cv2=2.0, peak_to_mean=3.0),
                  slo=StageSLO(p95_ms=250, availability=0.999), owner="serving-team"),
            Stage(name="monitor", kind=StageKind.MONITOR, reads=("features",),
                  criticality=Criticality.BEST_EFFORT),
        ),
        edges=(DataEdge(src="ingest", dst="features", gb_per_run=20),
               DataEdge(src="features", dst="train", gb_per_run=5),
               DataEdge(src="train", dst="serve", gb_per_run=0.5),
               DataEdge(src="features", dst="serve", gb_per_run=1),
               DataEdge(src="features", dst="monitor", gb_per_run=1)),
        datasets=(
            Dataset(name="raw", uri="s3://golden-raw/events/", size_gb=200,
                    home_region="eu-west-1", sensitivity="confidential"),
            Dataset(name="features", uri="s3://golden-lake/features/", size_gb=50,
                    home_region="eu-west-1", sensitivity="confidential",
                    archetype=Archetype.RANDOM_READ),
            Dataset(name="model", uri="s3://golden-models/ctr/", size_gb=1,
                    home_region="eu-west-1"),
        ),
        candidate_regions=("eu-west-1", "eu-central-1", "us-east-1"),
    )


@pytest.fixture(scope="session")
def golden_input(catalog: Catalog) -> PlanningInput:
    return golden_planning_input(catalog)


def golden_planning_input(catalog: Catalog) -> PlanningInput:
    """The golden pipeline under a policy with an EU-only confidential class."""
    classes = tuple(
        c if c.name != "confidential" else SensitivityClass(
            name="confidential", rank=2, require_audit=True, allow_public_endpoint=False,
            allowed_jurisdictions=("eu",))
        for c in GovernancePolicy().classes
    )
    # Confidential telemetry may only go to the EU backend; the rest goes to the first one.
    backends = (
        TelemetryBackend(name="us-otlp", jurisdiction="us", region="us-east-1",
                         endpoint="${env:US_OTLP_ENDPOINT:-https://otlp.us.example.com:4318}"),
        TelemetryBackend(name="eu-otlp", jurisdiction="eu", region="eu-west-1",
                         endpoint="https://otlp.eu.example.com:4318"),
    )
    policy = Policy(governance=GovernancePolicy(classes=classes),
                    observability=ObservabilityPolicy(
                        telemetry=TelemetryDeployment(backends=backends)))
    return PlanningInput(pipeline=golden_pipeline(), policy=policy, catalog=catalog)


@pytest.fixture(scope="session")
def golden_plan(golden_input: PlanningInput) -> PlanResult:
    """Serving runs in eu-central-1 on replicas of its inputs (a remote, copied placement)."""
    serve = golden_input.pipeline.stage_by_name["serve"]
    remote = hand_option(golden_input, serve, region="eu-central-1").model_dump()
    remote["access"] = "selective_replication"
    return hand_plan(golden_input, {"serve": StageOption.model_validate(remote)})
