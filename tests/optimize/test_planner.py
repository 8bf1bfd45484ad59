"""plan(): candidates → gates → MILP frontier → evaluated plans, on the example specs."""

from __future__ import annotations

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.errors import SolverError
from airflow_cloudplan.gates import check_plan
from airflow_cloudplan.model.plan import PlanResult
from airflow_cloudplan.model.policy import ObjectiveWeights
from airflow_cloudplan.optimize.planner import plan
from airflow_cloudplan.spec import load_spec
from tests.conftest import REPO

EXAMPLES = REPO / "docs" / "examples"


def _input(name):
    catalog = load_catalog()
    return load_spec(EXAMPLES / name, catalog).planning_input(catalog)


@pytest.fixture(scope="module")
def regulated():
    inp = _input("regulated_pipeline.yaml")
    return inp, plan(inp, max_points=12, total_time_s=120)


def test_frontier_points_are_gated_evaluated_and_mutually_non_dominated(regulated):
    inp, result = regulated
    assert len(result.frontier) >= 5
    objs = [p.objectives for p in result.frontier]
    for p in result.frontier:
        assert check_plan(inp, p.assignment) == []
        assert set(p.assignment) == set(inp.pipeline.stage_by_name)
    for a in objs:
        for b in objs:
            if a is b:
                continue
            assert not (b.cost_usd_month <= a.cost_usd_month and b.latency_ms <= a.latency_ms
                        and b.risk <= a.risk and b != a)
    assert result.recommendation in result.frontier
    assert result.solver.options_after_dominance <= result.solver.options_total
    assert "dominance_pruning" in result.gate_report.artifacts


def test_incomplete_frontier_is_flagged_not_hidden(regulated):
    _, result = regulated
    assert not result.solver.all_proven_optimal
    assert any("INCOMPLETE" in n for n in result.notes)


def test_baselines_are_scored_and_checked(regulated):
    _, result = regulated
    names = [b.name for b in result.baselines]
    assert names == ["compute-centric", "locality-only", "rules-based-autoscaling"]
    compute = result.baselines[0].plan
    assert compute.violations  # a restricted-data pipeline on the cheapest shared setup
    assert {v.gate for v in compute.violations} >= {"governance"}


def test_plan_json_round_trips(regulated):
    _, result = regulated
    again = PlanResult.model_validate_json(result.model_dump_json())
    assert again == result


def test_weights_choose_the_extreme_points(regulated):
    inp, _ = regulated
    cheap = plan(inp, weights=ObjectiveWeights(cost=1, latency=0, risk=0), max_points=12,
                 total_time_s=120, with_baselines=False)
    costs = [p.objectives.cost_usd_month for p in cheap.frontier]
    assert cheap.recommendation.objectives.cost_usd_month == min(costs)


def test_deadline_below_the_fastest_path_is_explained_by_the_milp(regulated):
    inp, result = regulated
    fastest = min(p.objectives.latency_ms for p in result.frontier)
    tight = inp.model_copy(update={"pipeline": inp.pipeline.model_copy(
        update={"deadline_minutes": fastest * 0.8 / 60_000})})
    with pytest.raises(SolverError) as err:
        plan(tight, max_points=5, with_baselines=False)
    text = err.value.render()
    assert "relaxing {deadline} restores feasibility" in text
    assert "critical path:" in text


def test_a_stage_the_gates_empty_is_named_with_its_relaxation():
    inp = _input("regulated_pipeline.yaml")
    tight = inp.model_copy(update={"pipeline": inp.pipeline.model_copy(
        update={"deadline_minutes": 1.0})})
    with pytest.raises(SolverError) as err:
        plan(tight, max_points=5, with_baselines=False)
    text = err.value.render()
    assert "has no option that passes every gate" in text
    assert "would admit" in text
