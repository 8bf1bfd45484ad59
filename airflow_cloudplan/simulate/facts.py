"""What the simulator reads from a plan, the spec and the catalog — as data, never as models.

A :class:`StageFacts` is one stage's chosen option turned into the quantities operation
needs: servers per replica and their speed, the per-second price of a replica, how long
a new replica takes to become ready, and where every byte the stage reads comes from.
Prices, throughput and tier capabilities are read straight from the :class:`Catalog`
(the bundled snapshot is derived from ``../shared/data/pricing`` and
``../shared/data/network``); nothing here imports :mod:`airflow_cloudplan.optimize`.

Network physics of the simulator (its own, see :func:`rtt_s` and :func:`read_rate_mb_s`):

* round trip = ``RTT_INFLATION`` × the speed-of-light round trip over the great-circle
  distance (measured inter-region RTTs on cloud backbones are about twice it, e.g.
  us-east-1 ↔ eu-west-1 ≈ 70 ms over 5,500 km);
* an object read of block B on one stream takes first-byte latency + RTT + B/τ (τ the
  storage class's per-stream throughput); a replica opens ``streams_per_replica`` streams
  and its traffic is capped by the catalog's measured throughput of the region pair
  (one VM pair, 64 connections, iperf3), each replica on its own path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from airflow_cloudplan.errors import CatalogError, Problem
from airflow_cloudplan.model.catalog import Catalog, StorageKind
from airflow_cloudplan.model.plan import AccessStrategy, ScalingPolicy, StageOption
from airflow_cloudplan.model.workload import Archetype, Pipeline, Stage
from airflow_cloudplan.simulate.config import SimConfig

LIGHT_KM_PER_MS = 299.792
RTT_INFLATION = 2.0
"""Measured cloud inter-region RTT / speed-of-light RTT over the great circle."""
INTRA_REGION_RTT_S = 0.0005
"""Round trip inside a region (same-region, cross-zone ~0.5 ms)."""


def _missing(what: str, where: str, hint: str) -> CatalogError:
    return CatalogError(f"catalog {what}", [Problem(what, path=where, hint=hint)])


def rtt_s(catalog: Catalog, src: str, dst: str) -> float:
    """Round-trip time between two regions in seconds."""
    if src == dst:
        return INTRA_REGION_RTT_S
    a, b = catalog.region(src), catalog.region(dst)
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    hav = (math.sin((lat2 - lat1) / 2) ** 2
           + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    km = 2 * 6371.0 * math.asin(math.sqrt(min(1.0, hav)))
    return RTT_INFLATION * 2.0 * km / LIGHT_KM_PER_MS / 1000.0


def link_mb_s(catalog: Catalog, src: str, dst: str) -> float:
    """Measured throughput of one VM pair between two regions, MB/s."""
    try:
        return catalog.throughput_gbps(src, dst) * 125.0
    except KeyError:
        raise _missing(f"has no measured throughput {src}>{dst}", f"network.{src}>{dst}",
                       "add the pair to the catalog's network table") from None


def read_rate_mb_s(catalog: Catalog, cfg: SimConfig, *, src: str, dst: str, replicas: int,
                   archetype: Archetype = Archetype.LARGE_SEQUENTIAL,
                   kind: StorageKind = StorageKind.OBJECT) -> float:
    """Aggregate MB/s of ``replicas`` replicas reading objects stored in ``src`` from ``dst``."""
    storage = catalog.storage_class(kind)
    block = cfg.random_block_mb if archetype is Archetype.RANDOM_READ else cfg.read_block_mb
    streams = 1 if archetype is Archetype.STREAM_APPEND else cfg.streams_per_replica
    latency = storage.first_byte_latency_ms / 1000.0 + rtt_s(catalog, src, dst)
    per_stream = block / (latency + block / storage.throughput_mb_s)
    if archetype is Archetype.MIXED:  # half large blocks, half small ones: harmonic mix
        small = cfg.random_block_mb / (latency + cfg.random_block_mb / storage.throughput_mb_s)
        per_stream = 2.0 / (1.0 / per_stream + 1.0 / small)
    n = max(1, replicas)
    return min(n * streams * per_stream, n * link_mb_s(catalog, src, dst))


def replica_usd_per_s(catalog: Catalog, option: StageOption) -> float:
    """Per-second price of one replica (spot when the option asks for spot)."""
    price = catalog.price(option.instance_type, option.region)
    if price is None:
        raise _missing(f"has no price for {option.instance_type} in {option.region}",
                       f"stages.{option.stage}.instance_type",
                       "choose a type offered in that region (cloudplan catalog list)")
    hourly = price.on_demand_usd_per_hour
    if option.spot:
        if price.spot_usd_per_hour is None:
            raise _missing(f"has no spot price for {option.instance_type} in {option.region}",
                           f"stages.{option.stage}.spot", "use on-demand there")
        hourly = price.spot_usd_per_hour
    try:
        tier = catalog.tier(option.tier)
    except KeyError:
        raise _missing(f"has no tier {option.tier}", f"stages.{option.stage}.tier",
                       "use a tier of the catalog") from None
    return tier.replica_usd_per_hour(hourly) / 3600.0


def storage_usd_per_gb_month(catalog: Catalog, kind: StorageKind, region: str) -> float:
    """GB-month price of storage of ``kind`` in ``region``."""
    try:
        return catalog.storage_class(kind).usd_per_gb_month[region]
    except KeyError:
        raise _missing(f"has no {kind.value} storage price in {region}",
                       f"storage[{kind.value}].{region}", "add it to the catalog") from None


def egress_usd_per_gb(catalog: Catalog, src: str, dst: str) -> float:
    """USD per GB moved between regions (0 inside one)."""
    try:
        return catalog.egress.between(src, dst)
    except KeyError:
        raise _missing(f"has no egress price {src}>{dst}", f"egress.cross_region.{src}>{dst}",
                       "add the pair (a missing pair is never assumed free)") from None


def internet_usd_per_gb(catalog: Catalog, region: str) -> float:
    """USD per GB sent to the internet from ``region``."""
    try:
        return catalog.egress.internet_usd_per_gb[region]
    except KeyError:
        raise _missing(f"has no internet egress price for {region}",
                       f"egress.internet_usd_per_gb.{region}", "add it") from None


@dataclass(frozen=True)
class DataSource:
    """One dataset a stage reads, and how the option places it.

    ``local_share`` of its bytes is read in the stage's region from a copy (home, replica
    or partition); the rest crosses from ``home_region`` unless a cache holds it.
    ``copy_gb`` is the size of a copy the option keeps in the stage's region and
    ``copy_kind`` its storage class; ``sync_gb_per_day`` keeps a replica current.
    """

    dataset: str
    gb: float
    home_region: str
    archetype: Archetype
    local_share: float
    cached: bool
    copy_gb: float
    copy_kind: StorageKind
    one_off_copy_gb: float
    sync_gb_per_day: float

    @property
    def remote(self) -> bool:
        """Some bytes must cross regions (before any cache)."""
        return self.local_share < 1.0


@dataclass(frozen=True)
class StageFacts:
    """One stage under one option, as operation sees it."""

    stage: str
    region: str
    option: StageOption
    slots_per_replica: int
    slowdown: float
    accelerated: bool
    devices_per_replica: int
    usd_per_replica_s: float
    launch_s: float
    cold_start_s: float
    scale_to_zero: bool
    sources: tuple[DataSource, ...]
    checkpoint_gb: float
    public_endpoint: bool

    @property
    def scaling(self) -> ScalingPolicy:
        """The option's scaling policy."""
        return self.option.scaling

    @property
    def replicas_min(self) -> int:
        """Lower bound of the replica count."""
        return self.option.replicas_min

    @property
    def replicas_max(self) -> int:
        """Upper bound of the replica count."""
        return self.option.replicas_max


