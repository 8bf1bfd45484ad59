"""``refresh`` against recorded-shape Price List API responses (botocore Stubber)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airflow_cloudplan.catalog import get_provider, load_catalog
from airflow_cloudplan.catalog.aws import on_demand_usd_per_hour
from airflow_cloudplan.errors import CatalogError
from airflow_cloudplan.model.catalog import Catalog

from .pricelist_fixtures import page, price_item, recorded_document, request

TODAY = date(2027, 1, 15)


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    pricing = boto3.client(
        "pricing",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(pricing) as stub:
        yield pricing, stub
        stub.assert_no_pending_responses()


@pytest.fixture(scope="module")
def base() -> Catalog:
    return load_catalog()


def test_parser_reads_only_the_on_demand_hourly_price() -> None:
    doc = recorded_document()
    assert on_demand_usd_per_hour(json.dumps(doc)) == 0.2016  # not the Reserved 0.127
    del doc["terms"]["OnDemand"]
    assert on_demand_usd_per_hour(json.dumps(doc)) is None


def test_parser_rejects_an_unknown_shape() -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        on_demand_usd_per_hour('{"terms": {"OnDemand": {"x": {"no": 1}}}}')
    with pytest.raises(CatalogError):
        on_demand_usd_per_hour("not json")


def test_refresh_one_region_with_pagination(client: tuple[Any, Stubber], base: Catalog) -> None:
    pricing, stub = client
    region = "eu-north-1"
    offered = {p.instance_type for p in base.prices if p.region == region}
    expected: dict[str, float] = {}
    for i, itype in enumerate(t.name for t in base.instance_types):
        if itype == "m7i.xlarge":
            # Two pages: an empty first page with a token, then the product.
            stub.add_response("get_products", page([], "tok-1"), request(itype, region))
            stub.add_response(
                "get_products",
                page([price_item(itype, region, 0.2)]),
                request(itype, region, "tok-1"),
            )
            expected[itype] = 0.2
        elif itype in offered:
            usd = round(0.1 + i / 100, 4)
            stub.add_response(
                "get_products", page([price_item(itype, region, usd)]), request(itype, region)
            )
            expected[itype] = usd
        else:
            stub.add_response("get_products", page([]), request(itype, region))

    fresh = get_provider("aws").refresh(base, regions=[region], client=pricing, today=TODAY)

    assert fresh.version == "aws-2027-01-15" and fresh.snapshot_date == TODAY
    assert fresh.sources[0].name.startswith("AWS Price List Query API")
    got = {p.instance_type: p.on_demand_usd_per_hour for p in fresh.prices if p.region == region}
    assert got == expected
    # Spot prices and zones are carried over; other regions are untouched.
    old = base.price("m7i.xlarge", region)
    new = fresh.price("m7i.xlarge", region)
    assert old is not None and new is not None
    assert (new.spot_usd_per_hour, new.zones) == (old.spot_usd_per_hour, old.zones)
    assert [p for p in fresh.prices if p.region != region] == [
        p for p in base.prices if p.region != region
    ]
    assert (fresh.regions, fresh.tiers, fresh.storage, fresh.egress) == (
        base.regions, base.tiers, base.storage, base.egress,
    )  # fmt: skip
    assert Catalog.model_validate_json(fresh.model_dump_json()) == fresh


def test_refresh_rejects_an_unknown_region(client: tuple[Any, Stubber], base: Catalog) -> None:
    pricing, _ = client
    with pytest.raises(CatalogError) as err:
        get_provider("aws").refresh(base, regions=["eu-nort-1"], client=pricing, today=TODAY)
    assert "did you mean 'eu-north-1'" in err.value.render()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", "wait a minute and retry"),
        ("AccessDeniedException", "pricing:GetProducts"),
    ],
)
def test_api_errors_become_catalog_errors(
    client: tuple[Any, Stubber], base: Catalog, code: str, expected: str
) -> None:
    pricing, stub = client
    stub.add_client_error("get_products", service_error_code=code, service_message="nope")
    with pytest.raises(CatalogError) as err:
        get_provider("aws").refresh(base, regions=["us-east-1"], client=pricing, today=TODAY)
    assert code in err.value.render() and expected in err.value.render()


def test_ambiguous_offers_are_an_error(client: tuple[Any, Stubber], base: Catalog) -> None:
    pricing, stub = client
    first = base.instance_types[0].name
    items = [price_item(first, "us-east-1", 1.0), price_item(first, "us-east-1", 2.0)]
    stub.add_response("get_products", page(items), request(first, "us-east-1"))
    with pytest.raises(CatalogError, match="several prices"):
        get_provider("aws").refresh(base, regions=["us-east-1"], client=pricing, today=TODAY)


def test_no_credentials_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base: Catalog
) -> None:
    for var in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    pricing = boto3.session.Session().client("pricing", region_name="us-east-1")
    with pytest.raises(CatalogError) as err:
        get_provider("aws").refresh(base, regions=["us-east-1"], client=pricing, today=TODAY)
    assert "no AWS credentials" in err.value.render()
