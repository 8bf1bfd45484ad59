"""A small, valid PlanResult for tests of the runtime and operators."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow_cloudplan.model.plan import (
    AccessStrategy,
    AirflowSettings,
    AirflowTaskSettings,
    EvaluatedPlan,
    Isolation,
    Objectives,
    PlanResult,
    ScalingPolicy,
    SolverStats,
    StageOption,
)
from airflow_cloudplan.model.policy import ObjectiveWeights


def make_plan(
    *,
    pipeline: str = "demo",
    stage: str = "transform",
    dag_id: str = "dag",
    task_id: str = "transform",
    access: AccessStrategy = AccessStrategy.REGIONAL_CACHE,
    otel: dict[str, str] | None = None,
) -> PlanResult:
    option = StageOption(stage=stage, region="eu-west-1", zone="eu-west-1a", tier="container",
                         instance_type="m7i.large", replicas_min=1, replicas_max=2,
                         scaling=ScalingPolicy.STATIC, access=access, isolation=Isolation.SCOPED)
    return PlanResult(
        pipeline=pipeline,
        spec_sha256="ab12cd34" + "0" * 56,
        catalog_version="test",
        created_at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        weights=ObjectiveWeights(),
        frontier=(EvaluatedPlan(assignment={stage: option},
                                objectives=Objectives(cost_usd_month=1, latency_ms=1, risk=1),
                                stages=()),),
        recommended=0,
        solver=SolverStats(solver="cbc", wall_time_s=0.1),
        airflow=AirflowSettings(tasks=(AirflowTaskSettings(
            dag_id=dag_id, task_id=task_id, stage=stage, pool="cp", otel=otel or {}),)),
    )
