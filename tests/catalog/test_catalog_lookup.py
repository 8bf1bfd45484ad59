"""Lookups and the provider registry fail with located, "did you mean" errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_cloudplan.catalog import (
    CatalogProvider,
    egress_usd_per_gb,
    get_provider,
    load_catalog,
    provider_names,
    regions_in,
    resolve_instance_type,
    resolve_price,
    resolve_region,
    resolve_storage,
    resolve_tier,
    storage_usd_per_gb_month,
)
from airflow_cloudplan.catalog.build_aws_snapshot import fallback_gbps
from airflow_cloudplan.errors import CatalogError
from airflow_cloudplan.model.catalog import Catalog, StorageKind, TierKind


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_aws_is_registered_and_is_a_provider() -> None:
    assert "aws" in provider_names()
    assert isinstance(get_provider("aws"), CatalogProvider)


def test_unknown_provider_suggests_the_close_one() -> None:
    with pytest.raises(CatalogError) as err:
        load_catalog("aws2")
    assert "did you mean 'aws'" in err.value.render()


def test_resolve_region_suggests(catalog: Catalog) -> None:
    assert resolve_region(catalog, "eu-west-1").jurisdiction == "eu"
    with pytest.raises(CatalogError) as err:
        resolve_region(catalog, "eu-west-9", where="stages[0].region")
    text = err.value.render()
    assert "stages[0].region" in text and "did you mean 'eu-west-" in text


def test_resolve_instance_type_suggests(catalog: Catalog) -> None:
    assert resolve_instance_type(catalog, "p5.48xlarge").accelerator is not None
    with pytest.raises(CatalogError, match=r"instance type 'g5\.xlarg'") as err:
        resolve_instance_type(catalog, "g5.xlarg")
    assert "did you mean 'g5.xlarge'" in err.value.render()


def test_resolve_tier_by_id_or_kind(catalog: Catalog) -> None:
    assert resolve_tier(catalog, "serverless").kind is TierKind.SERVERLESS
    assert resolve_tier(catalog, "aws-ec2").kind is TierKind.VM
    with pytest.raises(CatalogError, match="did you mean 'container'"):
        resolve_tier(catalog, "containr")


def test_resolve_price_says_where_a_type_is_offered(catalog: Catalog) -> None:
    assert resolve_price(catalog, "m7i.large", "eu-north-1").on_demand_usd_per_hour > 0
    with pytest.raises(CatalogError) as err:
        resolve_price(catalog, "p5.48xlarge", "eu-central-1")
    assert "offered in:" in err.value.render() and "us-east-1" in err.value.render()


def test_regions_in_jurisdictions(catalog: Catalog) -> None:
    eu = regions_in(catalog, ["eu"])
    assert eu and all(r.jurisdiction == "eu" for r in eu)
    assert "eu-west-2" not in {r.id for r in eu}  # London is "uk"
    with pytest.raises(CatalogError, match="did you mean 'eu'"):
        regions_in(catalog, ["euu"])


def test_egress_lookup(catalog: Catalog) -> None:
    assert egress_usd_per_gb(catalog, "us-east-1", "us-east-2") == 0.01
    assert egress_usd_per_gb(catalog, "ap-south-1", "internet") > 0.09
    assert egress_usd_per_gb(catalog, "eu-west-1", "eu-west-1") == 0.0
    with pytest.raises(CatalogError):
        egress_usd_per_gb(catalog, "us-east-1", "mars-1")


def test_storage_lookup(catalog: Catalog) -> None:
    assert resolve_storage(catalog, StorageKind.OBJECT).id == "s3-standard"
    assert resolve_storage(catalog, "ebs-gp3").kind is StorageKind.BLOCK
    assert storage_usd_per_gb_month(catalog, "object", "eu-central-1") == 0.0245
    with pytest.raises(CatalogError, match="not priced in eu-west-1"):
        storage_usd_per_gb_month(catalog, StorageKind.CACHE, "eu-west-1")
    with pytest.raises(CatalogError, match="did you mean"):
        resolve_storage(catalog, "s3-standrd")


def test_bad_catalog_file_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "x"}')
    with pytest.raises(CatalogError) as err:
        load_catalog(path=bad)
    assert str(bad) in err.value.render() and "snapshot_date" in err.value.render()
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(path=tmp_path / "missing.json")


def test_fallback_throughput_uses_pairs_of_similar_distance(catalog: Catalog) -> None:
    regions = {r.id: r for r in catalog.regions}
    measured = {(n.src, n.dst): n.throughput_gbps for n in catalog.network}
    short = dict(measured)
    # Pretend the two Virginia/Ohio directions were never measured:
    short.pop(("us-east-1", "us-east-2"))
    est = fallback_gbps(regions["us-east-1"], regions["us-east-2"], short, regions)
    far = fallback_gbps(regions["us-east-1"], regions["ap-southeast-2"], short, regions)
    assert est > far  # nearby pairs are faster than antipodal ones in the measurements
    assert min(short.values()) <= est <= max(short.values())
