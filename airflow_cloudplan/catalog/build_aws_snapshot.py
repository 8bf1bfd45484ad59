"""Build the bundled AWS snapshot ``catalog/data/aws.json`` from public data files.

Run from the repository root::

    python -m airflow_cloudplan.catalog.build_aws_snapshot ../shared/data

It reads three public files (see ``docs/catalog.md`` for their provenance):

- ``pricing/aws_vms_skypilot_catalog_v8_subset.csv``: on-demand and per-zone spot prices;
- ``pricing/aws_interregion_transfer_costs.csv``: inter-region and internet egress;
- ``network/interregion_throughput_2022-01.csv``: measured inter-region throughput;

and adds the few numbers they do not hold (Fargate and EKS prices, S3/EBS/S3 Express
prices, the cross-zone transfer price) as constants below, each with the public AWS page
it was read from. Nothing here is needed at run time: the product loads the JSON it
writes. The output is deterministic, so a test re-derives it and compares.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from airflow_cloudplan.model.catalog import (
    Accelerator,
    Catalog,
    EgressPrices,
    InstancePrice,
    InstanceType,
    NetworkLink,
    Region,
    ServiceTier,
    Signal,
    Source,
    StorageClass,
    StorageKind,
    TierCapabilities,
    TierKind,
)

SNAPSHOT_DATE = date(2026, 11, 28)
"""The day this snapshot was built and the public pages below were read."""

VMS_CSV = "pricing/aws_vms_skypilot_catalog_v8_subset.csv"
TRANSFER_CSV = "pricing/aws_interregion_transfer_costs.csv"
THROUGHPUT_CSV = "network/interregion_throughput_2022-01.csv"


@dataclass(frozen=True)
class RegionFacts:
    """What the price files do not say about a region: its legal area and location."""

    jurisdiction: str
    name: str
    latitude: float
    longitude: float


# Regions with (near) full coverage of the 35 instance types in the price file, spread
# over five jurisdictions. Coordinates are those of the region's metro city (only used
# for distances). London is tagged "uk", not "eu": it is outside the EU since 2020.
REGIONS: dict[str, RegionFacts] = {
    "us-east-1": RegionFacts("us", "US East (N. Virginia)", 38.95, -77.45),
    "us-east-2": RegionFacts("us", "US East (Ohio)", 39.96, -83.00),
    "us-west-2": RegionFacts("us", "US West (Oregon)", 45.84, -119.70),
    "ca-central-1": RegionFacts("ca", "Canada (Central)", 45.50, -73.57),
    "eu-west-1": RegionFacts("eu", "Europe (Ireland)", 53.35, -6.26),
    "eu-central-1": RegionFacts("eu", "Europe (Frankfurt)", 50.11, 8.68),
    "eu-north-1": RegionFacts("eu", "Europe (Stockholm)", 59.33, 18.07),
    "eu-west-2": RegionFacts("uk", "Europe (London)", 51.51, -0.13),
    "ap-northeast-1": RegionFacts("apac", "Asia Pacific (Tokyo)", 35.68, 139.69),
    "ap-southeast-1": RegionFacts("apac", "Asia Pacific (Singapore)", 1.35, 103.82),
    "ap-southeast-2": RegionFacts("apac", "Asia Pacific (Sydney)", -33.87, 151.21),
    "ap-south-1": RegionFacts("apac", "Asia Pacific (Mumbai)", 19.08, 72.88),
}

CATEGORY_BY_FAMILY = {
    "m7i": "general", "m7g": "general",
    "c7i": "compute", "c7g": "compute",
    "r7i": "memory",
    "g5": "gpu", "g6": "gpu", "g6e": "gpu", "p4d": "gpu", "p5": "gpu",
    "inf2": "accelerator", "trn1": "accelerator",
}  # fmt: skip

# Regular availability-zone ids (use1-az1); Local Zones (use1-atl2-az1) are left out:
# they are metro extensions with their own prices and few services.
_AZ_ID = re.compile(r"^[a-z]+\d+-az\d+$")

# --- Numbers from public AWS price pages (not in the shared data files) -------------
FARGATE_USD_PER_VCPU_HOUR = 0.04048  # Linux/x86, us-east-1
FARGATE_USD_PER_GB_HOUR = 0.004445  # Linux/x86, us-east-1
FARGATE_REFERENCE_TYPE = "m7i.xlarge"
EKS_USD_PER_CLUSTER_HOUR = 0.10  # standard Kubernetes version support
EKS_NODES_PER_CLUSTER = 10  # modelling assumption: one cluster fee shared by 10 nodes
CROSS_AZ_USD_PER_GB = 0.02  # $0.01/GB charged on each side of the transfer

S3_STANDARD_USD_PER_GB_MONTH = {  # first 50 TB/month tier
    "us-east-1": 0.023, "us-east-2": 0.023, "us-west-2": 0.023, "ca-central-1": 0.025,
    "eu-west-1": 0.023, "eu-central-1": 0.0245, "eu-north-1": 0.023, "eu-west-2": 0.024,
    "ap-northeast-1": 0.025, "ap-southeast-1": 0.025, "ap-southeast-2": 0.025,
    "ap-south-1": 0.025,
}  # fmt: skip
EBS_GP3_USD_PER_GB_MONTH = {
    "us-east-1": 0.08, "us-east-2": 0.08, "us-west-2": 0.08, "ca-central-1": 0.088,
    "eu-west-1": 0.088, "eu-central-1": 0.0952, "eu-north-1": 0.0836, "eu-west-2": 0.0928,
    "ap-northeast-1": 0.096, "ap-southeast-1": 0.096, "ap-southeast-2": 0.096,
    "ap-south-1": 0.0912,
}  # fmt: skip
# S3 Express One Zone: only the us-east-1 price is recorded (from AWS's own worked
# example); other regions are left unpriced rather than guessed.
S3_EXPRESS_USD_PER_GB_MONTH = {"us-east-1": 0.11}


def _source(name: str, where: str, note: str = "", day: date = SNAPSHOT_DATE) -> Source:
    return Source(name=name, url_or_path=where, retrieved=day, note=note)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def great_circle_km(a: Region, b: Region) -> float:
    """Distance between two regions' cities (haversine, Earth radius 6371 km)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _instances(
    rows: list[dict[str, str]], regions: dict[str, Region]
) -> tuple[list[InstanceType], list[InstancePrice]]:
    shapes: dict[str, InstanceType] = {}
    per_offer: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        name = row["InstanceType"]
        family = name.split(".")[0]
        if name not in shapes:
            accel = None
            if row["AcceleratorName"]:
                accel = Accelerator(
                    name=row["AcceleratorName"], count=int(float(row["AcceleratorCount"]))
                )
            shapes[name] = InstanceType(
                name=name,
                provider="aws",
                family=family,
                category=CATEGORY_BY_FAMILY[family],
                vcpus=float(row["vCPUs"]),
                memory_gib=float(row["MemoryGiB"]),
                accelerator=accel,
                arch=row["Arch"],
            )
        if row["Region"] in regions and _AZ_ID.match(row["AvailabilityZone"]):
            per_offer[(name, row["Region"])].append(row)
    prices: list[InstancePrice] = []
    for (name, region), offer_rows in sorted(per_offer.items()):
        on_demand = {r["Price"] for r in offer_rows}
        if on_demand == {""}:
            continue  # listed without a price in the source (4 trn1.32xlarge rows)
        if len(on_demand) != 1:
            raise ValueError(f"{name} in {region}: zones disagree on on-demand price")
        spots = [float(r["SpotPrice"]) for r in offer_rows if r["SpotPrice"]]
        prices.append(
            InstancePrice(
                instance_type=name,
                region=region,
                zones=tuple(sorted({r["AvailabilityZone"] for r in offer_rows})),
                on_demand_usd_per_hour=float(on_demand.pop()),
                spot_usd_per_hour=round(statistics.fmean(spots), 6) if spots else None,
            )
        )
    used = {p.instance_type for p in prices}
    return [shapes[n] for n in sorted(used)], prices


