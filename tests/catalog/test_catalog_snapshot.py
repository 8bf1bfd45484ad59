"""The bundled AWS snapshot is consistent, dated, sourced and provably derived from data."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.catalog.build_aws_snapshot import build_catalog, catalog_json, main
from airflow_cloudplan.model.catalog import Catalog, StorageKind, TierKind


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_snapshot_is_dated_and_every_section_sourced(catalog: Catalog) -> None:
    assert catalog.version == f"aws-{catalog.snapshot_date.isoformat()}"
    assert len(catalog.sources) >= 3
    assert all(s.retrieved <= catalog.snapshot_date for s in catalog.sources)
    assert all(t.source is not None for t in catalog.tiers)
    assert all(s.source is not None for s in catalog.storage)
    assert catalog.egress.source is not None


def test_enough_regions_in_enough_jurisdictions(catalog: Catalog) -> None:
    assert 6 <= len(catalog.regions) <= 12
    assert len({r.jurisdiction for r in catalog.regions}) >= 3
    assert {"us", "eu", "apac"} <= {r.jurisdiction for r in catalog.regions}


def test_enough_instance_types_across_categories(catalog: Catalog) -> None:
    names = {t.name for t in catalog.instance_types}
    assert 25 <= len(names) <= 35
    families = {t.family for t in catalog.instance_types}
    assert {"g5", "g6", "p4d", "p5", "inf2"} <= families
    assert {t.category for t in catalog.instance_types} >= {
        "general", "compute", "memory", "gpu", "accelerator",
    }  # fmt: skip
    for t in catalog.instance_types:
        assert (t.accelerator is not None) == (t.category in {"gpu", "accelerator"}), t.name


def test_every_price_names_a_type_offered_in_zones_of_its_region(catalog: Catalog) -> None:
    for p in catalog.prices:
        region = catalog.region(p.region)
        catalog.instance_type(p.instance_type)
        assert set(p.zones) <= set(region.zones), (p.instance_type, p.region)
    zones = [z for r in catalog.regions for z in r.zones]
    assert len(zones) == len(set(zones)), "a zone belongs to exactly one region"


def test_every_type_is_priced_somewhere_and_prices_are_positive(catalog: Catalog) -> None:
    priced = {p.instance_type for p in catalog.prices}
    assert priced == {t.name for t in catalog.instance_types}
    for p in catalog.prices:
        assert p.on_demand_usd_per_hour > 0
        if p.spot_usd_per_hour is not None:
            # spot is capped at on-demand; the source rounds spot to 4 decimals
            assert 0 < p.spot_usd_per_hour <= p.on_demand_usd_per_hour + 1e-4


def test_known_prices_match_the_public_price_list(catalog: Catalog) -> None:
    # Two well-known us-east-1 on-demand prices as a sanity anchor.
    m7i = catalog.price("m7i.xlarge", "us-east-1")
    g5 = catalog.price("g5.xlarge", "us-east-1")
    assert m7i is not None and m7i.on_demand_usd_per_hour == 0.2016
    assert g5 is not None and g5.on_demand_usd_per_hour == 1.006


def test_egress_matrix_complete_for_its_regions(catalog: Catalog) -> None:
    ids = [r.id for r in catalog.regions]
    expected = {f"{a}>{b}" for a in ids for b in ids if a != b}
    assert set(catalog.egress.cross_region) == expected
    assert set(catalog.egress.internet_usd_per_gb) == set(ids)
    assert all(v > 0 for v in catalog.egress.cross_region.values())
    assert all(v > 0 for v in catalog.egress.internet_usd_per_gb.values())
    assert catalog.egress.cross_zone_usd_per_gb > 0
    assert catalog.egress.between("us-east-1", "us-east-1") == 0.0


def test_network_links_cover_every_ordered_pair(catalog: Catalog) -> None:
    ids = [r.id for r in catalog.regions]
    pairs = {(n.src, n.dst) for n in catalog.network}
    assert pairs == {(a, b) for a in ids for b in ids if a != b}
    assert catalog.throughput_gbps("us-east-1", "eu-west-1") > 0


def test_three_tiers_with_a_pricing_relation(catalog: Catalog) -> None:
    kinds = {t.kind: t for t in catalog.tiers}
    assert set(kinds) == {TierKind.SERVERLESS, TierKind.CONTAINER, TierKind.VM}
    serverless, container, vm = (kinds[k] for k in TierKind)
    assert serverless.price_multiplier > 1  # the managed-service premium
    assert not serverless.capabilities.accelerators
    assert serverless.capabilities.max_vcpus == 16
    assert container.fixed_usd_per_hour > 0 and container.replicas_per_fee >= 1
    assert vm.replica_usd_per_hour(1.0) == 1.0
    assert container.replica_usd_per_hour(1.0) == pytest.approx(1.0 + 0.1 / 10)


def test_storage_classes_priced_in_catalog_regions(catalog: Catalog) -> None:
    ids = {r.id for r in catalog.regions}
    assert {s.kind for s in catalog.storage} == set(StorageKind)
    for s in catalog.storage:
        assert set(s.usd_per_gb_month) <= ids
        assert all(v > 0 for v in s.usd_per_gb_month.values())
    for kind in (StorageKind.OBJECT, StorageKind.BLOCK):
        assert set(catalog.storage_class(kind).usd_per_gb_month) == ids


def test_json_round_trip_is_exact(catalog: Catalog) -> None:
    dumped = catalog.model_dump(mode="json")
    again = Catalog.model_validate(json.loads(json.dumps(dumped)))
    assert again == catalog
    assert again.model_dump(mode="json") == dumped


def test_bundled_file_is_in_canonical_form(catalog: Catalog) -> None:
    text = (resources.files("airflow_cloudplan.catalog") / "data" / "aws.json").read_text()
    assert text == catalog_json(catalog)


def test_load_is_cached_per_path(catalog: Catalog, tmp_path: Path) -> None:
    assert load_catalog() is catalog
    copy = tmp_path / "copy.json"
    copy.write_text(catalog_json(catalog))
    from_file = load_catalog(path=copy)
    assert from_file == catalog and from_file is not catalog
    assert load_catalog(path=str(copy)) is from_file


@pytest.mark.shared_data
def test_bundled_snapshot_is_rederived_from_public_data(shared_data: Path) -> None:
    rebuilt = build_catalog(shared_data)
    bundled = load_catalog()
    assert rebuilt == bundled
    text = (resources.files("airflow_cloudplan.catalog") / "data" / "aws.json").read_text()
    assert catalog_json(rebuilt) == text


@pytest.mark.shared_data
def test_builder_cli_writes_the_snapshot(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "aws.json"
    assert main([str(shared_data), "--out", str(out)]) == 0
    assert Catalog.model_validate_json(out.read_text()) == load_catalog()


def test_builder_cli_rejects_a_folder_without_the_data(tmp_path: Path) -> None:
    assert main([str(tmp_path), "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
