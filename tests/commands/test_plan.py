"""``cloudplan plan`` on both example specs: plan.json, summary, baselines, bad input."""

from __future__ import annotations

import pytest

from airflow_cloudplan.cli import main
from airflow_cloudplan.model.plan import PlanResult
from tests.conftest import REPO


@pytest.mark.slow
@pytest.mark.parametrize("example", ["ml_pipeline.yaml", "regulated_pipeline.yaml"])
def test_plan_writes_plan_json_and_a_summary(example, tmp_path, capsys):
    spec = REPO / "docs" / "examples" / example
    code = main(["plan", str(spec), "--out", str(tmp_path), "--max-points", "8",
                 "--total-time", "120", "--weights", "c=1,l=1,r=1"])
    assert code == 0
    result = PlanResult.model_validate_json((tmp_path / "plan.json").read_text())
    assert len(result.frontier) >= 5
    assert 0 <= result.recommended < len(result.frontier)
    assert [b.name for b in result.baselines] == [
        "compute-centric", "locality-only", "rules-based-autoscaling"]
    out, err = capsys.readouterr()
    assert "<- recommended" in out
    for b in result.baselines:
        assert b.name in out
        for v in b.plan.violations:
            assert f"{v.gate}:{v.rule_id}" in out
    assert "dominance pruning" in out
    # progress from the first phase on, each phase on its own line, in order
    phases = [line.split("] ", 1)[1].split(":", 1)[0] for line in err.splitlines()
              if line.startswith("[")]
    assert phases[0] == "loading"
    for name in ("candidates", "gates", "pruning", "frontier", "evaluation", "baselines"):
        assert name in phases
    assert phases.index("gates") < phases.index("frontier") < phases.index("baselines")


def test_bad_weights_are_located(tmp_path, capsys):
    spec = REPO / "docs" / "examples" / "regulated_pipeline.yaml"
    code = main(["plan", str(spec), "--out", str(tmp_path), "--weights", "c=1,x=2"])
    assert code == 2
    assert "--weights" in capsys.readouterr().err
    assert not (tmp_path / "plan.json").exists()


def test_unknown_spec_file_is_reported(tmp_path, capsys):
    code = main(["plan", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)])
    assert code == 2
    assert "missing.yaml" in capsys.readouterr().err