def _egress(rows: list[dict[str, str]], region_ids: list[str]) -> EgressPrices:
    cost = {(r["src"], r["dst"]): float(r["cost"]) for r in rows}
    cross = {f"{a}>{b}": cost[(a, b)] for a in region_ids for b in region_ids if a != b}
    internet = {a: cost[(a, "internet")] for a in region_ids}
    return EgressPrices(
        same_zone_usd_per_gb=0.0,
        cross_zone_usd_per_gb=CROSS_AZ_USD_PER_GB,
        cross_region=cross,
        internet_usd_per_gb=internet,
        source=_source(
            "AWS data transfer prices (skyplane aws_transfer_costs) + EC2 cross-AZ price",
            f"../shared/data/{TRANSFER_CSV}; https://aws.amazon.com/ec2/pricing/on-demand/",
            "cross-region and internet $/GB from the CSV (first internet tier); cross-zone is "
            "AWS's $0.01/GB in each direction, stored as $0.02 per GB moved",
        ),
    )


def fallback_gbps(
    src: Region, dst: Region, measured: dict[tuple[str, str], float], regions: dict[str, Region]
) -> float:
    """Throughput for an unmeasured pair: median of the 5 measured pairs nearest in distance.

    Wide-area TCP throughput falls with round-trip time, and distance is the best proxy
    for RTT the snapshot holds, so pairs of similar length are the honest estimate.
    """
    target = great_circle_km(src, dst)
    ranked = sorted(
        measured.items(),
        key=lambda kv: abs(great_circle_km(regions[kv[0][0]], regions[kv[0][1]]) - target),
    )
    return round(statistics.median(v for _, v in ranked[:5]), 3)


