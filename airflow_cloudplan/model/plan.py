"""Plans: a choice of deployment option per stage, scored on (C, L, R).

``StageOption`` is the decision for one stage; a plan assigns one option to every stage.
``PlanResult`` is what ``cloudplan plan`` writes as ``plan.json``: the exact Pareto
frontier, the weighted recommendation, the baselines, the gate report and solver facts.
Everything here is JSON-serialisable and round-trips exactly
(``PlanResult.model_validate_json(r.model_dump_json()) == r``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, computed_field

from airflow_cloudplan.model.catalog import Frozen, NonNegFloat
from airflow_cloudplan.model.policy import ObjectiveWeights

PLAN_SCHEMA_VERSION = 1


class ScalingPolicy(StrEnum):
    """How replicas follow load."""

    STATIC = "static"
    RULE_BASED = "rule_based"
    PREDICTIVE = "predictive"


class AccessStrategy(StrEnum):
    """How a stage reaches the datasets it reads."""

    DIRECT = "direct"
    REGIONAL_CACHE = "regional_cache"
    SELECTIVE_REPLICATION = "selective_replication"
    PARTITIONED_LOCALITY = "partitioned_locality"


class Isolation(StrEnum):
    """Which identity a stage runs as."""

    SCOPED = "scoped"
    SHARED = "shared"


class StageOption(Frozen):
    """One deployment option for one stage: the decision variable's meaning."""

    stage: str
    region: str
    zone: str
    tier: str
    instance_type: str
    replicas_min: int = Field(ge=0)
    replicas_max: int = Field(ge=1)
    scaling: ScalingPolicy
    access: AccessStrategy
    isolation: Isolation
    spot: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """A stable, human-readable identifier of this option."""
        spot = "/spot" if self.spot else ""
        return (
            f"{self.region}/{self.zone}/{self.tier}/{self.instance_type}{spot}/"
            f"r{self.replicas_min}-{self.replicas_max}/{self.scaling}/{self.access}/"
            f"{self.isolation}"
        )


class CostBreakdown(Frozen):
    """Monthly cost in USD split by what is paid for."""

    compute_usd: NonNegFloat = 0.0
    storage_usd: NonNegFloat = 0.0
    network_usd: NonNegFloat = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_usd(self) -> float:
        """Compute + storage + network."""
        return self.compute_usd + self.storage_usd + self.network_usd


class Objectives(Frozen):
    """The three objectives of a plan.

    ``cost_usd_month``: expected monthly cost. ``latency_ms``: end-to-end latency (longest
    path of batch completion times plus the p95 of online stages on that path).
    ``risk``: Σ over stages of exposure surface × blast radius (see docs/models.md).
    """

    cost_usd_month: NonNegFloat
    latency_ms: NonNegFloat
    risk: NonNegFloat


class StageEvaluation(Frozen):
    """How one stage's chosen option scores."""

    stage: str
    option: StageOption
    cost: CostBreakdown
    latency_ms: NonNegFloat = Field(description="p95 (online) or completion time (batch)")
    exposure: NonNegFloat
    blast_radius: NonNegFloat
    risk: NonNegFloat
    detail: dict[str, float] = Field(default_factory=dict)


class Violation(Frozen):
    """A machine-readable reason a gate rejected an option or a plan."""

    gate: str = Field(description="governance, observability, slo, or a user rule set")
    rule_id: str
    stage: str | None = None
    field: str | None = None
    measured: str | None = None
    allowed: str | None = None
    message: str


class EvaluatedPlan(Frozen):
    """A complete assignment with its scores (a frontier point, a baseline, any plan)."""

    assignment: dict[str, StageOption]
    objectives: Objectives
    stages: tuple[StageEvaluation, ...]
    egress_usd_month: NonNegFloat = 0.0
    proven_optimal: bool = Field(
        default=True, description="the solver proved this point optimal/non-dominated"
    )
    solver_status: str = "optimal"
    violations: tuple[Violation, ...] = ()


class BaselineResult(Frozen):
    """A baseline planner's plan, scored by the same models, checked by the same gates."""

    name: str
    description: str
    plan: EvaluatedPlan


class StageGateSummary(Frozen):
    """Per stage: options before and after each gate, and why options were pruned."""

    stage: str
    options_before: int = Field(ge=0)
    options_after: dict[str, int] = Field(description="gate -> options left after it")
    reasons: dict[str, int] = Field(default_factory=dict, description="rule id -> count")
    smallest_relaxation: str | None = Field(
        default=None, description="for a stage with no option left: what would admit one"
    )


class GateReport(Frozen):
    """What the gates did to the candidate set."""

    stages: tuple[StageGateSummary, ...] = ()
    total_before: int = 0
    total_after: int = 0
    artifacts: dict[str, Any] = Field(
        default_factory=dict, description="gate outputs such as the residency guard-rail"
    )


class SolverStats(Frozen):
    """Facts about the solve, reported honestly."""

    solver: str
    wall_time_s: NonNegFloat
    variables: int = 0
    constraints: int = 0
    options_total: int = 0
    options_after_dominance: int = 0
    solves: int = 0
    all_proven_optimal: bool = True
    time_limit_s: float | None = None


class AirflowPool(Frozen):
    """A pool the plan needs."""

    name: str
    slots: int = Field(ge=1)
    description: str = ""


class AirflowTaskSettings(Frozen):
    """How the cluster policy rewrites one managed task."""

    dag_id: str
    task_id: str
    stage: str
    pool: str
    pool_slots: int = Field(default=1, ge=1)
    queue: str = "default"
    executor: str | None = None
    executor_config: dict[str, Any] = Field(default_factory=dict)
    priority_weight: int = 1
    otel: dict[str, str] = Field(default_factory=dict)
    role_arn: str | None = Field(
        default=None, description="the IAM role the task's data access runs as"
    )
    data_copies: dict[str, str] = Field(
        default_factory=dict,
        description="dataset -> URI of the cache/replica/partition the stage reads through",
    )
    placement: str = Field(
        default="", description="how the executor realises the planned region/zone/type"
    )


class AirflowSettings(Frozen):
    """Airflow-facing consequences of a plan (consumed by apply and the cluster policy)."""

    pools: tuple[AirflowPool, ...] = ()
    tasks: tuple[AirflowTaskSettings, ...] = ()


class PlanResult(Frozen):
    """The output of planning one pipeline: what ``plan.json`` holds."""

    schema_version: int = PLAN_SCHEMA_VERSION
    pipeline: str
    spec_sha256: str
    catalog_version: str
    created_at: datetime
    weights: ObjectiveWeights
    frontier: tuple[EvaluatedPlan, ...]
    recommended: int = Field(ge=0, description="index into frontier")
    baselines: tuple[BaselineResult, ...] = ()
    gate_report: GateReport = GateReport()
    solver: SolverStats
    profiles_used: tuple[str, ...] = ()
    airflow: AirflowSettings | None = None
    notes: tuple[str, ...] = ()

    @property
    def recommendation(self) -> EvaluatedPlan:
        """The frontier point chosen by the weights."""
        return self.frontier[self.recommended]
