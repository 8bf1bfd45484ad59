"""What a stage needs and how an option provides it: the inputs shared by every model.

Cost, latency and candidate enumeration all read the same resolved numbers from here, so
that no two models disagree about a stage's load or data volumes:

* :func:`resolve_demand` merges the declared spec with a measured :class:`StageProfile`
  (a profile with ``n_runs > 0`` overrides what it measured: arrival rate/cv²/peak, CPU
  seconds, peak memory, bytes read, archetype);
* :func:`online_capacity` turns a scaling policy into replicas at peak and mean replicas
  paid for (the scaling model of docs/models.md §2);
* :func:`data_traffic` puts the stage's read and written GB on the locations of
  :mod:`airflow_cloudplan.dataflow` (homes, caches, replicas, partitions, checkpoints)
  under the access strategy (docs/models.md §3).

Constants below are modelling assumptions; each is named, documented and used once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from airflow_cloudplan.dataflow.locations import DAYS_PER_MONTH, LocationTraffic, stage_traffic
from airflow_cloudplan.model.catalog import InstanceType, ServiceTier
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import ScalingPolicy, StageOption
from airflow_cloudplan.model.workload import Archetype, Dataset, ExecutionMode

HOURS_PER_MONTH = 730.0
"""Hours in an average month (8,760 / 12), the billing period of every cost."""
SERVICE_CV2 = 1.0
"""Squared coefficient of variation of one request's service time (exponential-like)."""
TARGET_UTILISATION = 0.7
"""Utilisation an autoscaler (rule-based or predictive) keeps its replicas at."""
PREDICTIVE_RESIDUAL = 0.05
"""Over-provisioning of a predictive autoscaler on a regular (Poisson) load."""
PREDICTIVE_BURST_PENALTY = 0.25
"""Extra residual per unit of cv² above 1: bursts are what a forecast cannot see."""
RULE_REACTION_S = 60.0
"""Evaluation period of a threshold rule: headroom = √cv² · step / (step + 60 s)."""
MEMORY_HEADROOM = 1.25
"""Measured peak memory × 1.25 is what an instance must hold."""
DATA_PARALLEL_EFFICIENCY = 0.9
"""Scaling efficiency per doubling of accelerators in synchronous data-parallel work:
G devices run S(G) = G·η^log2(G) times faster than one (η = 0.9: 4 GPUs 3.2×, 8 GPUs 5.8×).
Horovod reports ~90 % efficiency on well-connected clusters; PCIe-only instances (g5, g6)
synchronise gradients over the host and scale no better, so 0.9 per doubling is the
documented assumption (docs/models.md §5)."""


@dataclass(frozen=True)
class StageDemand:
    """A stage's resolved workload: spec numbers, overridden by measured ones."""

    stage: str
    mode: ExecutionMode
    runs_per_day: float
    mean_rps: float
    arrival_cv2: float
    peak_to_mean: float
    active_hours_per_day: float
    vcpu_seconds: float
    memory_gib: float
    parallel_fraction: float
    accelerator: str | None
    accelerator_speedup: float
    service_ms: float
    service_cv2: float
    epochs: int
    archetype: Archetype
    read_gb: dict[str, float]
    write_gb: dict[str, float]
    measured: bool

    @property
    def online(self) -> bool:
        """Served per request/record (queueing model) rather than run to completion."""
        return self.mode in (ExecutionMode.ONLINE, ExecutionMode.STREAMING)

    @property
    def runs_per_month(self) -> float:
        """Pipeline runs per month (batch)."""
        return self.runs_per_day * DAYS_PER_MONTH

    @property
    def requests_per_month(self) -> float:
        """Requests (records) per month (online/streaming)."""
        return self.mean_rps * 3600.0 * self.active_hours_per_day * DAYS_PER_MONTH


