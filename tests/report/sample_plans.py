"""A realistic, hand-built plan of the example ML pipeline (docs/examples/ml_pipeline.yaml).

Several frontier points trading cost, latency and risk; the three baselines the seed
compares against, each with the gate violations it really has in that setting; a gate
report with pruning reasons; Airflow settings. Used for the report golden files, the docs
pictures and the UI tests, so none of them depends on the optimizer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow_cloudplan.model import (
    AirflowPool,
    AirflowSettings,
    AirflowTaskSettings,
    CostBreakdown,
    EvaluatedPlan,
    Objectives,
    ObjectiveWeights,
    PlanResult,
    SolverStats,
    StageEvaluation,
    StageOption,
)
from airflow_cloudplan.model.plan import (
    BaselineResult,
    GateReport,
    StageGateSummary,
    Violation,
)

PIPELINE = "example_ml_pipeline"
STAGES = ("ingest", "transform", "features", "train", "validate", "batch_inference", "serve")
INSTANCE = {"ingest": "m7i.large", "transform": "r7i.2xlarge", "features": "r7i.2xlarge",
            "train": "g5.2xlarge", "validate": "m7i.xlarge", "batch_inference": "c7i.2xlarge",
            "serve": "c7i.xlarge"}


def _option(stage: str, region: str = "us-east-1", *, scaling: str = "static",
            access: str = "direct", isolation: str = "scoped", spot: bool = False,
            replicas: tuple[int, int] = (1, 2), instance: str | None = None) -> StageOption:
    tier = "aws-eks" if stage == "serve" else "aws-ec2"
    return StageOption(stage=stage, region=region, zone=f"{region}a", tier=tier,
                       instance_type=instance or INSTANCE[stage], replicas_min=replicas[0],
                       replicas_max=replicas[1], scaling=scaling, access=access,
                       isolation=isolation, spot=spot)


def _point(cost: float, latency_ms: float, risk: float, *, overrides: dict[str, StageOption]
           | None = None, violations: tuple[Violation, ...] = ()) -> EvaluatedPlan:
    assignment = {s: _option(s) for s in STAGES}
    assignment.update(overrides or {})
    share = {s: (3 if s == "train" else 2 if s == "serve" else 1) for s in STAGES}
    total = sum(share.values())
    stages = tuple(
        StageEvaluation(
            stage=s, option=o,
            cost=CostBreakdown(compute_usd=round(cost * 0.8 * share[s] / total, 2),
                               storage_usd=round(cost * 0.12 * share[s] / total, 2),
                               network_usd=round(cost * 0.08 * share[s] / total, 2)),
            latency_ms=round(latency_ms * share[s] / total, 1),
            exposure=round(risk / len(STAGES), 3), blast_radius=1.0,
            risk=round(risk / len(STAGES), 3))
        for s, o in assignment.items()
    )
    return EvaluatedPlan(assignment=assignment,
                         objectives=Objectives(cost_usd_month=cost, latency_ms=latency_ms,
                                               risk=risk),
                         stages=stages, egress_usd_month=round(cost * 0.03, 2),
                         violations=violations)


def _airflow(assignment: dict[str, StageOption]) -> AirflowSettings:
    pools = sorted({f"cp-{PIPELINE}-{o.region}" for o in assignment.values()})
    tasks = tuple(
        AirflowTaskSettings(
            dag_id=PIPELINE, task_id=s, stage=s, pool=f"cp-{PIPELINE}-{o.region}",
            pool_slots=2 if s == "train" else 1, queue=f"cp-{o.region}-{o.tier}",
            priority_weight=3 if s == "serve" else 1,
            otel={"cloud.region": o.region, "cloudplan.stage": s})
        for s, o in assignment.items()
    )
    return AirflowSettings(pools=tuple(AirflowPool(name=p, slots=8) for p in pools),
                           tasks=tasks)


def _gate_report() -> GateReport:
    rows = []
    for i, s in enumerate(STAGES):
        before = 540 - 20 * i
        gov = before - 180 - 10 * i
        obs = gov - 40
        slo = obs - (60 if s in ("train", "serve") else 25)
        reasons = {"governance.residency": 120 + 5 * i, "governance.shared_credentials": 60,
                   "observability.no_otel_exporter": 40}
        if s in ("train", "serve"):
            reasons["slo.p95_ms" if s == "serve" else "slo.deadline"] = 60
        rows.append(StageGateSummary(stage=s, options_before=before,
                                     options_after={"governance": gov, "observability": obs,
                                                    "slo": slo},
                                     reasons=reasons))
    return GateReport(stages=tuple(rows), total_before=sum(r.options_before for r in rows),
                      total_after=sum(r.options_after["slo"] for r in rows))


def _baselines() -> tuple[BaselineResult, ...]:
    cheap = {s: _option(s, "us-west-2", spot=True, isolation="shared") for s in STAGES}
    local = {s: _option(s, access="selective_replication", replicas=(2, 4)) for s in STAGES}
    rules = {s: _option(s, scaling="rule_based", isolation="shared") for s in STAGES}
    return (
        BaselineResult(
            name="compute-centric",
            description="cheapest compute; ignores locality, governance and observability",
            plan=_point(14_210.0, 17_900_000.0, 9.8, overrides=cheap, violations=(
                Violation(gate="governance", rule_id="governance.residency", stage="ingest",
                          field="region", measured="us-west-2", allowed="us-east-1",
                          message="confidential dataset raw_events leaves its home region"),
                Violation(gate="governance", rule_id="governance.shared_credentials",
                          stage="transform", message="shared credentials reach confidential "
                          "datasets of 4 stages"),
                Violation(gate="slo", rule_id="slo.deadline", stage="train",
                          measured="171 min", allowed="150 min",
                          message="train completes after its deadline (spot interruptions)"),
            ))),
        BaselineResult(
            name="locality-only",
            description="minimum transfer latency by aggressive replication",
            plan=_point(31_800.0, 8_900_000.0, 6.1, overrides=local, violations=(
                Violation(gate="governance", rule_id="governance.budget",
                          measured="$31,800", allowed="$30,000",
                          message="monthly cost exceeds the budget"),
            ))),
        BaselineResult(
            name="rules-based autoscaling",
            description="CPU/memory thresholds; governance applied after the fact",
            plan=_point(21_450.0, 12_600_000.0, 7.4, overrides=rules, violations=(
                Violation(gate="observability", rule_id="observability.no_otel_exporter",
                          stage="serve", message="serve has no OTel exporter in its tier"),
            ))),
    )


FRONTIER = (  # (cost USD/month, latency ms, risk): every point non-dominated in (C, L, R)
    (16_450.0, 14_800_000.0, 3.2),
    (17_900.0, 12_300_000.0, 3.6),
    (18_700.0, 11_100_000.0, 2.9),
    (19_950.0, 10_200_000.0, 3.1),
    (21_300.0, 9_600_000.0, 2.4),
    (23_800.0, 9_150_000.0, 2.2),
    (26_900.0, 8_700_000.0, 1.9),
)


def ml_plan(*, recommended: int = 3, created: datetime | None = None,
            cost_scale: float = 1.0, train_region: str = "us-east-1") -> PlanResult:
    """The ML pipeline's plan; vary ``cost_scale``/``train_region`` for a second version."""
    frontier = []
    for i, (c, lat, r) in enumerate(FRONTIER):
        overrides = {
            "train": _option("train", train_region, spot=i < 2, replicas=(1, 1 + i // 2)),
            "serve": _option("serve", scaling="predictive" if i >= 3 else "rule_based",
                             access="regional_cache", replicas=(2, 6 + i)),
            "features": _option("features", access="partitioned_locality" if i >= 4
                                else "direct"),
        }
        frontier.append(_point(round(c * cost_scale, 2), lat, r, overrides=overrides))
    rec = frontier[recommended]
    return PlanResult(
        pipeline=PIPELINE, spec_sha256="5" * 64, catalog_version="aws-2026-11",
        created_at=created or datetime(2026, 11, 28, 2, 0, tzinfo=UTC),
        weights=ObjectiveWeights(cost=1.0, latency=1.0, risk=2.0),
        frontier=tuple(frontier), recommended=recommended, baselines=_baselines(),
        gate_report=_gate_report(),
        solver=SolverStats(solver="cbc", wall_time_s=4.2, variables=3120, constraints=1480,
                           options_total=3640, options_after_dominance=1210, solves=9),
        profiles_used=STAGES, airflow=_airflow(rec.assignment),
        notes=("profiled 30 days of example_ml_pipeline runs",),
    )


def previous_ml_plan() -> PlanResult:
    """An older version of the same pipeline (the one that is active in the examples)."""
    return ml_plan(recommended=1, created=datetime(2026, 11, 27, 2, 0, tzinfo=UTC),
                   cost_scale=1.04, train_region="us-west-2")
