"""Hypothesis properties of the exact frontier on small random problems.

Each example enumerates every plan, so problems stay at ≤ 4 stages × 5 options.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_cloudplan.optimize.milp import evaluate_choice, violated_constraints
from airflow_cloudplan.optimize.pareto import (
    enumerate_frontier,
    ideal_nadir,
    pareto_frontier,
    recommend,
)
from airflow_cloudplan.optimize.synthetic import random_problem

SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

problems = st.builds(
    random_problem,
    seed=st.integers(0, 10_000),
    n_stages=st.integers(2, 4),
    n_options=st.integers(2, 5),
    n_regions=st.integers(1, 3),
    edge_prob=st.floats(0.0, 1.0),
    shared_prob=st.floats(0.0, 1.0),
)


def _frontier(problem):
    return pareto_frontier(problem, max_points=10_000)


@SETTINGS
@given(problems)
def test_frontier_is_feasible_mutually_non_dominated_and_complete(problem):
    reference = [p for _, p in enumerate_frontier(problem)]
    if not reference:
        return  # infeasible instances are covered by the explanation tests
    frontier = _frontier(problem)
    assert frontier.complete and frontier.all_proven
    points = [fp.point for fp in frontier.points]
    for fp in frontier.points:
        assert violated_constraints(problem, fp.choice) == []
        assert evaluate_choice(problem, fp.choice) == fp.point
    for a in points:
        assert not any(b.dominates(a, 1e-9) for b in points if b is not a)
        # no plan at all (the enumerated frontier dominates every other plan) beats it
        assert not any(r.dominates(a, 1e-6) for r in reference)
    assert len(points) == len(reference)


@SETTINGS
@given(problems, st.sampled_from(["deadline", "budget", "exposure_budget", "classes"]),
       st.floats(0.3, 0.95))
def test_tightening_a_constraint_never_adds_a_better_plan(problem, which, factor):
    """Tightening shrinks the feasible set, so it can never add a plan that beats the old
    frontier; for bounds on an objective (deadline, budget) the new frontier is even a
    subset of the old one."""
    problem.forbid_shared_across_classes = False
    loose = [p for _, p in enumerate_frontier(problem)]
    if not loose:
        return
    tight = dataclasses.replace(problem)
    if which == "deadline":
        tight.deadline_ms = max(p.latency for p in loose) * factor
    elif which == "budget":
        tight.budget_usd_month = max(p.cost for p in loose) * factor
    elif which == "exposure_budget":
        tight.exposure_budget_total = sum(
            max(o.exposure for o in problem.options[k]) for k in problem.stages) * factor
    else:
        tight.forbid_shared_across_classes = True
    if not enumerate_frontier(tight):
        return
    points = [fp.point for fp in _frontier(tight).points]
    for p in points:
        assert any(q.dominates(p, 1e-9) or q.same_as(p, 1e-6) for q in loose)
        if which in ("deadline", "budget"):
            assert any(q.same_as(p, 1e-6) for q in loose)


@SETTINGS
@given(problems, st.tuples(st.floats(0, 5), st.floats(0, 5), st.floats(0, 5)).filter(
    lambda w: sum(w) > 0))
def test_recommendation_lies_on_the_frontier_and_minimises_the_weighted_score(problem,
                                                                              weights):
    reference = [p for _, p in enumerate_frontier(problem)]
    if not reference:
        return
    points = [fp.point for fp in _frontier(problem).points]
    chosen = points[recommend(points, weights)]
    assert any(chosen.same_as(q, 1e-6) for q in reference)
    ideal, nadir = ideal_nadir(points)

    def score(p):
        return sum(w * (v - lo) / (hi - lo) for w, v, lo, hi in
                   zip(weights, p.as_tuple(), ideal, nadir, strict=True) if hi > lo)

    assert score(chosen) <= min(score(q) for q in points) + 1e-9
