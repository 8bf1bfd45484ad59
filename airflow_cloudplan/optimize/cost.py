"""Cost model C (USD per month) and the one place where catalog prices are looked up.

Every model that needs a price calls a function of this module (``replica_usd_per_hour``,
``storage_usd_per_gb_month``, ``egress_usd_per_gb``, ``internet_usd_per_gb``), so a price
is never looked up two ways. A stage's cost under option o (docs/models.md §2–3):

* compute = p_rep × replica-hours/month, p_rep = instance price (spot when ``spot``) ×
  tier multiplier + tier fee / replicas per fee. Replica-hours by scaling policy:
  online: static pays replicas_max × 730 h; autoscaled pays
  n̄_active × active h + replicas_min × idle h (n̄ from :func:`demand.online_capacity`:
  load/ρ* × (1 + h), h the rule-based lag headroom √cv²·step/(step + 60 s) or the
  predictive residual 0.05 + 0.25·(cv² − 1)⁺). Batch: static pays replicas_max × 730 h;
  rule-based pays replicas_max × (T + scale step) per run (T includes its cold start and
  scale-out), predictive pays replicas_max × (T + cold start pre-warm) × 1.05 per run,
  where T is the completion time of :mod:`latency`; replicas_min are paid while idle.
* storage = Σ over the option's data locations (:mod:`airflow_cloudplan.dataflow`:
  caches, replicas, partitions, checkpoints) of GB held × the GB-month price of the
  location's storage class in the location's region, + GET and PUT requests of every read
  and write at the location's request prices.
* network (this stage only) = Σ GB read per run from a location in another region ×
  runs/month × egress(location → stage) + Σ GB written per run to a location in another
  region (outputs homed elsewhere) × runs/month × egress(stage → location) + replica and
  partition sync GB/month × egress(home → copy) + public endpoint responses × internet
  egress. Inter-stage edge egress is added by the solver per region pair
  (``egress_usd_per_gb``).
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_cloudplan.errors import CatalogError, Problem, did_you_mean
from airflow_cloudplan.model.catalog import Catalog, StorageClass, StorageKind
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import CostBreakdown, ScalingPolicy, StageOption
from airflow_cloudplan.model.workload import Archetype
from airflow_cloudplan.optimize.demand import (
    HOURS_PER_MONTH,
    PREDICTIVE_RESIDUAL,
    StageDemand,
    data_traffic,
    online_capacity,
    resolve_demand,
)
from airflow_cloudplan.optimize.latency import batch_breakdown, run_seconds

RESPONSE_KB = 4.0
"""Bytes a public endpoint sends back per request (internet egress)."""
_BLOCK_MB = {
    Archetype.LARGE_SEQUENTIAL: 64.0,
    Archetype.RANDOM_READ: 1.0,
    Archetype.STREAM_APPEND: 8.0,
    Archetype.MIXED: 2.0,
}


def _catalog_error(what: str, where: str, hint: str) -> CatalogError:
    return CatalogError(f"catalog {what}", [Problem(what, path=where, hint=hint)])


def instance_usd_per_hour(catalog: Catalog, option: StageOption) -> float:
    """Hourly price of the option's instance type in its region (spot when requested)."""
    price = catalog.price(option.instance_type, option.region)
    if price is None:
        known = {t.name for t in catalog.instance_types}
        hint = (
            did_you_mean(option.instance_type, known) if option.instance_type not in known else None
        )
        raise _catalog_error(
            f"has no price for {option.instance_type} in {option.region}",
            f"stages.{option.stage}.instance_type",
            hint or "choose an instance type offered in that region (cloudplan catalog list)",
        )
    if option.spot:
        if price.spot_usd_per_hour is None:
            raise _catalog_error(
                f"has no spot price for {option.instance_type} in {option.region}",
                f"stages.{option.stage}.spot",
                "use on-demand for this type/region",
            )
        return price.spot_usd_per_hour
    return price.on_demand_usd_per_hour


def replica_usd_per_hour(catalog: Catalog, option: StageOption) -> float:
    """Hourly price of one replica: instance price through the tier's price relation."""
    tier = catalog.tier(option.tier)
    return tier.replica_usd_per_hour(instance_usd_per_hour(catalog, option))


def storage_usd_per_gb_month(catalog: Catalog, kind: StorageKind, region: str) -> float:
    """GB-month price of the first storage class of ``kind`` in ``region``."""
    try:
        cls = catalog.storage_class(kind)
        return cls.usd_per_gb_month[region]
    except KeyError:
        raise _catalog_error(
            f"has no {kind.value} storage price in {region}",
            f"storage[{kind.value}].usd_per_gb_month.{region}",
            "add the region's price to the catalog or avoid this access strategy there",
        ) from None


def has_storage(catalog: Catalog, kind: StorageKind, region: str) -> bool:
    """A storage class of ``kind`` is priced in ``region``."""
    return any(s.kind == kind and region in s.usd_per_gb_month for s in catalog.storage)


def storage_class(catalog: Catalog, kind: StorageKind) -> StorageClass:
    """The catalog's storage class of ``kind`` (an error naming the kind when absent)."""
    try:
        return catalog.storage_class(kind)
    except KeyError:
        raise _catalog_error(
            f"has no {kind.value} storage class", f"storage[{kind.value}]",
            "add the storage class to the catalog",
        ) from None