def resolve_demand(inp: PlanningInput, stage_name: str) -> StageDemand:
    """The stage's workload: declared spec, with measured profile values taking precedence."""
    stage = inp.pipeline.stage_by_name[stage_name]
    datasets = inp.pipeline.dataset_by_name
    runs_per_day = stage.load.runs_per_day
    mean_rps = stage.load.mean_rps
    cv2 = stage.load.cv2
    peak = stage.load.peak_to_mean
    vcpu_s = stage.compute.vcpu_seconds
    memory = stage.compute.memory_gib
    read_gb = {n: datasets[n].size_gb for n in dict.fromkeys(stage.reads) if n in datasets}
    archetype = Archetype.LARGE_SEQUENTIAL
    if read_gb:
        archetype = datasets[max(read_gb, key=lambda n: read_gb[n])].archetype
    profile = inp.profile_of(stage_name)
    measured = profile is not None and profile.n_runs > 0
    if profile is not None and measured:
        if profile.arrivals is not None:
            if stage.mode is ExecutionMode.BATCH:
                runs_per_day = max(profile.arrivals.rate_per_s * 86400.0, 1e-6)
            else:
                mean_rps = profile.arrivals.rate_per_s
            cv2 = profile.arrivals.cv2
            peak = profile.arrivals.peak_to_mean
        if profile.resources is not None:
            if profile.resources.cpu_seconds > 0:
                vcpu_s = profile.resources.cpu_seconds
            if profile.resources.peak_memory_mb > 0:
                memory = profile.resources.peak_memory_mb / 1024.0 * MEMORY_HEADROOM
        if profile.io is not None and profile.io.bytes_read > 0 and read_gb:
            per_epoch = profile.io.bytes_read / 1e9 / stage.epochs
            total = sum(read_gb.values())
            read_gb = {n: per_epoch * v / total for n, v in read_gb.items()}
        if profile.archetype is not None:
            archetype = profile.archetype
        elif profile.io is not None and profile.io.read_pattern is not None:
            archetype = profile.io.read_pattern
    write_gb = {
        n: declared_write_gb(datasets[n], runs_per_day)
        for n in dict.fromkeys(stage.writes)
        if n in datasets
    }
    if measured and profile is not None and profile.io is not None:
        write_gb = _measured_split(write_gb, profile.io.bytes_written / 1e9)
    return StageDemand(
        stage=stage_name,
        mode=stage.mode,
        runs_per_day=runs_per_day,
        mean_rps=mean_rps,
        arrival_cv2=cv2,
        peak_to_mean=peak,
        active_hours_per_day=stage.load.active_hours_per_day,
        vcpu_seconds=vcpu_s,
        memory_gib=memory,
        parallel_fraction=stage.compute.parallel_fraction,
        accelerator=stage.compute.accelerator,
        accelerator_speedup=stage.compute.accelerator_speedup,
        service_ms=stage.compute.service_ms_per_request,
        service_cv2=SERVICE_CV2,
        epochs=stage.epochs,
        archetype=archetype,
        read_gb=read_gb,
        write_gb=write_gb,
        measured=measured,
    )


def _measured_split(declared: dict[str, float], measured_gb: float) -> dict[str, float]:
    """A measured per-run GB total shared out like the declared volumes (evenly if all 0)."""
    if measured_gb <= 0 or not declared:
        return declared
    total = sum(declared.values())
    return {
        n: measured_gb * (v / total if total > 0 else 1.0 / len(declared))
        for n, v in declared.items()
    }


def declared_write_gb(dataset: Dataset, runs_per_day: float) -> float:
    """GB a writer writes to ``dataset`` per run, as declared (docs/models.md §3).

    ``write_gb_per_run`` when given; else a growing dataset gains ``growth_gb_per_day``
    spread over the writer's runs; else the dataset is rewritten whole every run.
    """
    if dataset.write_gb_per_run is not None:
        return dataset.write_gb_per_run
    if dataset.growth_gb_per_day > 0:
        return dataset.growth_gb_per_day / max(runs_per_day, 1e-9)
    return dataset.size_gb


