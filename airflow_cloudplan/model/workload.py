"""The workload: a pipeline is a DAG of stages that read and write datasets.

What a person declares lives in :class:`Pipeline` (from the YAML spec); what the profiler
measures about a stage lives in :class:`StageProfile` (the paper's φ_k). The optimizer
reads both: a measured profile, when present, overrides the declared estimate.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from airflow_cloudplan.model.catalog import Frozen, NonNegFloat, PositiveFloat, TierKind

Name = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9_\-]*$")]


class StageKind(StrEnum):
    """What a stage does in an ML pipeline."""

    INGEST = "ingest"
    TRANSFORM = "transform"
    FEATURES = "features"
    TRAIN = "train"
    VALIDATE = "validate"
    BATCH_INFERENCE = "batch_inference"
    SERVE = "serve"
    MONITOR = "monitor"


class ExecutionMode(StrEnum):
    """How a stage runs: once per pipeline run, continuously, or per request."""

    BATCH = "batch"
    STREAMING = "streaming"
    ONLINE = "online"


class Archetype(StrEnum):
    """I/O archetype: decides how data transfer time scales with the access strategy."""

    LARGE_SEQUENTIAL = "large_sequential"
    RANDOM_READ = "random_read"
    STREAM_APPEND = "stream_append"
    MIXED = "mixed"


class Criticality(StrEnum):
    """How much an outage of a stage matters; selects observability requirements."""

    CRITICAL = "critical"
    STANDARD = "standard"
    BEST_EFFORT = "best_effort"


class Dataset(Frozen):
    """A dataset a stage reads or writes."""

    name: Name
    uri: str = Field(description="s3://bucket/prefix/ or a local path")
    size_gb: PositiveFloat
    home_region: str
    sensitivity: str = Field(default="internal", description="a class of the policy")
    archetype: Archetype = Archetype.LARGE_SEQUENTIAL
    growth_gb_per_day: NonNegFloat = 0.0
    write_gb_per_run: NonNegFloat | None = Field(
        default=None,
        description=(
            "GB a writing stage writes per run; default: growth_gb_per_day per run of the "
            "writer when the dataset grows, else size_gb (rewritten every run)"
        ),
    )
    kms_key_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:key/[A-Za-z0-9\-]+$",
        description="the SSE-KMS key encrypting the dataset (grants kms:Decrypt/GenerateDataKey)",
    )


class DataEdge(Frozen):
    """Data handed from one stage to the next, per pipeline run.

    ``carries`` names the datasets whose content the edge hands over (lineage then gives
    ``dst`` exactly their classes); without it the edge is assumed to carry anything
    ``src`` outputs (fail-closed).
    """

    src: Name
    dst: Name
    gb_per_run: NonNegFloat = 0.0
    carries: tuple[Name, ...] | None = Field(
        default=None, description="datasets the edge hands over; default: all src outputs"
    )


class StageSLO(Frozen):
    """A stage's service-level objective.

    Online stages state ``p95_ms``; batch/training stages state ``deadline_minutes``
    (completion time of one run). ``availability`` is the target success ratio used for
    error-budget burn-rate alerts.
    """

    p95_ms: PositiveFloat | None = None
    deadline_minutes: PositiveFloat | None = None
    availability: float = Field(default=0.99, gt=0, lt=1)


class ComputeDemand(Frozen):
    """What one run (or one request, for online stages) needs.

    ``vcpu_seconds`` is the CPU work of one run measured on a reference vCPU;
    ``parallel_fraction`` is Amdahl's parallelisable share (how well more vCPUs help).
    For online stages ``service_ms_per_request`` is the service time on one replica.
    """

    vcpu_seconds: PositiveFloat = 60.0
    memory_gib: PositiveFloat = 2.0
    parallel_fraction: float = Field(default=0.9, ge=0, le=1)
    accelerator: str | None = Field(
        default=None, description="preferred accelerator name, e.g. A10G, H100, Inferentia2"
    )
    accelerator_speedup: PositiveFloat = Field(
        default=1.0, description="speedup of this stage on its preferred accelerator"
    )
    service_ms_per_request: PositiveFloat = 20.0


class LoadProfile(Frozen):
    """When a stage runs (batch) or how requests arrive (online/streaming).

    ``cv2`` is the squared coefficient of variation of inter-arrival times (1 = Poisson;
    > 1 = bursty); ``peak_to_mean`` bounds what static provisioning must cover.
    """

    runs_per_day: PositiveFloat = 1.0
    mean_rps: NonNegFloat = 0.0
    cv2: NonNegFloat = 1.0
    peak_to_mean: float = Field(default=1.0, ge=1.0)
    active_hours_per_day: float = Field(default=24.0, gt=0, le=24)


class AirflowBinding(Frozen):
    """Which Airflow task runs a stage (how profiles and applied plans find it)."""

    dag_id: str
    task_id: str


class Declassification(Frozen):
    """A stage's claim that its outputs carry a lower class than its inputs.

    ``{from: restricted, to: internal, justification: "..."}`` on an anonymising stage:
    data of class ``from`` the stage reads leaves it as class ``to``. Whether the stage
    may do that is the policy's decision (``policy.governance.declassifications``), never
    the spec's: a declassification no allowance covers is refused.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
        serialize_by_alias=True,
    )

    from_class: str = Field(alias="from", min_length=1, description="the input class removed")
    to_class: str = Field(alias="to", min_length=1, description="the class of the outputs")
    justification: str = Field(min_length=1, description="why the outputs are less sensitive")