def _network(
    rows: list[dict[str, str]], regions: dict[str, Region]
) -> tuple[list[NetworkLink], int]:
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        src, dst = r["src_region"], r["dst_region"]
        if not (src.startswith("aws:") and dst.startswith("aws:")):
            continue
        pair = (src.removeprefix("aws:"), dst.removeprefix("aws:"))
        if pair[0] in regions and pair[1] in regions:
            samples[pair].append(float(r["throughput_gbps"]))
    measured = {pair: round(statistics.median(v), 3) for pair, v in samples.items()}
    links: list[NetworkLink] = []
    estimated = 0
    for a, region_a in regions.items():
        for b, region_b in regions.items():
            if a == b:
                continue
            gbps = measured.get((a, b))
            if gbps is None:
                gbps = fallback_gbps(region_a, region_b, measured, regions)
                estimated += 1
            links.append(NetworkLink(src=a, dst=b, throughput_gbps=gbps))
    return links, estimated


def _tiers(prices: list[InstancePrice]) -> list[ServiceTier]:
    ref = next(
        p for p in prices if p.instance_type == FARGATE_REFERENCE_TYPE and p.region == "us-east-1"
    )
    ref_vcpus, ref_gib = 4.0, 16.0  # m7i.xlarge
    fargate_hour = ref_vcpus * FARGATE_USD_PER_VCPU_HOUR + ref_gib * FARGATE_USD_PER_GB_HOUR
    multiplier = round(fargate_hour / ref.on_demand_usd_per_hour, 4)
    all_signals = frozenset({Signal.LOGS, Signal.METRICS, Signal.TRACES})
    estimates = (
        "capability values are engineering estimates of typical behaviour (cold start, scale "
        "step) and documented limits (Fargate 16 vCPU/120 GB, no GPUs), not price-list facts"
    )
    return [
        ServiceTier(
            id="aws-fargate",
            provider="aws",
            kind=TierKind.SERVERLESS,
            capabilities=TierCapabilities(
                signals=all_signals, isolation="microvm", data_plane_audit=True,
                cold_start_s=60, scale_step_s=60, scale_to_zero=True, accelerators=False,
                max_vcpus=16, max_memory_gib=120,
            ),
            price_multiplier=multiplier,
            source=_source(
                "AWS Fargate pricing (Linux/x86, us-east-1)",
                "https://aws.amazon.com/fargate/pricing/",
                f"${FARGATE_USD_PER_VCPU_HOUR}/vCPU-h + ${FARGATE_USD_PER_GB_HOUR}/GB-h for "
                f"{FARGATE_REFERENCE_TYPE}'s shape = ${fargate_hour:.5f}/h vs on-demand "
                f"${ref.on_demand_usd_per_hour}/h -> multiplier {multiplier}, applied in every "
                f"region; {estimates}",
            ),
        ),
        ServiceTier(
            id="aws-eks",
            provider="aws",
            kind=TierKind.CONTAINER,
            capabilities=TierCapabilities(
                signals=all_signals, isolation="container", data_plane_audit=True,
                cold_start_s=10, scale_step_s=90, scale_to_zero=False, accelerators=True,
            ),
            fixed_usd_per_hour=EKS_USD_PER_CLUSTER_HOUR,
            replicas_per_fee=EKS_NODES_PER_CLUSTER,
            source=_source(
                "Amazon EKS pricing", "https://aws.amazon.com/eks/pricing/",
                f"${EKS_USD_PER_CLUSTER_HOUR}/cluster-hour (standard support) shared by an "
                f"assumed {EKS_NODES_PER_CLUSTER} nodes per cluster; nodes at EC2 on-demand "
                f"prices; {estimates}",
            ),
        ),
        ServiceTier(
            id="aws-ec2",
            provider="aws",
            kind=TierKind.VM,
            capabilities=TierCapabilities(
                signals=all_signals, isolation="vm", data_plane_audit=True,
                cold_start_s=90, scale_step_s=90, scale_to_zero=False, accelerators=True,
            ),
            source=_source(
                "Amazon EC2 on-demand pricing", "https://aws.amazon.com/ec2/pricing/on-demand/",
                f"instance price as listed; {estimates}",
            ),
        ),
    ]  # fmt: skip