def accelerated(itype: InstanceType, demand: StageDemand) -> bool:
    """The instance carries the stage's preferred accelerator."""
    return (
        demand.accelerator is not None
        and itype.accelerator is not None
        and itype.accelerator.name.lower() == demand.accelerator.lower()
    )


def servers_per_replica(itype: InstanceType, demand: StageDemand) -> int:
    """Requests one replica serves at once: one per accelerator, else one per vCPU."""
    if accelerated(itype, demand):
        assert itype.accelerator is not None  # narrowed by accelerated()
        return itype.accelerator.count
    return max(1, math.floor(itype.vcpus))


def data_parallel_speedup(devices: int) -> float:
    """S(G) = G·η^log2(G): speed-up of G accelerators over one (η per doubling)."""
    if devices <= 1:
        return 1.0
    return float(devices * DATA_PARALLEL_EFFICIENCY ** math.log2(devices))


def service_ms(itype: InstanceType, demand: StageDemand) -> float:
    """Mean service time of one request on one server of this instance type."""
    if accelerated(itype, demand):
        return demand.service_ms / demand.accelerator_speedup
    return demand.service_ms


@dataclass(frozen=True)
class OnlineCapacity:
    """Replicas an online option runs: at peak (latency) and on average (cost)."""

    replicas_at_peak: int
    mean_replicas_active: float
    mean_replicas_idle: float
    headroom: float
    work_at_peak: float


def scaling_headroom(scaling: ScalingPolicy, tier: ServiceTier, cv2: float) -> float:
    """Over-provisioning an autoscaler pays on top of load/target (0 for static)."""
    if scaling is ScalingPolicy.PREDICTIVE:
        return PREDICTIVE_RESIDUAL + PREDICTIVE_BURST_PENALTY * max(0.0, cv2 - 1.0)
    if scaling is ScalingPolicy.RULE_BASED:
        step = tier.capabilities.scale_step_s
        return math.sqrt(cv2) * step / (step + RULE_REACTION_S)
    return 0.0


def online_capacity(
    option: StageOption, tier: ServiceTier, itype: InstanceType, demand: StageDemand
) -> OnlineCapacity:
    """Replicas at peak and mean replicas under the option's scaling policy.

    With μ_r = servers × 1000 / service_ms requests/s per replica, peak work
    r_p = λ̄·P/μ_r and mean work r̄ = λ̄/μ_r (in replicas):
    static runs replicas_max always; autoscaled policies run
    clamp(⌈r_p/ρ*⌉) at peak and clamp(r̄/ρ* × (1 + h)) on average while active,
    replicas_min while idle, with h = :func:`scaling_headroom`.
    """
    mu_r = servers_per_replica(itype, demand) * 1000.0 / service_ms(itype, demand)
    r_peak = demand.mean_rps * demand.peak_to_mean / mu_r
    r_mean = demand.mean_rps / mu_r
    lo, hi = option.replicas_min, option.replicas_max
    if option.scaling is ScalingPolicy.STATIC:
        return OnlineCapacity(hi, float(hi), float(hi), 0.0, r_peak)
    h = scaling_headroom(option.scaling, tier, demand.arrival_cv2)
    at_peak = min(hi, max(lo, 1, math.ceil(r_peak / TARGET_UTILISATION - 1e-9)))
    mean_active = min(float(hi), max(float(lo), r_mean / TARGET_UTILISATION * (1.0 + h)))
    return OnlineCapacity(at_peak, mean_active, float(lo), h, r_peak)


def data_traffic(
    inp: PlanningInput, option: StageOption, demand: StageDemand
) -> tuple[LocationTraffic, ...]:
    """The stage's bytes per run on each of its data locations under ``option``."""
    return stage_traffic(
        inp, demand.stage, option, read_gb=demand.read_gb, write_gb=demand.write_gb,
        epochs=demand.epochs, memory_gib=demand.memory_gib, archetype=demand.archetype,
    )
