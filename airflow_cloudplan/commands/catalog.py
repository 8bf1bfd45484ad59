"""``cloudplan catalog list|refresh``: show the price catalog, or rebuild its prices.

``list`` prints a summary a person can read (regions by jurisdiction, instance types by
category with price ranges, tiers, storage, egress); ``--json`` prints the whole catalog
as JSON, the same document ``load_catalog(path=...)`` reads back. ``refresh`` re-reads
on-demand prices from the provider's price API (credentials needed) and writes a new
dated file; everything else is carried over from the base catalog.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import CatalogError, Problem
from airflow_cloudplan.model.catalog import Catalog


def register(subparsers: Any) -> None:
    """Wire ``catalog list`` and ``catalog refresh`` into the CLI."""
    parser = subparsers.add_parser("catalog", help="show or refresh the price catalog")
    sub = parser.add_subparsers(dest="catalog_command", metavar="ACTION")
    parser.set_defaults(run=_missing_action(parser))

    ls = sub.add_parser("list", help="summarise the catalog (or print it as JSON)")
    ls.add_argument("--provider", default="aws", help="catalog provider (default: aws)")
    ls.add_argument("--catalog", metavar="FILE", help="a refreshed catalog file to read")
    ls.add_argument("--json", action="store_true", help="print the full catalog as JSON")
    ls.set_defaults(run=run_list)

    rf = sub.add_parser("refresh", help="rebuild instance prices from the provider's API")
    rf.add_argument("--provider", default="aws", help="catalog provider (default: aws)")
    rf.add_argument(
        "--regions",
        metavar="R[,R...]",
        help="refresh only these regions (comma-separated; default: all in the catalog)",
    )
    rf.add_argument("--catalog", metavar="FILE", help="base catalog (default: bundled)")
    rf.add_argument("--out", metavar="FILE", help="output file (default: ./<version>.json)")
    rf.set_defaults(run=run_refresh)


def _missing_action(parser: argparse.ArgumentParser) -> Any:
    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return run


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action (kept for callers that call ``run`` directly)."""
    action: Any = args.run
    return int(action(args))


def _load(args: argparse.Namespace) -> Catalog:
    from airflow_cloudplan.catalog import load_catalog

    return load_catalog(args.provider, args.catalog)


def run_list(args: argparse.Namespace) -> int:
    """Print the catalog summary, or the full catalog as JSON with ``--json``."""
    catalog = _load(args)
    text = json.dumps(catalog.model_dump(mode="json"), indent=1) + "\n" if args.json else None
    sys.stdout.write(text if text is not None else summary(catalog))
    return 0


def _range(values: list[float], fmt: str = "{:.4g}") -> str:
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"


def summary(catalog: Catalog) -> str:
    """A plain-text summary of the catalog, a few dozen lines."""
    out: list[str] = [
        f"catalog {catalog.version} (snapshot {catalog.snapshot_date}), "
        f"providers: {', '.join(catalog.providers)}",
        "",
        f"regions ({len(catalog.regions)}):",
    ]
    by_jur: dict[str, list[str]] = defaultdict(list)
    for r in catalog.regions:
        by_jur[r.jurisdiction].append(f"{r.id} [{len(r.zones)} zones]")
    out += [f"  {j:<5} {', '.join(ids)}" for j, ids in sorted(by_jur.items())]

    out += ["", f"instance types ({len(catalog.instance_types)}), USD/hour over regions:"]
    out.append(f"  {'category':<12}{'family':<8}{'types':>6}  {'on-demand':<18}{'spot (mean)':<18}")
    families: dict[tuple[str, str], list[str]] = defaultdict(list)
    for t in catalog.instance_types:
        families[(t.category, t.family)].append(t.name)
    for (category, family), names in sorted(families.items()):
        prices = [p for p in catalog.prices if p.instance_type in names]
        od = [p.on_demand_usd_per_hour for p in prices]
        spot = [p.spot_usd_per_hour for p in prices if p.spot_usd_per_hour is not None]
        out.append(
            f"  {category:<12}{family:<8}{len(names):>6}  {_range(od):<18}{_range(spot):<18}"
        )

    out += ["", "service tiers:"]
    for tier in catalog.tiers:
        cap = tier.capabilities
        fee = (
            f" + {tier.fixed_usd_per_hour}/h per {tier.replicas_per_fee} replicas"
            if tier.fixed_usd_per_hour
            else ""
        )
        out.append(
            f"  {tier.id:<12}{tier.kind.value:<11}price x{tier.price_multiplier}{fee}; "
            f"isolation {cap.isolation}, cold start {cap.cold_start_s:g}s, "
            f"scale-to-zero {'yes' if cap.scale_to_zero else 'no'}, "
            f"accelerators {'yes' if cap.accelerators else 'no'}, "
            f"signals {'/'.join(sorted(s.value for s in cap.signals))}"
        )

    out += ["", "storage (USD/GB-month over priced regions):"]
    for s in catalog.storage:
        out.append(
            f"  {s.id:<20}{s.kind.value:<7}{_range(list(s.usd_per_gb_month.values())):<14}"
            f"{len(s.usd_per_gb_month):>2} regions, {s.first_byte_latency_ms:g} ms, "
            f"{s.throughput_mb_s:g} MB/s"
        )

    eg = catalog.egress
    out += [
        "",
        f"egress USD/GB: cross-zone {eg.cross_zone_usd_per_gb:g}, cross-region "
        f"{_range(list(eg.cross_region.values()))}, internet "
        f"{_range(list(eg.internet_usd_per_gb.values()))}",
    ]
    if catalog.network:
        gbps = [n.throughput_gbps for n in catalog.network]
        out.append(f"network: {len(catalog.network)} region links, {_range(gbps)} Gbps")
    out += ["", f"sources ({len(catalog.sources)} records; see --json):"]
    out += [f"  - {s.name} ({s.retrieved})" for s in catalog.sources]
    return "\n".join(out) + "\n"


def _regions_arg(value: str | None) -> list[str] | None:
    if value is None:
        return None
    regions = [r.strip() for r in value.split(",") if r.strip()]
    if not regions:
        raise CatalogError(
            "no regions given",
            [Problem("--regions is empty", path="--regions", hint="e.g. --regions us-east-1")],
        )
    return regions


def run_refresh(args: argparse.Namespace) -> int:
    """Refresh instance prices through the provider's API and write a new dated file."""
    from airflow_cloudplan.catalog import get_provider
    from airflow_cloudplan.catalog.build_aws_snapshot import catalog_json

    provider = get_provider(args.provider)
    base = _load(args)
    fresh = provider.refresh(base, regions=_regions_arg(args.regions))
    out = Path(args.out) if args.out else Path(f"{fresh.version}.json")
    try:
        out.write_text(catalog_json(fresh), encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            f"cannot write {out}",
            [Problem(exc.strerror or str(exc), file=str(out), hint="choose another --out")],
        ) from exc
    changed = sum(
        1
        for p in fresh.prices
        if (old := base.price(p.instance_type, p.region)) is None
        or old.on_demand_usd_per_hour != p.on_demand_usd_per_hour
    )
    print(
        f"wrote {out}: {fresh.version}, {len(fresh.prices)} prices "
        f"({changed} changed vs {base.version}); use it with --catalog {out}"
    )
    return 0
