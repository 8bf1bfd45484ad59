"""The offer catalog: where a stage can run and what it costs there.

A :class:`Catalog` is a dated snapshot of public facts (price lists, measured network
throughput) for one or more providers. It is pure data; loaders live in
``airflow_cloudplan.catalog``. Units are in the field names (``usd_per_hour``,
``usd_per_gb``, ``gbps``) so that no model has to guess them.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class Frozen(BaseModel):
    """Base for all domain models: immutable, strict about unknown fields.

    Computed fields (such as ``StageOption.id``) are written to JSON for readers, and
    dropped again on validation so every model round-trips exactly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_computed_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.model_computed_fields:
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


class Signal(StrEnum):
    """Telemetry signals a service tier can emit."""

    LOGS = "logs"
    METRICS = "metrics"
    TRACES = "traces"


class TierKind(StrEnum):
    """Service tiers a stage can be deployed on."""

    SERVERLESS = "serverless"
    CONTAINER = "container"
    VM = "vm"


class StorageKind(StrEnum):
    """Storage classes by how they are accessed."""

    OBJECT = "object"
    BLOCK = "block"
    CACHE = "cache"


class Source(Frozen):
    """Where a number came from and when it was true."""

    name: str
    url_or_path: str
    retrieved: date
    note: str = ""


class Region(Frozen):
    """A provider region with its jurisdiction tag and availability zones."""

    id: str
    provider: str
    jurisdiction: str = Field(description="legal area for data residency, e.g. eu, us, apac")
    name: str = ""
    zones: tuple[str, ...] = Field(min_length=1)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class TierCapabilities(Frozen):
    """What a service tier can do, as facts the gates and models read."""

    signals: frozenset[Signal]
    isolation: str = Field(description="isolation boundary: microvm, container, vm")
    data_plane_audit: bool = Field(
        description="data-plane accesses can be logged immutably to a central store"
    )
    cold_start_s: NonNegFloat
    scale_step_s: NonNegFloat = Field(description="time to add one unit of capacity")
    scale_to_zero: bool
    accelerators: bool = Field(description="can host GPU/accelerator instance types")
    max_request_timeout_s: float | None = Field(
        default=None, description="hard limit on one invocation, e.g. 900 s for Lambda"
    )
    max_vcpus: PositiveFloat | None = Field(
        default=None, description="largest replica the tier can host (e.g. 16 vCPU on Fargate)"
    )
    max_memory_gib: PositiveFloat | None = Field(
        default=None, description="largest replica memory the tier can host (e.g. 120 GiB)"
    )

    @field_serializer("signals", when_used="json")
    def _signals_sorted(self, signals: frozenset[Signal]) -> list[Signal]:
        # Sets serialise in hash order, which changes between runs; JSON must be stable.
        return sorted(signals)


class ServiceTier(Frozen):
    """A way to run compute (serverless, container, VM) and its pricing relation.

    The hourly price of a replica on this tier is
    ``instance on-demand price × price_multiplier + fixed_usd_per_hour / replicas_per_fee``
    where the multiplier captures the managed-service premium (e.g. Fargate over EC2).
    """

    id: str
    provider: str
    kind: TierKind
    capabilities: TierCapabilities
    price_multiplier: PositiveFloat = 1.0
    fixed_usd_per_hour: NonNegFloat = 0.0
    replicas_per_fee: int = Field(
        default=1, ge=1, description="replicas sharing one fixed fee, e.g. nodes per EKS cluster"
    )
    source: Source | None = None

    def replica_usd_per_hour(self, instance_usd_per_hour: float) -> float:
        """Hourly price of one replica on this tier given the instance's hourly price."""
        return (
            instance_usd_per_hour * self.price_multiplier
            + self.fixed_usd_per_hour / self.replicas_per_fee
        )


class Accelerator(Frozen):
    """Accelerators attached to an instance type."""

    name: str
    count: int = Field(ge=1)


class InstanceType(Frozen):
    """An instance type's shape (prices are per region, in :class:`InstancePrice`)."""

    name: str
    provider: str
    family: str
    category: str = Field(description="general, compute, memory, gpu, accelerator")
    vcpus: PositiveFloat
    memory_gib: PositiveFloat
    accelerator: Accelerator | None = None
    arch: str = "x86_64"


class InstancePrice(Frozen):
    """On-demand (and spot, when known) price of one instance type in one region."""

    instance_type: str
    region: str
    zones: tuple[str, ...] = Field(min_length=1)
    on_demand_usd_per_hour: PositiveFloat
    spot_usd_per_hour: PositiveFloat | None = None


