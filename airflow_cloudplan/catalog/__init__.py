"""The offer catalog: load a dated snapshot, look things up with helpful errors.

``load_catalog()`` returns the bundled AWS snapshot (offline, no credentials);
``load_catalog(path=...)`` reads a refreshed file written by ``cloudplan catalog
refresh``. Results are cached per (provider, path): the catalog is frozen, so sharing
one instance is safe. Nothing is read at import time.

The ``resolve_*`` helpers are the one place where a user-supplied name (from a spec, a
policy or the CLI) meets the catalog: unknown names raise :class:`CatalogError` with a
"did you mean" hint instead of a ``KeyError``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from airflow_cloudplan.catalog.aws import AwsCatalogProvider, parse_catalog
from airflow_cloudplan.catalog.registry import (
    CatalogProvider,
    get_provider,
    provider_names,
    register_provider,
)
from airflow_cloudplan.errors import CatalogError, Problem, did_you_mean
from airflow_cloudplan.model.catalog import (
    Catalog,
    InstancePrice,
    InstanceType,
    Region,
    ServiceTier,
    StorageClass,
    StorageKind,
)

register_provider(AwsCatalogProvider.name, AwsCatalogProvider)

__all__ = [
    "CatalogProvider",
    "clear_catalog_cache",
    "egress_usd_per_gb",
    "get_provider",
    "load_catalog",
    "provider_names",
    "regions_in",
    "register_provider",
    "resolve_instance_type",
    "resolve_price",
    "resolve_region",
    "resolve_storage",
    "resolve_tier",
    "storage_usd_per_gb_month",
]


def load_catalog(provider: str = "aws", path: str | Path | None = None) -> Catalog:
    """The catalog for ``provider``: the bundled snapshot, or the file at ``path``."""
    resolved = str(Path(path).expanduser().resolve()) if path is not None else None
    return _load_cached(provider, resolved)


@lru_cache(maxsize=16)
def _load_cached(provider: str, path: str | None) -> Catalog:
    source = get_provider(provider)  # validates the name even when a path is given
    if path is None:
        return source.load_snapshot()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            f"cannot read catalog file {path}",
            [Problem(exc.strerror or str(exc), file=path,
                     hint="pass the file written by 'cloudplan catalog refresh --out FILE'")],
        ) from exc  # fmt: skip
    catalog = parse_catalog(text, path)
    if provider not in catalog.providers:
        raise CatalogError(
            f"catalog file {path} does not cover provider '{provider}'",
            [Problem(f"it covers {', '.join(catalog.providers)}", file=path, path="providers",
                     hint=f"use --provider {catalog.providers[0]} or another file")],
        )  # fmt: skip
    return catalog


def clear_catalog_cache() -> None:
    """Forget loaded catalogs (after a refresh rewrote a file in place)."""
    _load_cached.cache_clear()


def _unknown(kind: str, name: str, known: list[str], where: str) -> CatalogError:
    hint = did_you_mean(name, known) or f"known {kind}s: {', '.join(sorted(known))}"
    return CatalogError(
        f"unknown {kind} '{name}' in catalog",
        [Problem(f"{kind} '{name}' is not in the catalog", path=where, hint=hint)],
    )


def resolve_region(catalog: Catalog, region_id: str, where: str = "region") -> Region:
    """The region with this id; a "did you mean" :class:`CatalogError` otherwise."""
    try:
        return catalog.region(region_id)
    except KeyError:
        raise _unknown("region", region_id, [r.id for r in catalog.regions], where) from None


def resolve_instance_type(
    catalog: Catalog, name: str, where: str = "instance_type"
) -> InstanceType:
    """The instance type with this name; a "did you mean" error otherwise."""
    try:
        return catalog.instance_type(name)
    except KeyError:
        raise _unknown(
            "instance type", name, [t.name for t in catalog.instance_types], where
        ) from None


def resolve_tier(catalog: Catalog, tier_id: str, where: str = "tier") -> ServiceTier:
    """The service tier with this id (or kind: serverless/container/vm)."""
    for tier in catalog.tiers:
        if tier_id in (tier.id, tier.kind.value):
            return tier
    names = [t.id for t in catalog.tiers] + [t.kind.value for t in catalog.tiers]
    raise _unknown("service tier", tier_id, names, where)


def resolve_price(
    catalog: Catalog, instance_type: str, region: str, where: str = "instance_type"
) -> InstancePrice:
    """The price of a type in a region; says where it *is* offered when it is not here."""
    resolve_instance_type(catalog, instance_type, where)
    resolve_region(catalog, region, "region")
    price = catalog.price(instance_type, region)
    if price is None:
        offered = sorted(p.region for p in catalog.prices if p.instance_type == instance_type)
        raise CatalogError(
            f"{instance_type} is not offered in {region}",
            [Problem(f"{instance_type} has no price in {region}", path=where,
                     hint=f"offered in: {', '.join(offered)}" if offered
                     else "no region offers it in this snapshot")],
        )  # fmt: skip
    return price


def regions_in(catalog: Catalog, jurisdictions: tuple[str, ...] | list[str]) -> list[Region]:
    """Regions whose jurisdiction is one of ``jurisdictions`` (unknown tags are errors)."""
    known = sorted({r.jurisdiction for r in catalog.regions})
    for j in jurisdictions:
        if j not in known:
            raise _unknown("jurisdiction", j, known, "allowed_jurisdictions")
    return [r for r in catalog.regions if r.jurisdiction in jurisdictions]


def egress_usd_per_gb(catalog: Catalog, src: str, dst: str) -> float:
    """Transfer price src -> dst in USD/GB; ``dst='internet'`` for internet egress."""
    resolve_region(catalog, src, "src")
    if dst == "internet":
        return catalog.egress.internet_usd_per_gb[src]
    resolve_region(catalog, dst, "dst")
    try:
        return catalog.egress.between(src, dst)
    except KeyError:
        raise CatalogError(
            f"catalog {catalog.version} has no egress price {src} -> {dst}",
            [Problem("missing cross-region pair", path=f"egress.cross_region['{src}>{dst}']",
                     hint="rebuild the snapshot; a missing pair is never priced as 0")],
        ) from None  # fmt: skip


def resolve_storage(catalog: Catalog, kind: StorageKind | str) -> StorageClass:
    """The first storage class of a kind (object, block, cache) or with this id."""
    for s in catalog.storage:
        if kind in (s.id, s.kind):  # StorageKind is a StrEnum: "object" == OBJECT
            return s
    names = [s.id for s in catalog.storage] + [s.kind.value for s in catalog.storage]
    raise _unknown("storage class", str(getattr(kind, "value", kind)), names, "storage")


def storage_usd_per_gb_month(catalog: Catalog, kind: StorageKind | str, region: str) -> float:
    """GB-month price of a storage class in a region; an error if it is not priced there."""
    storage = resolve_storage(catalog, kind)
    resolve_region(catalog, region, "region")
    price = storage.usd_per_gb_month.get(region)
    if price is None:
        raise CatalogError(
            f"storage class {storage.id} is not priced in {region}",
            [Problem(f"{storage.id} has no GB-month price in {region}", path="storage",
                     hint=f"priced in: {', '.join(sorted(storage.usd_per_gb_month))}")],
        )  # fmt: skip
    return price
