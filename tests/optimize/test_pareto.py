"""The frontier search: identical to brute force, honest about limits, explains infeasibility."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_cloudplan.errors import SolverError
from airflow_cloudplan.optimize.milp import PlanningModel, StopReason, violated_constraints
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


class _TimingOutModel(PlanningModel):
    """A real model whose ε-constrained solves all stop on the time limit without a plan.

    A fake solver *result*, so the time-out is forced deterministically: the boxes are
    feasible (brute force finds points in them), yet no solve answers.
    """

    def solve(self, *, weights=(1.0, 0.0, 0.0), bounds=(None, None, None), **kwargs):
        if all(b is None for b in bounds):
            return super().solve(weights=weights, bounds=bounds, **kwargs)
        return self.outcome(StopReason("time_limit", False, "CBC: Result - Stopped on time "
                                       "limit"), wall=0.0)


def test_a_box_without_an_answer_is_reported_not_silently_closed():
    problem = random_problem(11, 4, 5)
    reference = [p for _, p in enumerate_frontier(problem)]
    assert len(reference) > 3
    frontier = pareto_frontier(problem, model=_TimingOutModel(problem), max_points=10_000)
    # the weighted-sum seeds answered; every ε-box timed out: the frontier says so
    assert not frontier.complete
    assert frontier.unresolved_boxes > 0
    assert any("neither a plan nor a proof of emptiness" in n and "Stopped on time" in n
               for n in frontier.notes)
    assert 0 < len(frontier.points) < len(reference)


def test_no_answer_at_all_is_not_called_infeasible():
    class _Silent(PlanningModel):
        def solve(self, **kwargs):
            return self.outcome(StopReason("time_limit", False, "HiGHS: Time limit reached"),
                                wall=0.0)

    problem = random_problem(3, 3, 3)
    with pytest.raises(SolverError) as err:
        pareto_frontier(problem, model=_Silent(problem))
    text = err.value.render()
    assert "no plan found within the time limit" in text
    assert "feasibility unknown" in text and "infeasible" not in text.replace(
        "no plan found", "")


def test_unreachable_coverage_is_explained():
    problem = random_problem(8, 4, 3)
    last = problem.stages[-1]
    for k in problem.stages:
        problem.options[k] = [dataclasses.replace(o, covered=k != last)
                              for o in problem.options[k]]
    problem.min_coverage = 1.0
    with pytest.raises(SolverError) as err:
        pareto_frontier(problem)
    text = err.value.render()
    assert "relaxing {observability_coverage} restores feasibility" in text
    assert f"at most 3 of 4 stages can meet their required signals (no admitted option of " \
           f"{last} emits them), and min_coverage needs 4" in text


def test_frontier_with_coverage_equals_brute_force():
    problem = random_problem(12, 4, 5)
    rng = __import__("random").Random(1)
    for k in problem.stages:
        problem.options[k] = [dataclasses.replace(o, covered=rng.random() < 0.5)
                              for o in problem.options[k]]
    problem.min_coverage = 0.75
    reference = [p for _, p in enumerate_frontier(problem)]
    frontier = pareto_frontier(problem, max_points=10_000)
    assert frontier.complete
    _same_sets([p.point for p in frontier.points], reference)
    for fp in frontier.points:
        assert sum(problem.options[k][o].covered for k, o in fp.choice.items()) >= 3


@pytest.mark.slow
def test_reduced_signal_catalog_frontier_meets_min_coverage():
    """The issue's case: aws-eks emits only logs; the regulated example at 0.8 coverage.

    Without the constraint the frontier crowds stages onto aws-eks (cheap, but blind);
    with it every frontier point covers ⌈0.8 · 7⌉ = 6 stages and passes check_plan.
    """
    import math
    from pathlib import Path

    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.gates import check_plan
    from airflow_cloudplan.gates.observability import observability_coverage
    from airflow_cloudplan.model import Catalog, Signal
    from airflow_cloudplan.optimize.planner import plan
    from airflow_cloudplan.spec import load_spec

    data = load_catalog().model_dump()
    for tier in data["tiers"]:
        if tier["id"] == "aws-eks":
            tier["capabilities"]["signals"] = frozenset({Signal.LOGS})
    catalog = Catalog.model_validate(data)
    spec = Path(__file__).resolve().parents[2] / "docs/examples/regulated_pipeline.yaml"
    inp = load_spec(spec, catalog).planning_input(catalog)
    obs = inp.policy.observability.model_copy(update={"min_coverage": 0.8})
    inp = inp.model_copy(update={"policy": inp.policy.model_copy(
        update={"observability": obs})})
    need = math.ceil(0.8 * len(inp.pipeline.stages))
    result = plan(inp, with_baselines=False, max_points=8, total_time_s=120)
    assert len(result.frontier) >= 2
    for point in result.frontier:
        assert observability_coverage(inp, point.assignment)["all"] >= 100 * need / 7 - 1e-9
        assert [v.rule_id for v in check_plan(inp, point.assignment)
                if v.rule_id == "obs.coverage"] == []
    # non-vacuous: dropping the rule lets the cheapest plan go blind
    from airflow_cloudplan.gates import screen_options
    from airflow_cloudplan.optimize.candidates import enumerate_options
    from airflow_cloudplan.optimize.scoring import build_problem

    problem = build_problem(inp, screen_options(inp, enumerate_options(inp)).admitted)
    problem.min_coverage = None
    cheapest = PlanningModel(problem).solve(weights=(1, 0, 0))
    covered = sum(problem.options[k][o].covered for k, o in cheapest.choice.items())
    assert covered < need