class StorageClass(Frozen):
    """A storage class with its per-region GB-month price and performance."""

    id: str
    provider: str
    kind: StorageKind
    usd_per_gb_month: dict[str, PositiveFloat] = Field(description="region -> price")
    usd_per_1k_reads: NonNegFloat = 0.0
    usd_per_1k_writes: NonNegFloat = 0.0
    first_byte_latency_ms: PositiveFloat
    throughput_mb_s: PositiveFloat
    source: Source | None = None


class EgressPrices(Frozen):
    """Data transfer prices in USD/GB.

    ``cross_region`` is keyed ``"src>dst"``; a missing pair is a catalog error, never 0.
    """

    same_zone_usd_per_gb: NonNegFloat = 0.0
    cross_zone_usd_per_gb: NonNegFloat
    cross_region: dict[str, NonNegFloat]
    internet_usd_per_gb: dict[str, NonNegFloat] = Field(description="src region -> price")
    source: Source | None = None

    def between(self, src: str, dst: str) -> float:
        """Price per GB from region ``src`` to region ``dst`` (0 within a region)."""
        if src == dst:
            return self.same_zone_usd_per_gb
        return self.cross_region[f"{src}>{dst}"]


class NetworkLink(Frozen):
    """Measured throughput between two regions (one direction)."""

    src: str
    dst: str
    throughput_gbps: PositiveFloat


class Catalog(Frozen):
    """A dated snapshot of offers for one or more providers."""

    version: str = Field(description="snapshot id, e.g. aws-2026-11-28")
    snapshot_date: date
    providers: tuple[str, ...]
    regions: tuple[Region, ...]
    tiers: tuple[ServiceTier, ...]
    instance_types: tuple[InstanceType, ...]
    prices: tuple[InstancePrice, ...]
    storage: tuple[StorageClass, ...]
    egress: EgressPrices
    network: tuple[NetworkLink, ...] = ()
    intra_region_gbps: PositiveFloat = Field(
        default=10.0, description="throughput assumed inside a region"
    )
    sources: tuple[Source, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalog:
        regions = {r.id for r in self.regions}
        types = {t.name for t in self.instance_types}
        for p in self.prices:
            if p.region not in regions:
                raise ValueError(f"price for {p.instance_type} names unknown region {p.region}")
            if p.instance_type not in types:
                raise ValueError(f"price names unknown instance type {p.instance_type}")
        return self

    # Indexes are cached_property: the catalog is frozen, so they never go stale, and
    # pydantic ignores them in equality and serialisation.
    @cached_property
    def _regions_by_id(self) -> dict[str, Region]:
        return {r.id: r for r in self.regions}

    @cached_property
    def _tiers_by_id(self) -> dict[str, ServiceTier]:
        return {t.id: t for t in self.tiers}

    @cached_property
    def _types_by_name(self) -> dict[str, InstanceType]:
        return {t.name: t for t in self.instance_types}

    @cached_property
    def _price_index(self) -> dict[tuple[str, str], InstancePrice]:
        return {(p.instance_type, p.region): p for p in self.prices}

    @cached_property
    def _network_index(self) -> dict[tuple[str, str], float]:
        return {(n.src, n.dst): n.throughput_gbps for n in self.network}

    def region(self, region_id: str) -> Region:
        """The region with this id (``KeyError`` if unknown)."""
        return self._regions_by_id[region_id]

    def tier(self, tier_id: str) -> ServiceTier:
        """The service tier with this id (``KeyError`` if unknown)."""
        return self._tiers_by_id[tier_id]

    def instance_type(self, name: str) -> InstanceType:
        """The instance type with this name (``KeyError`` if unknown)."""
        return self._types_by_name[name]

    def price(self, instance_type: str, region: str) -> InstancePrice | None:
        """The price of an instance type in a region, or ``None`` if not offered there."""
        return self._price_index.get((instance_type, region))

    def storage_class(self, kind: StorageKind) -> StorageClass:
        """The first storage class of a kind (``KeyError`` if none)."""
        for s in self.storage:
            if s.kind == kind:
                return s
        raise KeyError(kind)

    def throughput_gbps(self, src: str, dst: str) -> float:
        """Measured throughput src->dst (symmetric fallback; intra-region default)."""
        if src == dst:
            return self.intra_region_gbps
        idx = self._network_index
        if (src, dst) in idx:
            return idx[(src, dst)]
        if (dst, src) in idx:
            return idx[(dst, src)]
        raise KeyError(f"{src}>{dst}")