def data_sources(pipeline: Pipeline, stage: Stage, option: StageOption,
                 cfg: SimConfig) -> tuple[DataSource, ...]:
    """Where the bytes of every dataset the stage reads come from under the option."""
    out: list[DataSource] = []
    datasets = pipeline.dataset_by_name
    for name in dict.fromkeys(stage.reads):
        d = datasets.get(name)
        if d is None:
            continue
        at_home = d.home_region == option.region
        access = option.access
        local, cached, copy, kind, one_off, sync = 1.0, False, 0.0, StorageKind.OBJECT, 0.0, 0.0
        if access is AccessStrategy.REGIONAL_CACHE:
            local = 1.0 if at_home else 0.0  # misses go to the home copy
            cached = True
            copy, kind = d.size_gb * cfg.cache_fraction, StorageKind.CACHE
        elif at_home:
            pass
        elif access is AccessStrategy.SELECTIVE_REPLICATION:
            copy, one_off, sync = d.size_gb, d.size_gb, d.growth_gb_per_day
        elif access is AccessStrategy.PARTITIONED_LOCALITY:
            local = cfg.partition_share
            copy = d.size_gb * cfg.partition_share
            one_off, sync = copy, d.growth_gb_per_day * cfg.partition_share
        else:
            local = 0.0
        out.append(DataSource(name, d.size_gb, d.home_region, d.archetype, local, cached,
                              copy, kind, one_off, sync))
    return tuple(out)


def stage_facts(catalog: Catalog, pipeline: Pipeline, option: StageOption,
                cfg: SimConfig) -> StageFacts:
    """The operational facts of ``option`` for its stage."""
    stage = pipeline.stage_by_name[option.stage]
    try:
        itype = catalog.instance_type(option.instance_type)
        tier = catalog.tier(option.tier)
        catalog.region(option.region)
    except KeyError as exc:
        raise _missing(f"has no entry {exc}", f"stages.{option.stage}",
                       "plan against the catalog the simulation uses") from None
    wanted = stage.compute.accelerator
    accelerated = (wanted is not None and itype.accelerator is not None
                   and itype.accelerator.name.lower() == wanted.lower())
    if accelerated:
        assert itype.accelerator is not None
        slots, slowdown, devices = itype.accelerator.count, 1.0, itype.accelerator.count
    else:
        slots = max(1, math.floor(itype.vcpus))
        slowdown = stage.compute.accelerator_speedup if wanted is not None else 1.0
        devices = slots
    caps = tier.capabilities
    return StageFacts(
        stage=stage.name, region=option.region, option=option, slots_per_replica=slots,
        slowdown=slowdown, accelerated=accelerated, devices_per_replica=devices,
        usd_per_replica_s=replica_usd_per_s(catalog, option),
        launch_s=max(caps.cold_start_s, caps.scale_step_s), cold_start_s=caps.cold_start_s,
        scale_to_zero=caps.scale_to_zero, sources=data_sources(pipeline, stage, option, cfg),
        checkpoint_gb=stage.compute.memory_gib, public_endpoint=stage.public_endpoint,
    )


__all__ = [
    "DataSource",
    "StageFacts",
    "egress_usd_per_gb",
    "internet_usd_per_gb",
    "link_mb_s",
    "read_rate_mb_s",
    "replica_usd_per_s",
    "rtt_s",
    "stage_facts",
    "storage_usd_per_gb_month",
]
