"""The AWS catalog provider: bundled snapshot + refresh through the Price List Query API.

Refresh asks ``pricing.get_products`` (served from us-east-1) for each bundled instance
type in each region, with the filters that select exactly one on-demand Linux offer:
``instanceType``, ``regionCode``, ``operatingSystem=Linux``, ``tenancy=Shared``,
``preInstalledSw=NA``, ``capacitystatus=Used``, ``licenseModel=No License required``.
Each ``PriceList`` entry is a JSON *string* holding ``product.attributes`` and
``terms.OnDemand.<sku.term>.priceDimensions.<rate>.pricePerUnit.USD``. The API has no
spot prices, so spot prices and zones are kept from the base snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from importlib import resources
from typing import Any

from pydantic import ValidationError

from airflow_cloudplan.catalog.registry import CatalogProvider
from airflow_cloudplan.errors import CatalogError, Problem, did_you_mean
from airflow_cloudplan.model.catalog import Catalog, InstancePrice, Source

SNAPSHOT_RESOURCE = "aws.json"
PRICING_ENDPOINT_REGION = "us-east-1"
IAM_HINT = "grant the caller pricing:GetProducts (no resource scoping is possible)"


def product_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """The ``get_products`` filters that select the on-demand Linux offer of a type."""
    fields = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]


def on_demand_usd_per_hour(price_item: str) -> float | None:
    """The hourly USD price in one ``PriceList`` JSON string (``None`` if it has none).

    Raises :class:`CatalogError` on a document that is not the documented shape, so a
    change in the API shows up as a clear error rather than a silently wrong price.
    """
    try:
        doc = json.loads(price_item)
        terms = doc.get("terms", {}).get("OnDemand", {})
        for term in terms.values():
            for dim in term["priceDimensions"].values():
                if dim.get("unit") == "Hrs" and "USD" in dim.get("pricePerUnit", {}):
                    usd = float(dim["pricePerUnit"]["USD"])
                    if usd > 0:
                        return usd
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CatalogError(
            "the AWS Price List API returned a document this version cannot read",
            [Problem(f"{type(exc).__name__}: {exc}", path="PriceList[]",
                     hint="report this with the response; use the bundled snapshot meanwhile")],
        ) from exc  # fmt: skip
    return None


def _explain(exc: Exception) -> CatalogError:
    """Turn a botocore failure into a located, actionable catalog error."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CatalogError(
            "cannot refresh AWS prices: no AWS credentials found",
            [Problem(str(exc), path="credentials",
                     hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run "
                          "'aws configure'; the bundled snapshot works without credentials")],
        )  # fmt: skip
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code in {"ThrottlingException", "Throttling", "TooManyRequestsException"}:
            hint = "wait a minute and retry, or refresh fewer regions with --regions"
        elif code in {"AccessDeniedException", "UnrecognizedClientException"}:
            hint = IAM_HINT
        else:
            hint = "check the AWS error above; the bundled snapshot stays usable"
        return CatalogError(
            f"the AWS Price List API refused the request ({code})",
            [Problem(message, path="pricing.get_products", hint=hint)],
        )
    if isinstance(exc, EndpointConnectionError):
        return CatalogError(
            "cannot reach the AWS Price List API",
            [Problem(str(exc), path="pricing.get_products",
                     hint="check network access to api.pricing.us-east-1.amazonaws.com")],
        )  # fmt: skip
    if isinstance(exc, BotoCoreError):
        return CatalogError(
            "the AWS SDK failed while refreshing prices",
            [Problem(str(exc), path="pricing.get_products")],
        )
    raise exc


def _price_items(client: Any, instance_type: str, region: str) -> Iterator[str]:
    paginator = client.get_paginator("get_products")
    pages = paginator.paginate(
        ServiceCode="AmazonEC2",
        Filters=product_filters(instance_type, region),
        FormatVersion="aws_v1",
        MaxResults=100,
    )
    for page in pages:
        yield from page.get("PriceList", [])


