"""Hand-built domain objects for tests that must not depend on the optimizer."""

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


def option(stage: str, region: str = "eu-west-1", tier: str = "aws-vm",
           instance_type: str = "m7i.large", **kw: object) -> StageOption:
    """A deployment option with sensible defaults."""
    fields: dict[str, object] = {
        "stage": stage, "region": region, "zone": f"{region}a", "tier": tier,
        "instance_type": instance_type, "replicas_min": 1, "replicas_max": 2,
        "scaling": "static", "access": "direct", "isolation": "scoped",
    }
    fields.update(kw)
    return StageOption.model_validate(fields)


def plan_result(pipeline: str = "demo", stages: tuple[str, ...] = ("ingest", "train"),
                region: str = "eu-west-1", cost: float = 100.0,
                dag_id: str = "demo_dag") -> PlanResult:
    """A one-point plan with Airflow settings for every stage."""
    assignment = {s: option(s, region=region) for s in stages}
    evals = tuple(
        StageEvaluation(stage=s, option=o, cost=CostBreakdown(compute_usd=cost / len(stages)),
                        latency_ms=1000.0, exposure=1.0, blast_radius=1.0, risk=1.0)
        for s, o in assignment.items()
    )
    point = EvaluatedPlan(
        assignment=assignment,
        objectives=Objectives(cost_usd_month=cost, latency_ms=2000.0, risk=float(len(stages))),
        stages=evals,
    )
    pool = f"cp-{pipeline}-{region}"
    settings = AirflowSettings(
        pools=(AirflowPool(name=pool, slots=4, description=f"{pipeline} in {region}"),),
        tasks=tuple(
            AirflowTaskSettings(dag_id=dag_id, task_id=s, stage=s, pool=pool, pool_slots=1,
                                queue=f"cp-{region}-vm", priority_weight=2,
                                otel={"cloudplan.region": region})
            for s in stages
        ),
    )
    return PlanResult(
        pipeline=pipeline, spec_sha256="0" * 64, catalog_version="test",
        created_at=datetime(2026, 11, 28, tzinfo=UTC), weights=ObjectiveWeights(),
        frontier=(point,), recommended=0, solver=SolverStats(solver="test", wall_time_s=0.0),
        airflow=settings,
    )