def egress_usd_per_gb(catalog: Catalog, src_region: str, dst_region: str) -> float:
    """USD per GB moved from ``src_region`` to ``dst_region`` (0 within a region)."""
    try:
        return catalog.egress.between(src_region, dst_region)
    except KeyError:
        raise _catalog_error(
            f"has no egress price {src_region}>{dst_region}",
            f"egress.cross_region.{src_region}>{dst_region}",
            "add the pair to the catalog (a missing pair is never assumed free)",
        ) from None


def internet_usd_per_gb(catalog: Catalog, region: str) -> float:
    """USD per GB sent to the internet from ``region``."""
    try:
        return catalog.egress.internet_usd_per_gb[region]
    except KeyError:
        raise _catalog_error(
            f"has no internet egress price for {region}",
            f"egress.internet_usd_per_gb.{region}",
            "add the region's internet egress price to the catalog",
        ) from None


def replica_hours_per_month(inp: PlanningInput, option: StageOption, demand: StageDemand) -> float:
    """Replica-hours a month implied by the scaling policy under the stage's load."""
    cat = inp.catalog
    tier = cat.tier(option.tier)
    itype = cat.instance_type(option.instance_type)
    if option.scaling is ScalingPolicy.STATIC:
        return option.replicas_max * HOURS_PER_MONTH
    if demand.online:
        cap = online_capacity(option, tier, itype, demand)
        active = HOURS_PER_MONTH * demand.active_hours_per_day / 24.0
        return cap.mean_replicas_active * active + cap.mean_replicas_idle * (
            HOURS_PER_MONTH - active
        )
    run_s = run_seconds(batch_breakdown(inp, option, demand))
    if option.scaling is ScalingPolicy.RULE_BASED:
        paid_s = run_s + tier.capabilities.scale_step_s  # scale-in lag after the run
    else:
        paid_s = (run_s + tier.capabilities.cold_start_s) * (1.0 + PREDICTIVE_RESIDUAL)
    busy = min(HOURS_PER_MONTH, demand.runs_per_month * paid_s / 3600.0)
    return option.replicas_max * busy + option.replicas_min * (HOURS_PER_MONTH - busy)


@dataclass(frozen=True)
class DataCosts:
    """Monthly USD of a stage's data under an option, by what is paid for."""

    copy_storage_usd: float = 0.0
    request_usd: float = 0.0
    read_egress_usd: float = 0.0
    write_egress_usd: float = 0.0
    sync_egress_usd: float = 0.0

    @property
    def storage_usd(self) -> float:
        """Storage and requests."""
        return self.copy_storage_usd + self.request_usd

    @property
    def network_usd(self) -> float:
        """Egress of reads, writes and copy syncs."""
        return self.read_egress_usd + self.write_egress_usd + self.sync_egress_usd

    def as_detail(self) -> dict[str, float]:
        """The breakdown as ``StageEvaluation.detail`` entries."""
        return {
            "copy_storage_usd": self.copy_storage_usd,
            "request_usd": self.request_usd,
            "read_egress_usd": self.read_egress_usd,
            "write_egress_usd": self.write_egress_usd,
            "sync_egress_usd": self.sync_egress_usd,
        }


def data_costs(inp: PlanningInput, option: StageOption, demand: StageDemand) -> DataCosts:
    """Storage, request and egress cost of every data location of the option, per month."""
    cat = inp.catalog
    runs = demand.runs_per_month
    here = option.region
    stored = requests = read_egress = write_egress = sync = 0.0
    for t in data_traffic(inp, option, demand):
        loc = t.location
        cls = storage_class(cat, loc.storage)
        if t.stored_gb > 0:
            stored += t.stored_gb * storage_usd_per_gb_month(cat, loc.storage, loc.region)
        gets = t.read_gb * 1000.0 / _BLOCK_MB[t.read_archetype] * runs
        puts = (t.write_gb + t.fill_gb) * 1000.0 / _BLOCK_MB[t.write_archetype] * runs
        requests += gets / 1000.0 * cls.usd_per_1k_reads + puts / 1000.0 * cls.usd_per_1k_writes
        if t.read_gb > 0 and loc.region != here:
            read_egress += t.read_gb * runs * egress_usd_per_gb(cat, loc.region, here)
        if t.write_gb > 0 and loc.region != here:
            write_egress += t.write_gb * runs * egress_usd_per_gb(cat, here, loc.region)
        if t.sync_gb_month > 0 and loc.home_region is not None:
            sync += t.sync_gb_month * egress_usd_per_gb(cat, loc.home_region, loc.region)
    return DataCosts(stored, requests, read_egress, write_egress, sync)


def stage_cost(inp: PlanningInput, stage_name: str, option: StageOption) -> CostBreakdown:
    """Monthly cost of running ``stage_name`` with ``option`` (excluding edge egress)."""
    cat = inp.catalog
    stage = inp.pipeline.stage_by_name[stage_name]
    demand = resolve_demand(inp, stage_name)
    compute = replica_usd_per_hour(cat, option) * replica_hours_per_month(inp, option, demand)
    data = data_costs(inp, option, demand)
    network = data.network_usd
    if stage.public_endpoint and demand.online:
        gb = demand.requests_per_month * RESPONSE_KB / 1e6
        network += gb * internet_usd_per_gb(cat, option.region)
    return CostBreakdown(compute_usd=compute, storage_usd=data.storage_usd, network_usd=network)
