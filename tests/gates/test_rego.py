"""User Rego rules: the shipped examples prune what they say, bad rules are located errors."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_cloudplan.errors import GateError
from airflow_cloudplan.gates import rego, screen_options
from airflow_cloudplan.gates.rego import RegoRule, input_paths, load_rule, load_rules
from airflow_cloudplan.model import GovernancePolicy, PlanningInput, StageOption

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


# -- evaluated once per distinct input (issue: the shipped rules made `gate` ~90x slower) --

EXAMPLE_SPEC = RULES.parent / "ml_pipeline.yaml"


def _ml_with_rules() -> tuple[PlanningInput, dict[str, list[StageOption]]]:
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.optimize.candidates import enumerate_options
    from airflow_cloudplan.spec import load_spec

    catalog = load_catalog()
    inp = load_spec(EXAMPLE_SPEC, catalog).planning_input(catalog)
    governance = inp.policy.governance.model_copy(update={"rego_rules": tuple(
        str(p) for p in sorted(RULES.glob("*.rego")))})
    inp = inp.model_copy(update={"policy": inp.policy.model_copy(
        update={"governance": governance})})
    return inp, enumerate_options(inp)


def test_input_paths_are_the_static_references_a_rule_reads() -> None:
    spot = input_paths((RULES / "no_spot_for_critical.rego").read_text())
    assert spot == (("option", "spot"), ("stage", "criticality"), ("stage", "name"))
    source = """package x
    import rego.v1
    import input.tier as t                 # input.ignored (a comment)
    deny contains "input.not_a_ref" if {   # a string
        input["stage"].kind == "train"
        input.option[k] == 1               # dynamic: all of input.option
        y.input.z                          # a field of y, not the input
    }"""
    assert input_paths(source) == (("option",), ("stage", "kind"), ("tier",))
    assert input_paths("package x\ndeny contains 1 if { count(input) > 0 }") == ((),)


def test_shipped_rules_run_the_interpreter_a_few_dozen_times_not_once_per_option() -> None:
    inp, options = _ml_with_rules()
    loaded: list[RegoRule] = []
    original = rego.load_rules

    def recording(*args: object, **kwargs: object) -> list[RegoRule]:
        rules = original(*args, **kwargs)  # type: ignore[arg-type]
        loaded.extend(rules)
        return rules

    rego.load_rules = recording  # type: ignore[assignment]
    try:
        outcome = screen_options(inp, options, base_dir=EXAMPLE_SPEC.parent)
    finally:
        rego.load_rules = original  # type: ignore[assignment]
    judged = sum(s.options_after["slo"] for s in outcome.report.stages)
    assert judged > 8_000  # every one of them gets both rules' verdicts...
    runs = sum(r.evaluations for r in loaded)
    assert 0 < runs <= 200, runs  # ...from a few dozen interpreter runs (was 2 per option)


def _verdicts_agree(inp: PlanningInput, pairs: list[tuple[str, StageOption]]) -> int:
    """Projected verdicts equal whole-document verdicts; how many options were denied."""
    from airflow_cloudplan.gates.context import GateContext
    from airflow_cloudplan.gates.document import DocumentBuilder

    builder = DocumentBuilder(GateContext(inp))
    paths = [str(p) for p in sorted(RULES.glob("*.rego"))]
    rules, reference = load_rules(paths), load_rules(paths)
    fired = 0
    for stage, option in pairs:
        doc = builder.document(stage, option)
        for rule, ref in zip(rules, reference, strict=True):
            got = rule.evaluate_parts(stage, builder.KEYS,
                                      lambda key, s=stage, o=option: builder.part(s, o, key))
            want = [ref._violation(stage, d) for d in ref._query(doc)]
            assert got == want, (stage, option.id, rule.path.name)
            fired += bool(got)
    return fired


def test_projected_verdicts_equal_whole_document_verdicts(
    planning_input: Callable[..., PlanningInput],
) -> None:
    import random

    inp, options = _ml_with_rules()
    pairs = [(k, o) for k, opts in options.items() for o in opts]
    _verdicts_agree(inp, random.Random(3).sample(pairs, 100))
    # the small catalog has spot and GPU options the rules deny: every one agrees
    small = planning_input()
    pairs = [(k, o) for k, opts in all_options(small).items() for o in opts]
    assert _verdicts_agree(small, random.Random(3).sample(pairs, 200)) > 5


def test_a_rule_reading_the_whole_input_still_sees_the_whole_document(
    planning_input: Callable[..., PlanningInput], tmp_path: Path,
) -> None:
    rule = tmp_path / "keys.rego"
    rule.write_text('package org.keys\n\nimport rego.v1\n\n'
                    'deny contains sprintf("%d keys", [count(input)]) if { count(input) != 8 }\n'
                    'deny contains "no option id" if { not input.option.id }\n')
    inp = planning_input(governance=GovernancePolicy(rego_rules=("keys.rego",)))
    outcome = screen_options(inp, all_options(inp), base_dir=tmp_path)
    denied = [v for rejected in outcome.rejected.values() for _o, vs in rejected for v in vs
              if v.gate == "rego:keys.rego"]
    assert denied == []
    assert outcome.report.total_after > 0
    assert load_rule(rule).reads_whole_document