class Stage(Frozen):
    """One stage of a pipeline, as declared by its owners."""

    name: Name
    kind: StageKind
    mode: ExecutionMode = ExecutionMode.BATCH
    reads: tuple[Name, ...] = ()
    writes: tuple[Name, ...] = ()
    compute: ComputeDemand = ComputeDemand()
    load: LoadProfile = LoadProfile()
    slo: StageSLO = StageSLO()
    criticality: Criticality = Criticality.STANDARD
    sensitivity: str | None = Field(
        default=None,
        description=(
            "a class the stage handles besides its data's (e.g. the requests it serves); "
            "it raises the stage's class, never lowers it"
        ),
    )
    declassifies: Declassification | None = Field(
        default=None, description="outputs carry a lower class than inputs (policy-allowed)"
    )
    epochs: int = Field(default=1, ge=1, description="passes over the inputs (training)")
    public_endpoint: bool = False
    allowed_regions: tuple[str, ...] | None = None
    instance_types: tuple[str, ...] | None = Field(
        default=None, description="restrict candidates to these instance types"
    )
    tiers: tuple[TierKind, ...] | None = Field(
        default=None, description="restrict candidates to these service tiers"
    )
    airflow: AirflowBinding | None = None
    owner: str = "data-platform"


class Deployment(Frozen):
    """Facts of the account and cluster a plan is deployed into (identities, placement).

    None of these change what is optimal; the RunOps composer needs them to bind tasks to
    identities and nodes. Unknown values stay placeholders in the artifacts
    (``${account_id}``) or fall back to labels that need no mapping.
    """

    aws_account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    eks_oidc_provider: str | None = Field(
        default=None,
        description="the EKS cluster's OIDC issuer without https:// (IRSA trust), e.g. "
        "oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
    )
    kubernetes_namespace: str = Field(
        default="airflow", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63
    )
    airflow_worker_role_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$",
        description="identity of LocalExecutor workers, allowed to assume stage roles",
    )
    zone_names: dict[str, str] = Field(
        default_factory=dict,
        description="AZ id -> AZ name in this account (aws ec2 describe-availability-zones)",
    )
    airflow_region: str | None = Field(
        default=None, description="where the Airflow deployment runs (executor rule)"
    )
    executor_by_tier: dict[TierKind, str] = Field(
        default_factory=dict,
        description="executor per tier kind, e.g. {container: KubernetesExecutor}",
    )


