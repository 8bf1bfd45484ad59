"""The MILP against direct evaluation and brute force: the linearisations are exact."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from airflow_cloudplan.errors import SolverError
from airflow_cloudplan.optimize.milp import (
    PlanningModel,
    evaluate_choice,
    violated_constraints,
)
from airflow_cloudplan.optimize.problem import ProblemEdge
from airflow_cloudplan.optimize.synthetic import random_problem


def brute_min(problem, weights):
    best = None
    for combo in itertools.product(*(range(len(problem.options[k])) for k in problem.stages)):
        choice = dict(zip(problem.stages, combo, strict=True))
        if violated_constraints(problem, choice):
            continue
        value = sum(w * v for w, v in zip(weights, evaluate_choice(problem, choice).as_tuple(),
                                          strict=True))
        best = value if best is None else min(best, value)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("weights", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0.02, 0.5)])
def test_optimum_equals_brute_force_and_direct_evaluation(seed, weights):
    problem = random_problem(seed, 4, 4, n_regions=3, shared_prob=0.5)
    out = PlanningModel(problem).solve(weights=weights)
    assert out.status == "optimal"
    direct = evaluate_choice(problem, out.choice)
    assert direct == out.point
    value = sum(w * v for w, v in zip(weights, direct.as_tuple(), strict=True))
    assert value == pytest.approx(brute_min(problem, weights), rel=1e-6)
    # the MILP's own objective variables equal the direct evaluation where they are driven
    milp = out.milp_point.as_tuple()
    assert milp[0] == pytest.approx(direct.cost, rel=1e-6)
    for j in (1, 2):
        if weights[j]:
            assert milp[j] == pytest.approx(direct.as_tuple()[j], rel=1e-6, abs=1e-6)


def test_shared_identity_risk_couples_stages():
    """Two shared stages each carry the other's reach: e_k × (reach_a + reach_b)."""
    problem = random_problem(1, 2, 2, n_regions=1, edge_prob=0.0)
    a, b = problem.stages
    for k in (a, b):
        problem.options[k] = [dataclasses.replace(o, shared=True) for o in problem.options[k]]
    problem.forbid_shared_across_classes = False
    out = PlanningModel(problem).solve(weights=(0, 0, 1))
    ea = problem.options[a][out.choice[a]].exposure
    eb = problem.options[b][out.choice[b]].exposure
    total_reach = problem.reach[a] + problem.reach[b]
    assert out.point.risk == pytest.approx((ea + eb) * total_reach)
    assert out.milp_point.risk == pytest.approx(out.point.risk)


def test_egress_is_priced_on_the_chosen_region_pair():
    problem = random_problem(2, 2, 4, n_regions=2, edge_prob=0.0, shared_prob=0.0)
    a, b = problem.stages
    problem.edges = [ProblemEdge(a, b, gb_per_month=1000.0, gb_per_run=1.0)]
    out = PlanningModel(problem).solve(weights=(1, 0, 0))
    ra = problem.options[a][out.choice[a]].region
    rb = problem.options[b][out.choice[b]].region
    local = (problem.options[a][out.choice[a]].cost_usd
             + problem.options[b][out.choice[b]].cost_usd)
    assert out.point.cost == pytest.approx(local + 1000.0 * problem.egress_usd_per_gb[(ra, rb)])
    assert out.milp_point.cost == pytest.approx(out.point.cost)


@pytest.mark.parametrize("seed", range(4))
def test_coupling_constraints_hold_in_the_solution(seed):
    problem = random_problem(seed, 4, 4)
    free = PlanningModel(problem).solve(weights=(1, 0, 0)).point
    problem.deadline_ms = free.latency * 0.95
    problem.budget_usd_month = free.cost * 3
    problem.exposure_budget_total = sum(
        sorted(o.exposure for o in problem.options[k])[1] for k in problem.stages)
    problem.forbid_shared_across_classes = True
    out = PlanningModel(problem).solve(weights=(1, 0, 0))
    if out.status == "infeasible":
        assert brute_min(problem, (1, 0, 0)) is None
    else:
        assert violated_constraints(problem, out.choice) == []
        assert out.point.cost == pytest.approx(brute_min(problem, (1, 0, 0)), rel=1e-6)


def test_highs_and_cbc_agree():
    problem = random_problem(5, 5, 5)
    model = PlanningModel(problem)
    cbc = model.solve(weights=(1, 0.1, 1), solver="cbc")
    highs = model.solve(weights=(1, 0.1, 1), solver="highs")
    assert cbc.status == highs.status == "optimal"
    value = [sum(w * v for w, v in zip((1, 0.1, 1), o.point.as_tuple(), strict=True))
             for o in (cbc, highs)]
    assert value[0] == pytest.approx(value[1], rel=1e-6)


def test_malformed_problem_is_explained():
    problem = random_problem(0, 3, 2)
    a, _, c = problem.stages
    problem.edges = [ProblemEdge(c, a, 1.0, 1.0)]
    problem.options[problem.stages[1]] = []
    with pytest.raises(SolverError) as err:
        PlanningModel(problem)
    text = err.value.render()
    assert "topological order" in text
    assert "no admitted option" in text


def test_unknown_solver_and_bad_weights_raise_typed_errors():
    model = PlanningModel(random_problem(0, 2, 2))
    with pytest.raises(SolverError, match="unknown solver"):
        model.solve(solver="gurobi")  # type: ignore[arg-type]
    with pytest.raises(SolverError, match="invalid objective"):
        model.solve(weights=(0, 0, 0))


def test_time_limit_is_reported_not_passed_off_as_optimal():
    """A hard ε-constrained solve with a 1 s limit must not claim a proof."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.optimize.dominance import prune_dominated
    from airflow_cloudplan.optimize.synthetic import catalog_problem

    problem, _ = prune_dominated(catalog_problem(load_catalog(), 20, 500, seed=1))
    model = PlanningModel(problem)
    lo = model.solve(weights=(0, 1, 0), time_limit_s=60)
    hi = model.solve(weights=(1, 0, 0), time_limit_s=60)
    lo_r = model.solve(weights=(0, 0, 1), time_limit_s=60)
    mid = ((lo.point.latency + hi.point.latency) / 2, (lo_r.point.risk + hi.point.risk) / 2)
    out = model.solve(weights=(1, 0, 0), bounds=(None, mid[0], mid[1]), time_limit_s=1.0)
    assert out.status in ("feasible_not_proven", "no_solution")
    assert not out.proven
