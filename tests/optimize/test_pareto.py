"""The frontier search: identical to brute force, honest about limits, explains infeasibility."""

from __future__ import annotations

import pytest

from airflow_cloudplan.errors import SolverError
from airflow_cloudplan.optimize.milp import PlanningModel, violated_constraints
from airflow_cloudplan.optimize.pareto import (
    enumerate_frontier,
    ideal_nadir,
    pareto_frontier,
    recommend,
    weighted_point,
)
from airflow_cloudplan.optimize.synthetic import random_problem


def _same_sets(found, reference, rel=1e-6):
    assert len(found) == len(reference)
    for p in found:
        assert any(p.same_as(q, rel) for q in reference), p


@pytest.mark.slow
def test_frontier_equals_brute_force_on_6_stages_by_8_options():
    problem = random_problem(7, 6, 8)
    reference = [p for _, p in enumerate_frontier(problem)]
    frontier = pareto_frontier(problem, max_points=10_000)
    assert frontier.complete and frontier.all_proven
    _same_sets([p.point for p in frontier.points], reference)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_frontier_equals_brute_force_small(solver):
    problem = random_problem(11, 4, 5)
    reference = [p for _, p in enumerate_frontier(problem)]
    frontier = pareto_frontier(problem, solver=solver, max_points=10_000)
    assert frontier.complete
    _same_sets([p.point for p in frontier.points], reference)


def test_max_points_stops_early_and_says_so():
    problem = random_problem(1, 4, 5)
    frontier = pareto_frontier(problem, max_points=3)
    assert len(frontier.points) == 3
    assert not frontier.complete
    assert any("max_points" in n for n in frontier.notes)
    reference = [p for _, p in enumerate_frontier(problem)]
    for fp in frontier.points:  # still exact points, just not all of them
        assert any(fp.point.same_as(q, 1e-6) for q in reference)


def test_recommendation_follows_the_weights():
    problem = random_problem(3, 4, 5)
    points = [p.point for p in pareto_frontier(problem, max_points=10_000).points]
    ideal, _ = ideal_nadir(points)
    assert points[recommend(points, (1, 0, 0))].cost == ideal[0]
    assert points[recommend(points, (0, 1, 0))].latency == ideal[1]
    assert points[recommend(points, (0, 0, 1))].risk == ideal[2]


def test_weighted_solve_lands_on_the_frontier():
    problem = random_problem(4, 4, 5)
    points = [p.point for p in pareto_frontier(problem, max_points=10_000).points]
    ideal, nadir = ideal_nadir(points)
    for weights in [(1, 1, 1), (1, 0, 0), (0.2, 0.0, 3.0)]:
        fp = weighted_point(PlanningModel(problem), weights, ideal, nadir)
        assert any(fp.point.same_as(q, 1e-6) for q in points)


def test_infeasible_deadline_is_explained_with_the_critical_path():
    problem = random_problem(2, 4, 4)
    problem.on_path = {}
    fastest = PlanningModel(problem).solve(weights=(0, 1, 0)).point.latency
    problem.deadline_ms = fastest * 0.5
    with pytest.raises(SolverError) as err:
        pareto_frontier(problem)
    text = err.value.render()
    assert "relaxing {deadline} restores feasibility" in text
    assert "critical path:" in text
    assert f"{fastest:,.0f} ms" in text


def test_infeasible_pair_of_constraints_is_reported_as_a_minimal_set():
    problem = random_problem(5, 3, 4)
    cheapest = PlanningModel(problem).solve(weights=(1, 0, 0)).point
    least_risk = PlanningModel(problem).solve(weights=(0, 0, 1)).point
    # each bound alone is satisfiable, together they are not (checked by brute force)
    problem.budget_usd_month = cheapest.cost * 1.0000001
    problem.exposure_budget_total = sum(min(o.exposure for o in problem.options[k])
                                        for k in problem.stages) * 1.0000001
    if enumerate_frontier(problem):
        pytest.skip("this seed's cheapest plan also has the least exposure")
    with pytest.raises(SolverError) as err:
        pareto_frontier(problem)
    text = err.value.render()
    assert "restores feasibility" in text
    assert "budget" in text or "exposure" in text
    assert least_risk is not None


def test_every_point_satisfies_the_coupling_constraints():
    problem = random_problem(6, 4, 5)
    loose = pareto_frontier(problem, max_points=10_000)
    problem.deadline_ms = sorted(p.point.latency for p in loose.points)[len(loose.points) // 2]
    frontier = pareto_frontier(problem, max_points=10_000)
    for fp in frontier.points:
        assert violated_constraints(problem, fp.choice) == []
        assert fp.point.latency <= problem.deadline_ms
