"""Policies: what the organisation requires (gates) and what it prefers (weights).

Governance (C1) and observability (C2) are *feasibility* rules applied before scoring;
objective weights only choose among feasible plans.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_serializer, model_validator

from airflow_cloudplan.model.catalog import Frozen, NonNegFloat, Signal
from airflow_cloudplan.model.workload import Criticality, StageKind


class SensitivityClass(Frozen):
    """A data-sensitivity class and the rules that follow from it.

    ``rank`` orders classes (higher = more sensitive); a stage handling several classes
    obeys the most sensitive one.
    """

    name: str
    rank: int = Field(ge=0)
    allowed_jurisdictions: tuple[str, ...] | None = Field(
        default=None, description="None = any jurisdiction"
    )
    allowed_regions: tuple[str, ...] | None = None
    require_audit: bool = False
    allow_shared_identity: bool = True
    allow_public_endpoint: bool = True
    allow_replication: bool = True


def _default_classes() -> tuple[SensitivityClass, ...]:
    return (
        SensitivityClass(name="public", rank=0),
        SensitivityClass(name="internal", rank=1),
        SensitivityClass(
            name="confidential", rank=2, require_audit=True, allow_public_endpoint=False
        ),
        SensitivityClass(
            name="restricted",
            rank=3,
            require_audit=True,
            allow_shared_identity=False,
            allow_public_endpoint=False,
        ),
    )


class ExposureBudget(Frozen):
    """Upper bounds on exposure surface units, per stage and for the whole pipeline."""

    per_stage: NonNegFloat | None = None
    total: NonNegFloat | None = None


class DeclassificationAllowance(Frozen):
    """Who may declassify what: ``from`` → ``to`` (or to a class ranked higher than ``to``).

    ``stages`` and ``kinds`` narrow which stages may claim it (both empty = any stage);
    ``approved_by`` and ``reference`` record the decision (a DPIA, a ticket).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
        serialize_by_alias=True,
    )

    from_class: str = Field(alias="from", min_length=1)
    to_class: str = Field(alias="to", min_length=1)
    stages: tuple[str, ...] = Field(default=(), description="stage names allowed; empty = any")
    kinds: tuple[StageKind, ...] = Field(default=(), description="stage kinds allowed; empty = any")
    approved_by: str = ""
    reference: str = ""

    def covers_stage(self, name: str, kind: StageKind) -> bool:
        """Whether a stage of this name and kind may claim the allowance."""
        return (not self.stages or name in self.stages) and (not self.kinds or kind in self.kinds)


class GovernancePolicy(Frozen):
    """Governance (C1): residency, least privilege, exposure and audit readiness."""

    classes: tuple[SensitivityClass, ...] = Field(default_factory=_default_classes)
    exposure_budget: ExposureBudget = ExposureBudget()
    require_scoped_credentials: bool = Field(
        default=False, description="forbid shared identities altogether"
    )
    forbid_shared_identity_across_classes: bool = True
    audit_store_uri: str | None = None
    rego_rules: tuple[str, ...] = Field(
        default=(), description="paths of user-written Rego rule files"
    )
    declassifications: tuple[DeclassificationAllowance, ...] = Field(
        default=(),
        description="declassifications stages may claim (none by default: lineage only rises)",
    )

    @model_validator(mode="after")
    def _classes_unique(self) -> GovernancePolicy:
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError("sensitivity class names must be unique")
        return self

    def sensitivity_class(self, name: str) -> SensitivityClass:
        """The class with this name (``KeyError`` if unknown)."""
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(name)


class SignalRequirement(Frozen):
    """Signals a stage of a criticality class must emit."""

    signals: frozenset[Signal]
    trace_sampling: float = Field(default=0.1, ge=0, le=1)

    @field_serializer("signals", when_used="json")
    def _signals_sorted(self, signals: frozenset[Signal]) -> list[Signal]:
        # Sets serialise in hash order, which changes between runs; JSON must be stable.
        return sorted(signals)


def _default_requirements() -> dict[Criticality, SignalRequirement]:
    return {
        Criticality.CRITICAL: SignalRequirement(
            signals=frozenset({Signal.LOGS, Signal.METRICS, Signal.TRACES}), trace_sampling=1.0
        ),
        Criticality.STANDARD: SignalRequirement(
            signals=frozenset({Signal.LOGS, Signal.METRICS}), trace_sampling=0.1
        ),
        Criticality.BEST_EFFORT: SignalRequirement(
            signals=frozenset({Signal.LOGS}), trace_sampling=0.01
        ),
    }


class ObservabilityPolicy(Frozen):
    """Observability (C2): required signals per criticality and the coverage threshold."""

    requirements: dict[Criticality, SignalRequirement] = Field(
        default_factory=_default_requirements
    )
    min_coverage: float = Field(
        default=1.0, ge=0, le=1, description="share of stages that must meet their signals"
    )
    traces_for_online: bool = Field(
        default=True, description="online (latency-sensitive) stages always need traces"
    )


class ObjectiveWeights(Frozen):
    """User weights over normalised objectives (cost, latency, risk)."""

    cost: NonNegFloat = 1.0
    latency: NonNegFloat = 1.0
    risk: NonNegFloat = 1.0

    @model_validator(mode="after")
    def _not_all_zero(self) -> ObjectiveWeights:
        if self.cost + self.latency + self.risk <= 0:
            raise ValueError("at least one objective weight must be > 0")
        return self

    def normalised(self) -> tuple[float, float, float]:
        """Weights scaled to sum to 1."""
        s = self.cost + self.latency + self.risk
        return self.cost / s, self.latency / s, self.risk / s


class Policy(Frozen):
    """Everything the planner must respect or prefer."""

    governance: GovernancePolicy = GovernancePolicy()
    observability: ObservabilityPolicy = ObservabilityPolicy()
    weights: ObjectiveWeights = ObjectiveWeights()
