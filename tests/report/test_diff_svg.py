from __future__ import annotations

import xml.etree.ElementTree as ET

from airflow_cloudplan.report import diff_svg
from airflow_cloudplan.report.diff_svg import BETTER, HIGHLIGHT, NEW, WORSE, objective_colour
from airflow_cloudplan.store.diff import diff_plans
from tests.factories import plan_result
from tests.report.golden import check_golden
from tests.report.sample_plans import ml_plan, previous_ml_plan

SVG = "{http://www.w3.org/2000/svg}"
OLD, NEW_V = "a" * 64, "b" * 64


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_changed_fields_are_listed_with_before_and_after() -> None:
    diff = diff_plans(previous_ml_plan(), ml_plan(), old_version=OLD, new_version=NEW_V)
    svg = diff_svg(diff)
    t = texts(svg)
    assert "us-west-2" in t and "us-east-1" in t  # train moves region
    assert "predictive" in t and "rule_based" in t  # serve's scaling policy
    assert t.count("train") == 1 and t.count("serve") == 1  # grouped by stage
    highlighted = [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.get("fill") == HIGHLIGHT]
    assert len(highlighted) == len(diff.changes)
    assert f"{len(diff.changes)} field changes in 2 stages" in t


def test_objective_deltas_are_coloured_by_direction() -> None:
    diff = diff_plans(previous_ml_plan(), ml_plan(), old_version=OLD, new_version=NEW_V)
    svg = diff_svg(diff)
    # the new plan costs more, is faster and less risky
    assert "+7.2 %" in texts(svg) and "-17.1 %" in texts(svg)
    assert objective_colour(100.0, 90.0) == BETTER
    assert objective_colour(100.0, 110.0) == WORSE


def test_first_plan_marks_every_field_as_new() -> None:
    diff = diff_plans(None, plan_result(), old_version=None, new_version=NEW_V)
    svg = diff_svg(diff)
    assert "no active plan" in svg
    new_rows = [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.get("fill") == NEW]
    assert len(new_rows) == len(diff.changes) > 0


def test_identical_plans_say_so() -> None:
    plan = ml_plan()
    svg = diff_svg(diff_plans(plan, plan, old_version=NEW_V, new_version=NEW_V))
    assert "no placement changes" in texts(svg)


def test_values_are_escaped() -> None:
    plan = plan_result(pipeline="p<&>\"", stages=("<img src=x>",))
    svg = diff_svg(diff_plans(None, plan, old_version=None, new_version=NEW_V))
    assert "<img" not in svg
    assert "<img src=x>" in texts(svg)


def test_docs_picture_is_current() -> None:
    diff = diff_plans(previous_ml_plan(), ml_plan(), old_version="3f9c2a7e1b04" + "0" * 52,
                      new_version="8d41b6c09e7a" + "0" * 52)
    check_golden("plan-diff.svg", diff_svg(diff))