def _storage() -> list[StorageClass]:
    return [
        StorageClass(
            id="s3-standard", provider="aws", kind=StorageKind.OBJECT,
            usd_per_gb_month=S3_STANDARD_USD_PER_GB_MONTH,
            usd_per_1k_reads=0.0004, usd_per_1k_writes=0.005,
            first_byte_latency_ms=100, throughput_mb_s=85,
            source=_source(
                "Amazon S3 pricing and performance guidelines",
                "https://aws.amazon.com/s3/pricing/; "
                "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
                "first-50-TB tier per region; request prices are us-east-1's (GET $0.0004, "
                "PUT $0.005 per 1,000); latency is the low end of the documented 100-200 ms "
                "first-byte latency, throughput the documented 85-90 MB/s per connection",
            ),
        ),
        StorageClass(
            id="ebs-gp3", provider="aws", kind=StorageKind.BLOCK,
            usd_per_gb_month=EBS_GP3_USD_PER_GB_MONTH,
            first_byte_latency_ms=1, throughput_mb_s=131.072,
            source=_source(
                "Amazon EBS pricing and volume types",
                "https://aws.amazon.com/ebs/pricing/; "
                "https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html",
                "GB-month per region; baseline 3,000 IOPS and 125 MiB/s (131.072 MB/s) are "
                "included, so no request price; AWS states single-digit ms latency, "
                "modelled as 1 ms",
            ),
        ),
        StorageClass(
            id="s3-express-one-zone", provider="aws", kind=StorageKind.CACHE,
            usd_per_gb_month=S3_EXPRESS_USD_PER_GB_MONTH,
            usd_per_1k_reads=0.00003, usd_per_1k_writes=0.00113,
            first_byte_latency_ms=10, throughput_mb_s=85,
            source=_source(
                "Amazon S3 FAQ (S3 Express One Zone worked example, us-east-1)",
                "https://aws.amazon.com/s3/faqs/",
                "$0.11/GB-month, PUT $0.00113 and GET $0.00003 per 1,000 in us-east-1 (plus "
                "$0.0032/GB upload and $0.0006/GB retrieval above 512 KB, not modelled); "
                "other regions not recorded; latency = S3 Standard's 100 ms / AWS's '10x "
                "faster' claim",
            ),
        ),
    ]  # fmt: skip