class Pipeline(Frozen):
    """A pipeline: stages, the data edges between them, and the datasets they touch."""

    name: Name
    description: str = ""
    provider: str = "aws"
    stages: tuple[Stage, ...] = Field(min_length=1)
    edges: tuple[DataEdge, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    deadline_minutes: PositiveFloat | None = Field(
        default=None, description="end-to-end deadline of one run (longest path)"
    )
    candidate_regions: tuple[str, ...] = Field(
        default=(), description="regions to consider; empty = every catalog region"
    )
    budget_usd_per_month: PositiveFloat | None = None
    deployment: Deployment = Field(
        default_factory=Deployment, description="account and cluster facts for the artifacts"
    )

    @model_validator(mode="after")
    def _graph_is_valid(self) -> Pipeline:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("stage names must be unique")
        return self

    @cached_property
    def stage_by_name(self) -> dict[str, Stage]:
        """Stages by name."""
        return {s.name: s for s in self.stages}

    @cached_property
    def dataset_by_name(self) -> dict[str, Dataset]:
        """Datasets by name."""
        return {d.name: d for d in self.datasets}

    def topological_order(self) -> list[str]:
        """Stage names in dependency order (the spec loader has rejected cycles)."""
        indeg = {s.name: 0 for s in self.stages}
        succ: dict[str, list[str]] = {s.name: [] for s in self.stages}
        for e in self.edges:
            succ[e.src].append(e.dst)
            indeg[e.dst] += 1
        ready = [n for n in (s.name for s in self.stages) if indeg[n] == 0]
        order: list[str] = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for m in succ[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    ready.append(m)
        return order


class DurationStats(Frozen):
    """Distribution of run durations in seconds."""

    count: int = Field(ge=0)
    mean_s: NonNegFloat
    p50_s: NonNegFloat
    p95_s: NonNegFloat
    p99_s: NonNegFloat
    max_s: NonNegFloat
    trend_s_per_day: float = Field(
        default=0.0, description="least-squares slope of duration over time"
    )


class ArrivalStats(Frozen):
    """Arrival process of runs or requests."""

    rate_per_s: NonNegFloat
    cv2: NonNegFloat
    peak_to_mean: float = Field(ge=1.0)


class IOStats(Frozen):
    """Measured I/O per run (means), as recorded by the stage operators."""

    bytes_read: NonNegFloat = 0.0
    bytes_written: NonNegFloat = 0.0
    rows_read: NonNegFloat = 0.0
    rows_written: NonNegFloat = 0.0
    read_ops: NonNegFloat = 0.0
    write_ops: NonNegFloat = 0.0
    read_pattern: Archetype | None = None


class ResourceStats(Frozen):
    """Measured resource use per run (means)."""

    cpu_seconds: NonNegFloat = 0.0
    peak_memory_mb: NonNegFloat = 0.0
    accelerator_utilisation: float | None = Field(default=None, ge=0, le=1)


class RuntimePrediction(Frozen):
    """Predicted run time with its uncertainty and the key that predicted it."""

    seconds: NonNegFloat
    low_s: NonNegFloat
    high_s: NonNegFloat
    key: str = Field(description="the feature key level used, e.g. 'task+size'")
    support: int = Field(ge=0, description="how many past runs informed it")


class StageProfile(Frozen):
    """What the profiler measured about one stage: the paper's φ_k.

    ``n_runs == 0`` is an explicit "no history" profile: the optimizer then falls back to
    the declared spec, and says so in its report.
    """

    dag_id: str
    task_id: str
    stage: str | None = None
    n_runs: int = Field(ge=0)
    window_start: datetime | None = None
    window_end: datetime | None = None
    duration: DurationStats | None = None
    queue_delay: DurationStats | None = None
    retries_per_run: NonNegFloat = 0.0
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    arrivals: ArrivalStats | None = None
    io: IOStats | None = None
    resources: ResourceStats | None = None
    archetype: Archetype | None = None
    archetype_evidence: tuple[str, ...] = ()
    prediction: RuntimePrediction | None = None
    source: str = Field(default="metadb", description="metadb, rest, trace")
    note: str = ""


STAGE_METRICS_XCOM_KEY = "cloudplan_stage_metrics"
"""XCom key under which every stage operator run records its :class:`StageRunMetrics`."""


class StageRunMetrics(Frozen):
    """What one stage-operator run measured.

    Pushed as JSON to XCom ``STAGE_METRICS_XCOM_KEY`` so the profiler can read it from the
    metadata DB.
    """

    pipeline: str
    stage: str
    kind: StageKind
    duration_s: NonNegFloat
    bytes_read: NonNegFloat = 0.0
    bytes_written: NonNegFloat = 0.0
    rows_read: NonNegFloat = 0.0
    rows_written: NonNegFloat = 0.0
    read_ops: NonNegFloat = 0.0
    write_ops: NonNegFloat = 0.0
    read_pattern: Archetype | None = None
    cpu_seconds: NonNegFloat = 0.0
    peak_memory_mb: NonNegFloat = 0.0
    accelerator_utilisation: float | None = Field(default=None, ge=0, le=1)
    errors: int = Field(default=0, ge=0)
    plan_version: str | None = None
    outcome: str = Field(
        default="success", pattern="^(success|skipped|failure|retry|killed)$",
        description="how the attempt ended (runtime.outcome.Outcome)")
    suspended_s: NonNegFloat = Field(
        default=0.0, description="of duration_s, time spent deferred in the triggerer")


class ProfileSet(Frozen):
    """Profiles of many stages plus the watermark for incremental reads."""

    profiles: tuple[StageProfile, ...] = ()
    generated_at: datetime
    watermark: datetime | None = None
    source: str = "metadb"

    def for_task(self, dag_id: str, task_id: str) -> StageProfile | None:
        """The profile of an Airflow task, if measured."""
        for p in self.profiles:
            if p.dag_id == dag_id and p.task_id == task_id:
                return p
        return None
