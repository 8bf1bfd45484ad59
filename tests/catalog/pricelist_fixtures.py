"""Recorded-shape AWS Price List API responses for the refresh tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from airflow_cloudplan.catalog.aws import product_filters

FIXTURES = Path(__file__).parent / "fixtures"


def recorded_document() -> dict[str, Any]:
    """A PriceList entry as get_products returns it (one real-shaped EC2 product)."""
    doc: dict[str, Any] = json.loads((FIXTURES / "pricelist_m7i_xlarge_us_east_1.json").read_text())
    return doc


def price_item(instance_type: str, region: str, usd: float) -> str:
    """The recorded document re-targeted at another type/region/price, as a JSON string."""
    doc = copy.deepcopy(recorded_document())
    doc["product"]["attributes"].update(
        instanceType=instance_type, regionCode=region, usagetype=f"BoxUsage:{instance_type}"
    )
    for term in doc["terms"]["OnDemand"].values():
        for dim in term["priceDimensions"].values():
            dim["pricePerUnit"]["USD"] = f"{usd:.10f}"
    return json.dumps(doc)


def request(instance_type: str, region: str, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ServiceCode": "AmazonEC2",
        "Filters": product_filters(instance_type, region),
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    if token:
        params["NextToken"] = token
    return params


def page(items: list[str], token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": items}
    if token:
        body["NextToken"] = token
    return body
