"""``cloudplan compose``: writes a verified bundle; bad input exits 2 with located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.cli import main
from airflow_cloudplan.runops import plan_version_of, verify_manifest
from tests.runops.conftest import REPO, example_input, hand_plan

SPEC = REPO / "docs" / "examples" / "ml_pipeline.yaml"


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    inp = example_input("ml_pipeline", load_catalog())
    (tmp_path / "plan.json").write_text(hand_plan(inp).model_dump_json())
    return tmp_path


def test_compose_writes_artifacts_next_to_the_plan(
    plan_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compose", str(plan_dir / "plan.json"), "--spec", str(SPEC)]) == 0
    out = plan_dir / "artifacts"
    assert verify_manifest(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    from airflow_cloudplan.model import PlanResult

    plan = PlanResult.model_validate_json((plan_dir / "plan.json").read_text())
    assert manifest["plan_version"] == plan_version_of(plan)
    assert (out / "airflow" / "settings.json").is_file()
    assert "evidence completeness 100%" in capsys.readouterr().out


def test_compose_json_and_explicit_out(plan_dir: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = plan_dir / "elsewhere"
    code = main(["compose", str(plan_dir / "plan.json"), "--spec", str(SPEC), "--out", str(out),
                 "--plan-version", "v7", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["plan_version"] == "v7"
    assert (out / "manifest.json").is_file()


def test_bad_plan_file_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plan.json").write_text('{"pipeline": "x"}')
    assert main(["compose", str(tmp_path / "plan.json"), "--spec", str(SPEC)]) == 2
    err = capsys.readouterr().err
    assert "plan.json" in err and "not a valid plan" in err and "Fix:" in err
    assert not (tmp_path / "artifacts").exists()


def test_plan_for_another_spec_is_refused(plan_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    other = REPO / "docs" / "examples" / "regulated_pipeline.yaml"
    assert main(["compose", str(plan_dir / "plan.json"), "--spec", str(other)]) == 2
    assert "plan is for pipeline" in capsys.readouterr().err