def fetch_on_demand(
    client: Any,
    instance_type: str,
    region: str,
) -> float | None:
    """The on-demand price of a type in a region, ``None`` when AWS has no such offer."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        found = {p for item in _price_items(client, instance_type, region)
                 if (p := on_demand_usd_per_hour(item)) is not None}  # fmt: skip
    except (BotoCoreError, ClientError) as exc:
        raise _explain(exc) from exc
    if len(found) > 1:
        raise CatalogError(
            f"the AWS Price List API returned several prices for {instance_type} in {region}",
            [Problem(f"prices {sorted(found)}", path=f"prices[{instance_type}@{region}]",
                     hint="the filters no longer select one offer; report this")],
        )  # fmt: skip
    return found.pop() if found else None


def refresh_prices(
    base: Catalog,
    client: Any,
    *,
    regions: Sequence[str] | None = None,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> Catalog:
    """``base`` with on-demand prices re-read from the Price List API (see module doc)."""
    known = [r.id for r in base.regions]
    wanted = list(regions) if regions else known
    bad = [r for r in wanted if r not in known]
    if bad:
        raise CatalogError(
            "cannot refresh regions the snapshot does not describe",
            [Problem(f"unknown region '{r}'", path="--regions",
                     hint=did_you_mean(r, known) or f"use some of: {', '.join(known)}")
             for r in bad],
        )  # fmt: skip
    day = today or date.today()
    old = {(p.instance_type, p.region): p for p in base.prices}
    new_prices: list[InstancePrice] = [p for p in base.prices if p.region not in wanted]
    for region in wanted:
        zones = base.region(region).zones
        for itype in base.instance_types:
            usd = fetch_on_demand(client, itype.name, region)
            if progress:
                progress(f"{region} {itype.name}: {usd if usd is not None else 'not offered'}")
            if usd is None:
                continue
            prev = old.get((itype.name, region))
            new_prices.append(
                InstancePrice(
                    instance_type=itype.name,
                    region=region,
                    zones=prev.zones if prev else zones,
                    on_demand_usd_per_hour=usd,
                    spot_usd_per_hour=prev.spot_usd_per_hour if prev else None,
                )
            )
    new_prices.sort(key=lambda p: (p.instance_type, p.region))
    api_source = Source(
        name="AWS Price List Query API (pricing.get_products)",
        url_or_path="https://api.pricing.us-east-1.amazonaws.com",
        retrieved=day,
        note=f"on-demand Linux/Shared prices refreshed for {', '.join(wanted)}; spot prices "
        f"and zones kept from {base.version}",
    )
    # model_copy would skip validation; rebuild so the reference checks run again.
    return Catalog.model_validate(
        {
            **base.model_dump(),
            "version": f"aws-{day.isoformat()}",
            "snapshot_date": day,
            "prices": [p.model_dump() for p in new_prices],
            "sources": [api_source.model_dump(), *(s.model_dump() for s in base.sources)],
        }
    )


def parse_catalog(text: str, origin: str) -> Catalog:
    """Validate catalog JSON, turning pydantic errors into located problems."""
    try:
        return Catalog.model_validate_json(text)
    except ValidationError as exc:
        problems = [
            Problem(err["msg"], file=origin, path=".".join(str(x) for x in err["loc"]) or None,
                    hint="rebuild the file with 'cloudplan catalog refresh' or fix the field")
            for err in exc.errors()
        ]  # fmt: skip
        raise CatalogError(f"catalog file {origin} is invalid", problems) from exc


class AwsCatalogProvider(CatalogProvider):
    """AWS: the bundled snapshot in ``catalog/data/aws.json`` and the Price List API."""

    name = "aws"

    def load_snapshot(self) -> Catalog:
        """Read and validate the bundled snapshot."""
        ref = resources.files("airflow_cloudplan.catalog") / "data" / SNAPSHOT_RESOURCE
        return parse_catalog(ref.read_text(encoding="utf-8"), f"catalog/data/{SNAPSHOT_RESOURCE}")

    def refresh(
        self,
        base: Catalog,
        *,
        regions: Sequence[str] | None = None,
        client: Any = None,
        today: date | None = None,
    ) -> Catalog:
        """Re-read on-demand prices; builds a boto3 pricing client unless one is given."""
        if client is None:
            import boto3

            client = boto3.client("pricing", region_name=PRICING_ENDPOINT_REGION)
        return refresh_prices(base, client, regions=regions, today=today)
