"""Candidate options per stage: every sensible way to deploy it (before gates and solver).

For each stage the enumeration composes, in this deterministic order:

1. **region** — ``stage.allowed_regions``, else ``pipeline.candidate_regions``, else every
   catalog region of the pipeline's provider; **zone** — the first zone where the instance
   type is priced (no model depends on the zone, so a second zone would only duplicate
   every number of the first);
2. **tier** — the provider's tiers, restricted to ``stage.tiers``; serverless tiers host no
   accelerators, cap the replica shape (``max_vcpus``/``max_memory_gib``) and drop batch
   options whose completion time exceeds the request timeout;
3. **instance type** — ``stage.instance_types`` if given; otherwise a shortlist: per
   CPU family the smallest size that holds the stage's memory and (for batch stages) the
   next size up, plus the two smallest types carrying the stage's preferred accelerator;
   accelerator types are never offered to a stage that does not prefer that accelerator;
4. **replicas and scaling** — online: static at ⌈r_p/ρ*⌉ replicas (the least that meets
   peak at the target utilisation) and rule-based/predictive between a floor (0 when the
   tier scales to zero, else 1) and 2⌈r_p/ρ*⌉; batch: 1 or 4 replicas (4 only when
   parallel_fraction ≥ 0.5), static keeps them, autoscaled start from 0;
5. **data access** — direct always; regional cache, selective replication and partitioned
   locality only when the stage reads a dataset whose home is another region (at home,
   replication and partitioning read in place exactly like direct access);
   a regional cache also at home when the stage reads any dataset — and only in regions
   where the catalog prices the cache storage class (elsewhere there is no cache to
   price or time: the exclusion is counted in the report);
6. **isolation** — scoped; shared only on request (``include_shared``, for the baselines).
   A shared identity changes neither a stage's cost nor its latency nor its exposure and
   can only raise its blast radius (the sum of every sharer's reach), so it never beats
   the scoped option on (C, L, R): the planner's frontier loses nothing without it, and
   gates and solver see half the options. Baselines that run everything under one
   shared role are still scored with it.

No dominance pruning happens here (that is ``optimize.dominance``, exact, before the MILP);
:func:`enumerate_with_report` counts what the rules above excluded and why.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from airflow_cloudplan.model.catalog import InstanceType, ServiceTier, StorageKind, TierKind
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import AccessStrategy, Isolation, ScalingPolicy, StageOption
from airflow_cloudplan.optimize.cost import has_storage
from airflow_cloudplan.optimize.demand import (
    TARGET_UTILISATION,
    StageDemand,
    accelerated,
    resolve_demand,
    servers_per_replica,
    service_ms,
)
from airflow_cloudplan.optimize.latency import stage_latency_ms

BATCH_PARALLEL_REPLICAS = 4
ACCELERATED_SHORTLIST = 2


@dataclass
class CandidateReport:
    """How many options a stage got and how many combinations the rules excluded, by rule."""

    stage: str
    options: int = 0
    excluded: Counter[str] = field(default_factory=Counter)


def candidate_regions(inp: PlanningInput, stage_name: str) -> list[str]:
    """Regions a stage may be placed in, before residency gates."""
    stage = inp.pipeline.stage_by_name[stage_name]
    if stage.allowed_regions:
        return list(stage.allowed_regions)
    if inp.pipeline.candidate_regions:
        return list(inp.pipeline.candidate_regions)
    return [r.id for r in inp.catalog.regions if r.provider == inp.pipeline.provider]


def shortlist_types(inp: PlanningInput, demand: StageDemand) -> list[InstanceType]:
    """Instance types worth trying for a stage (see module docstring, step 3)."""
    stage = inp.pipeline.stage_by_name[demand.stage]
    types = [t for t in inp.catalog.instance_types if t.provider == inp.pipeline.provider]
    if stage.instance_types:
        wanted = set(stage.instance_types)
        return [t for t in types if t.name in wanted]
    fitting = sorted(
        (t for t in types if t.memory_gib >= demand.memory_gib),
        key=lambda t: (t.vcpus, t.memory_gib, t.name),
    )
    chosen: list[InstanceType] = []
    per_family: Counter[str] = Counter()
    per_family_cap = 1 if demand.online else 2
    for t in fitting:
        if t.accelerator is not None:
            continue
        if per_family[t.family] < per_family_cap:
            chosen.append(t)
            per_family[t.family] += 1
    accel = [t for t in fitting if accelerated(t, demand)]
    chosen.extend(accel[:ACCELERATED_SHORTLIST])
    return sorted(chosen, key=lambda t: t.name)


def _replica_plans(
    demand: StageDemand, tier: ServiceTier, itype: InstanceType
) -> list[tuple[int, int, ScalingPolicy]]:
    if demand.online:
        mu_r = servers_per_replica(itype, demand) * 1000.0 / service_ms(itype, demand)
        r_peak = demand.mean_rps * demand.peak_to_mean / mu_r
        need = max(1, math.ceil(r_peak / TARGET_UTILISATION - 1e-9))
        floor = 0 if tier.capabilities.scale_to_zero else 1
        return [
            (need, need, ScalingPolicy.STATIC),
            (floor, 2 * need, ScalingPolicy.RULE_BASED),
            (floor, 2 * need, ScalingPolicy.PREDICTIVE),
        ]
    sizes = [1]
    if demand.parallel_fraction >= 0.5:
        sizes.append(BATCH_PARALLEL_REPLICAS)
    plans: list[tuple[int, int, ScalingPolicy]] = []
    for n in sizes:
        plans.append((n, n, ScalingPolicy.STATIC))
        plans.append((0, n, ScalingPolicy.RULE_BASED))
        plans.append((0, n, ScalingPolicy.PREDICTIVE))
    return plans


def _access_strategies(
    inp: PlanningInput, demand: StageDemand, region: str, report: CandidateReport
) -> list[AccessStrategy]:
    if not demand.read_gb:
        return [AccessStrategy.DIRECT]
    homes = {inp.pipeline.dataset_by_name[n].home_region for n in demand.read_gb}
    out = (
        [AccessStrategy.DIRECT, AccessStrategy.REGIONAL_CACHE]
        if homes == {region}
        else list(AccessStrategy)
    )
    if not has_storage(inp.catalog, StorageKind.CACHE, region):
        out.remove(AccessStrategy.REGIONAL_CACHE)
        report.excluded[f"regional_cache: no cache storage class priced in {region}"] += 1
    return out


def _tier_excludes(tier: ServiceTier, itype: InstanceType) -> str | None:
    caps = tier.capabilities
    if itype.accelerator is not None and not caps.accelerators:
        return f"{tier.kind.value}: no accelerators"
    if caps.max_vcpus is not None and itype.vcpus > caps.max_vcpus:
        return f"{tier.kind.value}: replica larger than max_vcpus"
    if caps.max_memory_gib is not None and itype.memory_gib > caps.max_memory_gib:
        return f"{tier.kind.value}: replica larger than max_memory_gib"
    return None


def enumerate_with_report(
    inp: PlanningInput, *, include_shared: bool = False,
) -> tuple[dict[str, list[StageOption]], dict[str, CandidateReport]]:
    """Options per stage (deterministic order) and what was excluded by which rule."""
    out: dict[str, list[StageOption]] = {}
    reports: dict[str, CandidateReport] = {}
    tiers = [t for t in inp.catalog.tiers if t.provider == inp.pipeline.provider]
    for stage in inp.pipeline.stages:
        demand = resolve_demand(inp, stage.name)
        report = CandidateReport(stage.name)
        allowed_kinds: set[TierKind] | None = set(stage.tiers) if stage.tiers else None
        options: list[StageOption] = []
        types = shortlist_types(inp, demand)
        if not types:
            report.excluded["no instance type holds the stage's memory"] += 1
        for region in candidate_regions(inp, stage.name):
            for tier in tiers:
                if allowed_kinds is not None and tier.kind not in allowed_kinds:
                    report.excluded["tier not in stage.tiers"] += 1
                    continue
                for itype in types:
                    price = inp.catalog.price(itype.name, region)
                    if price is None:
                        report.excluded["type not offered in region"] += 1
                        continue
                    reason = _tier_excludes(tier, itype)
                    if reason is not None:
                        report.excluded[reason] += 1
                        continue
                    options.extend(
                        _compose(
                            inp,
                            demand,
                            tier,
                            itype,
                            region=region,
                            zone=price.zones[0],
                            report=report,
                            include_shared=include_shared,
                        )
                    )
        report.options = len(options)
        out[stage.name] = options
        reports[stage.name] = report
    return out, reports


def _compose(
    inp: PlanningInput,
    demand: StageDemand,
    tier: ServiceTier,
    itype: InstanceType,
    *,
    region: str,
    zone: str,
    report: CandidateReport,
    include_shared: bool,
) -> list[StageOption]:
    timeout = tier.capabilities.max_request_timeout_s
    made: list[StageOption] = []
    for lo, hi, scaling in _replica_plans(demand, tier, itype):
        for access in _access_strategies(inp, demand, region, report):
            base = StageOption(
                stage=demand.stage,
                region=region,
                zone=zone,
                tier=tier.id,
                instance_type=itype.name,
                replicas_min=lo,
                replicas_max=hi,
                scaling=scaling,
                access=access,
                isolation=Isolation.SCOPED,
            )
            too_long = (
                timeout is not None
                and not demand.online
                and stage_latency_ms(inp, demand.stage, base) > timeout * 1000.0
            )
            if too_long:
                report.excluded[f"{tier.kind.value}: run exceeds request timeout"] += 1
                continue
            made.append(base)
            if include_shared:
                made.append(base.model_copy(update={"isolation": Isolation.SHARED}))
    return made


def enumerate_options(
    inp: PlanningInput, *, include_shared: bool = False
) -> dict[str, list[StageOption]]:
    """Candidate options per stage, in a deterministic order (see module docstring)."""
    return enumerate_with_report(inp, include_shared=include_shared)[0]
