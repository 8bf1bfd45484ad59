"""``cloudplan catalog list|refresh`` as a user runs them: output, files, exit codes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.catalog.build_aws_snapshot import catalog_json
from airflow_cloudplan.cli import main
from airflow_cloudplan.model.catalog import Catalog

from .pricelist_fixtures import page, price_item, request


def test_list_prints_a_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    catalog = load_catalog()
    assert catalog.version in out
    for line in ("regions (12)", "eu    eu-west-1", "uk    eu-west-2", "gpu         p5"):
        assert line in out, line
    for tier in catalog.tiers:
        assert tier.id in out
    for storage in catalog.storage:
        assert storage.id in out
    assert "egress USD/GB: cross-zone 0.02" in out


def test_list_json_is_the_full_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--json", "--provider", "aws"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert Catalog.model_validate(doc) == load_catalog()


def test_unknown_provider_exits_2_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--provider", "awz"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'aws'" in err and "Traceback" not in err


def test_missing_catalog_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--catalog", str(tmp_path / "nope.json")]) == 2
    assert "cannot read catalog file" in capsys.readouterr().err


def test_catalog_without_action_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog"]) == 2
    assert "refresh" in capsys.readouterr().out


def _small_base(tmp_path: Path) -> tuple[Path, Catalog]:
    """One region, two types: a refresh needs only two stubbed calls."""
    full = load_catalog()
    keep = {"m7i.xlarge", "g5.xlarge"}
    small = Catalog.model_validate(
        {
            **full.model_dump(),
            "regions": [full.region("us-east-1").model_dump()],
            "instance_types": [t.model_dump() for t in full.instance_types if t.name in keep],
            "prices": [
                p.model_dump()
                for p in full.prices
                if p.instance_type in keep and p.region == "us-east-1"
            ],
            "network": [],
        }
    )
    path = tmp_path / "base.json"
    path.write_text(catalog_json(small))
    return path, small


def test_refresh_writes_a_dated_file_the_cli_can_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_path, base = _small_base(tmp_path)
    pricing = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    stub = Stubber(pricing)
    stub.add_response(
        "get_products",
        page([price_item("g5.xlarge", "us-east-1", 1.1)]),
        request("g5.xlarge", "us-east-1"),
    )
    stub.add_response(
        "get_products",
        page([price_item("m7i.xlarge", "us-east-1", 0.2016)]),
        request("m7i.xlarge", "us-east-1"),
    )
    stub.activate()

    def fake_client(service: str, **kwargs: Any) -> Any:
        assert service == "pricing" and kwargs["region_name"] == "us-east-1"
        return pricing

    monkeypatch.setattr(boto3, "client", fake_client)
    out = tmp_path / "fresh.json"
    argv = ["catalog", "refresh", "--provider", "aws", "--catalog", str(base_path)]
    assert main([*argv, "--regions", "us-east-1", "--out", str(out)]) == 0
    stub.assert_no_pending_responses()
    assert "1 changed" in capsys.readouterr().out

    fresh = load_catalog(path=out)
    g5 = fresh.price("g5.xlarge", "us-east-1")
    assert g5 is not None and g5.on_demand_usd_per_hour == 1.1
    assert fresh.snapshot_date == date.today() and fresh.version.endswith(date.today().isoformat())
    assert fresh.sources[0].name.startswith("AWS Price List Query API")
    assert fresh.sources[1:] == base.sources
    assert main(["catalog", "list", "--catalog", str(out)]) == 0
    assert fresh.version in capsys.readouterr().out


def test_refresh_unknown_region_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["catalog", "refresh", "--regions", "us-east-7", "--out", str(tmp_path / "x.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--regions" in err and "did you mean" in err
    assert not (tmp_path / "x.json").exists()


def test_refresh_without_credentials_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    base_path, _ = _small_base(tmp_path)
    argv = ["catalog", "refresh", "--catalog", str(base_path), "--out", str(tmp_path / "x.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials" in err and "Traceback" not in err
