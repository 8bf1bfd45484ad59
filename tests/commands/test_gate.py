"""``cloudplan gate``: report per stage, JSON, relaxation for an empty stage, bad policies."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from airflow_cloudplan.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_gate_prints_every_stage_and_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", str(EXAMPLES / "regulated_pipeline.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["stage", "before", "governance", "observability",
                                           "slo"]
    for stage in ("ingest", "transform", "train", "serve", "monitor"):
        assert any(line.startswith(stage + " ") for line in out.splitlines())
    assert "gov.residency.placement ×" in out


def test_gate_shows_progress_stage_by_stage_on_stderr(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", str(EXAMPLES / "ml_pipeline.yaml")]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0].split("] ", 1)[1].startswith("loading: ")
    stages = [line for line in lines if "] gates: stage " in line]
    assert [line.split("gates: stage ", 1)[1].split(" ", 1)[0] for line in stages] == [
        f"{i}/8" for i in range(1, 9)]
    assert "gates:" not in captured.out  # the report on stdout stays clean
    assert main(["gate", str(EXAMPLES / "ml_pipeline.yaml"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_gate_json_report_with_guardrail(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", str(EXAMPLES / "regulated_pipeline.yaml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total_after"] < report["total_before"]
    assert {s["stage"] for s in report["stages"]} >= {"ingest", "serve"}
    scp = report["artifacts"]["residency_guardrail"]
    assert scp["Statement"][0]["Effect"] == "Deny"


def _write_variant(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((EXAMPLES / "regulated_pipeline.yaml").read_text())
    mutate(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_gate_reports_smallest_relaxation_for_empty_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    def public_serve(data: dict) -> None:  # type: ignore[type-arg]
        for stage in data["stages"]:
            if stage["name"] == "serve":
                stage["public_endpoint"] = True

    assert main(["gate", str(_write_variant(tmp_path, public_serve))]) == 1
    out = capsys.readouterr().out
    assert "serve: NO FEASIBLE OPTION. Smallest change: " in out
    assert "allow_public_endpoint: allow public" in out


def test_gate_with_user_rego_rule_next_to_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    if importlib.util.find_spec("regopy") is None:  # importing it here would break highspy
        pytest.skip("the optional 'regopy' package is not installed")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "no_spot.rego").write_text(
        (EXAMPLES / "rules" / "no_spot_for_critical.rego").read_text())

    def add_rule(data: dict) -> None:  # type: ignore[type-arg]
        data["policy"]["governance"]["rego_rules"] = ["rules/no_spot.rego"]
        # one region keeps the Rego pass short (~8 ms per surviving option, see docs/gates.md)
        data["candidate_regions"] = ["eu-central-1"]

    assert main(["gate", str(_write_variant(tmp_path, add_rule)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    serve = next(s for s in report["stages"] if s["stage"] == "serve")
    assert "rego" in serve["options_after"]


def test_gate_bad_policy_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    def bad_region(data: dict) -> None:  # type: ignore[type-arg]
        for cls in data["policy"]["governance"]["classes"]:
            if cls["name"] == "restricted":
                cls["allowed_jurisdictions"] = ["eu"]
                cls["allowed_regions"] = ["us-east-1"]

    path = _write_variant(tmp_path, bad_region)
    assert main(["gate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err  # located in the file, with a line number
    assert "allowed_regions" in err and "Fix:" in err
    assert "Traceback" not in err