def build_catalog(data_dir: Path, snapshot_date: date = SNAPSHOT_DATE) -> Catalog:
    """Derive the AWS catalog from the public data folder (deterministic)."""
    regions_facts = REGIONS
    vm_rows = _read_csv(data_dir / VMS_CSV)
    zones: dict[str, set[str]] = defaultdict(set)
    for row in vm_rows:
        if row["Region"] in regions_facts and _AZ_ID.match(row["AvailabilityZone"]):
            zones[row["Region"]].add(row["AvailabilityZone"])
    regions = {
        rid: Region(
            id=rid, provider="aws", jurisdiction=f.jurisdiction, name=f.name,
            zones=tuple(sorted(zones[rid])), latitude=f.latitude, longitude=f.longitude,
        )
        for rid, f in regions_facts.items()
    }  # fmt: skip
    types, prices = _instances(vm_rows, regions)
    egress = _egress(_read_csv(data_dir / TRANSFER_CSV), list(regions))
    links, estimated = _network(_read_csv(data_dir / THROUGHPUT_CSV), regions)
    sources = (
        _source(
            "SkyPilot AWS VM catalog v8 (subset)",
            f"../shared/data/{VMS_CSV}",
            "skypilot-org/skypilot-catalog catalogs/v8/aws/vms.csv at commit 00148f2 "
            "(Apache-2.0); on-demand USD/h per region; spot = mean of the per-zone spot "
            "prices over the zones that list one; Local Zones excluded",
            snapshot_date,
        ),
        _source(
            "AWS inter-region and internet transfer prices (skyplane)",
            f"../shared/data/{TRANSFER_CSV}",
            "skyplane-project/skyplane skyplane/data/aws_transfer_costs.csv (Apache-2.0)",
            snapshot_date,
        ),
        _source(
            "Inter-region throughput measurements, January 2022 (skyplane)",
            f"../shared/data/{THROUGHPUT_CSV}",
            "iperf3 between m5.8xlarge instances, 64 connections; median per directed pair; "
            f"pairs without a measurement use the median of the 5 measured pairs nearest in "
            f"distance ({estimated} of {len(links)} pairs estimated)",
            snapshot_date,
        ),
        _source(
            "Region coordinates",
            "metro city of each region (public geography)",
            "approximate; used only for great-circle distances",
            snapshot_date,
        ),
    )
    return Catalog(
        version=f"aws-{snapshot_date.isoformat()}",
        snapshot_date=snapshot_date,
        providers=("aws",),
        regions=tuple(regions.values()),
        tiers=tuple(_tiers(prices)),
        instance_types=tuple(types),
        prices=tuple(prices),
        storage=tuple(_storage()),
        egress=egress,
        network=tuple(links),
        sources=sources,
    )


def catalog_json(catalog: Catalog) -> str:
    """The canonical on-disk form: indented, in the model's key order."""
    return json.dumps(catalog.model_dump(mode="json"), indent=1) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: build the snapshot and write it."""
    default_out = Path(__file__).resolve().parent / "data" / "aws.json"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data_dir", type=Path, help="the public data folder (../shared/data)")
    parser.add_argument("--out", type=Path, default=default_out, help="JSON file to write")
    args = parser.parse_args(argv)
    if not (args.data_dir / VMS_CSV).is_file():
        print(f"error: {args.data_dir / VMS_CSV} not found; pass the data folder", file=sys.stderr)
        return 2
    catalog = build_catalog(args.data_dir)
    args.out.write_text(catalog_json(catalog))
    print(
        f"wrote {args.out}: {len(catalog.regions)} regions, {len(catalog.instance_types)} "
        f"types, {len(catalog.prices)} prices"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
