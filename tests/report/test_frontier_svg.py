from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from airflow_cloudplan.report import frontier_svg
from airflow_cloudplan.report.frontier_svg import ACTIVE, RECOMMENDED
from airflow_cloudplan.report.svg import nice_ticks, ramp
from tests.factories import plan_result
from tests.report.golden import check_golden
from tests.report.sample_plans import ml_plan, previous_ml_plan

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def frontier_circles(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter("{http://www.w3.org/2000/svg}circle")
            if (t := c.find("s:title", NS)) is not None and t.text
            and t.text.startswith("frontier point")]


def test_every_frontier_point_is_drawn_where_its_objectives_say() -> None:
    plan = ml_plan()
    root = parse(frontier_svg(plan))
    circles = frontier_circles(root)
    assert len(circles) == len(plan.frontier)
    by_index = {int(re.match(r"frontier point (\d+)", c.find("s:title", NS).text).group(1)): c
                for c in circles}
    xs = [float(by_index[i].get("cx")) for i in range(len(plan.frontier))]
    ys = [float(by_index[i].get("cy")) for i in range(len(plan.frontier))]
    costs = [p.objectives.cost_usd_month for p in plan.frontier]
    lats = [p.objectives.latency_ms for p in plan.frontier]
    # cost grows to the right, latency grows upwards (smaller y)
    assert sorted(range(len(xs)), key=xs.__getitem__) == sorted(range(len(costs)),
                                                                   key=costs.__getitem__)
    assert sorted(range(len(ys)), key=lambda i: -ys[i]) == sorted(range(len(lats)),
                                                                  key=lats.__getitem__)
    # higher risk: bigger marker
    risks = [p.objectives.risk for p in plan.frontier]
    radii = [float(by_index[i].get("r")) for i in range(len(plan.frontier))]
    hi, lo = risks.index(max(risks)), risks.index(min(risks))
    assert radii[hi] > radii[lo]
    assert by_index[hi].get("fill") == ramp(1.0) and by_index[lo].get("fill") == ramp(0.0)


def test_recommendation_active_and_baselines_are_marked_with_labels() -> None:
    plan, old = ml_plan(), previous_ml_plan()
    svg = frontier_svg(plan, old.recommendation)
    root = parse(svg)
    ring = [c for c in root.iter("{http://www.w3.org/2000/svg}circle")
            if c.get("stroke") == RECOMMENDED and c.find("s:title", NS) is not None]
    assert len(ring) == 1
    rec_circle = [c for c in frontier_circles(root)
                  if c.find("s:title", NS).text.startswith(f"frontier point {plan.recommended}:")]
    assert ring[0].get("cx") == rec_circle[0].get("cx")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "recommended" in texts and "active" in texts
    for b in plan.baselines:
        assert any(t and t.startswith(f"{b.name}: risk") and "violation" in t for t in texts)
    assert f'stroke="{ACTIVE}"' in svg
    assert "cost (USD / month)" in texts
    assert "end-to-end latency (h)" in texts  # ML pipeline latencies are hours
    assert "risk of frontier plans" in texts


def test_without_active_plan_no_active_marker() -> None:
    svg = frontier_svg(ml_plan())
    texts = [t.text for t in parse(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "active" not in texts


def test_output_is_deterministic_and_csp_safe() -> None:
    plan, old = ml_plan(), previous_ml_plan()
    a = frontier_svg(plan, old.recommendation)
    assert a == frontier_svg(plan, old.recommendation)
    assert "style=" not in a and "<script" not in a and "href" not in a


def test_text_from_the_plan_is_escaped() -> None:
    evil = '<script>alert("x")</script>&'
    plan = ml_plan().model_copy(update={"pipeline": evil})
    svg = frontier_svg(plan)
    assert "<script>" not in svg
    root = parse(svg)  # still well-formed XML
    assert evil in root.find("s:title", NS).text


def test_single_point_plan_renders() -> None:
    svg = frontier_svg(plan_result())  # one point, no baselines: degenerate ranges
    root = parse(svg)
    assert len(frontier_circles(root)) == 1
    assert "nan" not in svg.lower() and "inf" not in svg.lower()


@given(st.floats(-1e7, 1e7), st.floats(0, 1e7))
def test_nice_ticks_cover_the_range(lo: float, width: float) -> None:
    hi = lo + width
    ticks = nice_ticks(lo, hi)
    assert ticks == sorted(ticks)
    assert ticks[0] <= lo + 1e-6 * max(1.0, abs(lo))
    assert ticks[-1] >= hi - 1e-6 * max(1.0, abs(hi))
    assert 2 <= len(ticks) <= 12


def test_docs_picture_is_current() -> None:
    check_golden("frontier.svg", frontier_svg(ml_plan(), previous_ml_plan().recommendation))
