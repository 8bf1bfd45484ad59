"""User Rego rules: the shipped examples prune what they say, bad rules are located errors."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_cloudplan.errors import GateError
from airflow_cloudplan.gates import screen_options
from airflow_cloudplan.gates.rego import load_rule
from airflow_cloudplan.model import GovernancePolicy, PlanningInput

from .conftest import all_options

if importlib.util.find_spec("regopy") is None:  # not importorskip: see gates/rego.py
    pytest.skip("the optional 'regopy' package is not installed", allow_module_level=True)

RULES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rules"


def test_example_rules_prune_spot_for_critical_and_gpu_outside_train_serve(
    planning_input: Callable[..., PlanningInput],
) -> None:
    rules = ("no_spot_for_critical.rego", "gpu_only_for_train_serve.rego")
    inp = planning_input(governance=GovernancePolicy(rego_rules=rules))
    outcome = screen_options(inp, all_options(inp), base_dir=RULES)
    # serve is critical: no spot; prepare is a transform: no GPU; train may use both
    assert outcome.admitted["serve"]
    assert not any(o.spot for o in outcome.admitted["serve"])
    assert not any(o.instance_type == "g5.xlarge" for o in outcome.admitted["prepare"])
    assert any(o.instance_type == "g5.xlarge" and o.spot for o in outcome.admitted["train"])
    serve_reasons = [v for _, vs in outcome.rejected["serve"] for v in vs
                     if v.gate.startswith("rego:")]
    assert serve_reasons
    assert {v.rule_id for v in serve_reasons} == {"org.no_spot_for_critical"}
    assert serve_reasons[0].gate == "rego:no_spot_for_critical.rego"
    assert serve_reasons[0].field == "option.spot"
    gpu = next(v for _, vs in outcome.rejected["prepare"] for v in vs
               if v.gate == "rego:gpu_only_for_train_serve.rego")
    assert gpu.rule_id == "rego.cloudplan.rules.gpu_only_for_train_serve"
    assert "may not use accelerator instance type g5.xlarge" in gpu.message
    summary = {s.stage: s for s in outcome.report.stages}
    assert summary["serve"].options_after["rego"] < summary["serve"].options_after["slo"]


def test_malformed_rego_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "broken.rego"
    bad.write_text("package org.broken\n\nimport rego.v1\n\ndeny contains msg if { input. }\n")
    with pytest.raises(GateError) as err:
        load_rule(bad)
    [problem] = err.value.problems
    assert (problem.file, problem.line) == (str(bad), 5)
    assert "column 24" in problem.message


def test_rule_without_package_or_deny_is_explained(tmp_path: Path) -> None:
    nopkg = tmp_path / "nopkg.rego"
    nopkg.write_text("deny contains 1 if { true }\n")
    with pytest.raises(GateError, match="no package"):
        load_rule(nopkg)
    nodeny = tmp_path / "nodeny.rego"
    nodeny.write_text("package org.nodeny\n\nimport rego.v1\n\nallow if { true }\n")
    with pytest.raises(GateError) as err:
        load_rule(nodeny)
    assert "no `deny` rule" in err.value.render()


def test_missing_rule_file_names_the_policy_field(
    planning_input: Callable[..., PlanningInput], tmp_path: Path,
) -> None:
    inp = planning_input(governance=GovernancePolicy(rego_rules=("nope.rego",)))
    with pytest.raises(GateError) as err:
        screen_options(inp, all_options(inp), base_dir=tmp_path)
    assert "policy.governance.rego_rules" in err.value.render()
