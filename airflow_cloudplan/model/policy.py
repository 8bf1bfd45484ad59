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


# --- telemetry deployment (issue 15): where the Collector listens and exports ----------


class TelemetryBackend(Frozen):
    """An OTLP/HTTP backend the Collector exports traces and logs to, and where it is.

    ``jurisdiction`` (and ``region``, when a sensitivity class names allowed regions) is
    where the backend stores data: telemetry of a stage is exported only to a backend its
    sensitivity class allows. ``endpoint`` is an ``https://`` URL or ``${env:NAME}`` /
    ``${env:NAME:-https://...}`` resolved by the Collector at start.
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="exporter id suffix")
    endpoint: str
    jurisdiction: str
    region: str | None = None
    signals: frozenset[Signal] = Field(
        default=frozenset({Signal.TRACES, Signal.LOGS}),
        description="signals it accepts (metrics stay in the Collector's Prometheus endpoint)",
    )
    ca_file: str | None = Field(default=None, description="CA bundle to verify the backend")

    @field_serializer("signals", when_used="json")
    def _signals_sorted(self, signals: frozenset[Signal]) -> list[Signal]:
        return sorted(signals)


class CollectorTLS(Frozen):
    """Certificates of the Collector's listeners and of the stages that send to it.

    ``client_ca_file`` makes the OTLP receivers require a client certificate signed by
    it; the stages' SDKs then present ``client_cert_file``/``client_key_file``.
    """

    cert_file: str
    key_file: str
    ca_file: str | None = Field(
        default=None, description="CA the stages' SDKs use to verify the Collector")
    client_ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None

    @model_validator(mode="after")
    def _client_pair(self) -> CollectorTLS:
        if self.client_ca_file and not (self.client_cert_file and self.client_key_file):
            raise ValueError("client_ca_file requires client_cert_file and client_key_file "
                             "(the certificate the stages present)")
        if bool(self.client_cert_file) != bool(self.client_key_file):
            raise ValueError("give client_cert_file and client_key_file together")
        return self


class TelemetryDeployment(Frozen):
    """How the Collector is deployed: the host it listens on, certificates, backends.

    ``listen_host`` is ``localhost`` by default (an agent next to each stage); any other
    host (a gateway, ``${env:MY_POD_IP}``) needs ``tls`` with ``client_ca_file``, or
    anyone who reaches the port could inject telemetry.
    """

    listen_host: str = "localhost"
    tls: CollectorTLS | None = None
    backends: tuple[TelemetryBackend, ...] = ()

    @model_validator(mode="after")
    def _backend_names_unique(self) -> TelemetryDeployment:
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError("telemetry backend names must be unique")
        return self


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
    telemetry: TelemetryDeployment = Field(
        default_factory=TelemetryDeployment,
        description="where the Collector listens, its certificates and export backends",
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
