"""``cloudplan evaluate``: score a plan, report feasibility per constraint, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.cli import main
from airflow_cloudplan.gates import screen_options
from airflow_cloudplan.optimize.candidates import enumerate_options
from airflow_cloudplan.optimize.scoring import evaluate_assignment
from airflow_cloudplan.spec import load_spec

SPEC = Path(__file__).resolve().parents[2] / "docs" / "examples" / "regulated_pipeline.yaml"


@pytest.fixture(scope="module")
def screened():  # type: ignore[no-untyped-def]
    catalog = load_catalog()
    inp = load_spec(SPEC, catalog).planning_input(catalog)
    return inp, screen_options(inp, enumerate_options(inp), base_dir=SPEC.parent)


def _write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "assignment.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_feasible_plan_scores_like_the_library(screened, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    inp, outcome = screened
    assignment = {k: v[-1] for k, v in outcome.admitted.items()}
    doc = {k: o.id for k, o in assignment.items()}
    doc["serve"] = assignment["serve"].model_dump(mode="json")  # object form works too
    assert main(["evaluate", str(SPEC), _write(tmp_path, doc), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = evaluate_assignment(inp, assignment).objectives
    assert report["feasible"] is True
    assert report["objectives"]["cost_usd_month"] == pytest.approx(expected.cost_usd_month)
    assert report["objectives"]["latency_ms"] == pytest.approx(expected.latency_ms)
    assert report["objectives"]["risk"] == pytest.approx(expected.risk)
    assert {c["constraint"] for c in report["constraints"]} >= {"deadline", "budget"}
    assert [s["stage"] for s in report["stages"]] == inp.pipeline.topological_order()


def test_gate_violation_exits_1_and_names_the_rule(screened, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    _, outcome = screened
    stage, rejected = next((k, v) for k, v in outcome.rejected.items() if v)
    option, reasons = rejected[0]
    doc = {k: v[0].id for k, v in outcome.admitted.items()}
    doc[stage] = option.id
    assert main(["evaluate", str(SPEC), _write(tmp_path, doc)]) == 1
    out = capsys.readouterr().out
    assert "NOT feasible" in out
    assert reasons[0].rule_id in out


def test_bad_assignment_is_located_and_exits_2(screened, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    _, outcome = screened
    doc = {k: v[0].id for k, v in outcome.admitted.items()}
    doc["serv"] = doc.pop("serve")
    doc["train"] = "eu-central-1/x/aws-fargate/m7i.4xlarge/static"
    assert main(["evaluate", str(SPEC), _write(tmp_path, doc)]) == 2
    err = capsys.readouterr().err
    assert "unknown stage 'serv'" in err and "did you mean 'serve'" in err
    assert "cannot read option id" in err
    assert "no option for stage 'serve'" in err


def test_unknown_instance_type_suggests_a_name(screened, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    _, outcome = screened
    doc = {k: v[0].id for k, v in outcome.admitted.items()}
    doc["train"] = doc["train"].replace("m7i.4xlarge", "m7i.4xlarg")
    assert main(["evaluate", str(SPEC), _write(tmp_path, doc)]) == 2
    assert "did you mean 'm7i.4xlarge'" in capsys.readouterr().err


def test_text_report_uses_the_ui_units(screened, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from airflow_cloudplan.report.units import fmt_cost, fmt_latency, fmt_risk

    inp, outcome = screened
    assignment = {k: v[-1] for k, v in outcome.admitted.items()}
    doc = {k: o.id for k, o in assignment.items()}
    assert main(["evaluate", str(SPEC), _write(tmp_path, doc)]) == 0
    out = capsys.readouterr().out
    o = evaluate_assignment(inp, assignment).objectives
    assert out.splitlines()[0] == (f"pipeline {inp.pipeline.name}: C = "
                                   f"{fmt_cost(o.cost_usd_month)}/month, L = "
                                   f"{fmt_latency(o.latency_ms)}, R = {fmt_risk(o.risk)}")
    constraints = [line for line in out.splitlines() if line.startswith("  deadline")]
    assert constraints and fmt_latency(inp.pipeline.deadline_minutes * 60_000.0) in constraints[0]
    assert str(o.latency_ms) not in out and f"{o.latency_ms:.0f}" not in out
