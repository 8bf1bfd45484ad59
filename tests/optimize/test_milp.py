"""The MILP against direct evaluation and brute force: the linearisations are exact."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from airflow_cloudplan.errors import SolverError
from airflow_cloudplan.optimize.milp import (
    PlanningModel,
    cbc_stop_reason,
    evaluate_choice,
    highs_stop_reason,
    outcome_status,
    run_solver,
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


# --- statuses are the solver's claims, never PuLP's mapping ----------------------------

_CBC_TIME_OUT_NO_PLAN = """Cbc0020I Exiting on maximum time
Cbc0005I Partial search - best objective 1e+50 (best possible 21.772477)

Result - Stopped on time limit

No feasible solution found
Lower bound:                    21.772
"""
_CBC_TIME_OUT_WITH_PLAN = """Result - Stopped on time limit

Objective value:                2376.81025341
Lower bound:                    1023.900
Gap:                            1.32
"""
_CBC_OPTIMAL = """Result - Optimal solution found

Objective value:                12.00000000
"""
_CBC_PROVEN_INFEASIBLE = "Result - Problem proven infeasible\n\nNo feasible solution found\n"
_CBC_PRESOLVE_INFEASIBLE = """Continuous objective value is 2.5 - 0.00 seconds
Cgl0000I Cut generators found to be infeasible! (or unbounded)
Pre-processing says infeasible or unbounded
"""


@pytest.mark.parametrize(("log", "header", "kind", "has_solution", "status"), [
    (_CBC_OPTIMAL, "Optimal - objective value 12.00000000", "optimal", True, "optimal"),
    (_CBC_TIME_OUT_WITH_PLAN, "Stopped on time - objective value 2376.81025341",
     "time_limit", True, "feasible_not_proven"),
    (_CBC_TIME_OUT_NO_PLAN, "Stopped on time (no integer solution - continuous used) - "
     "objective value 1023.9", "time_limit", False, "no_solution"),
    # The reported failure: an "infeasible" header after a time-out. The log's verdict
    # ("Stopped on time limit", no solution) wins: feasibility is unknown, not disproven.
    (_CBC_TIME_OUT_NO_PLAN, "Infeasible - objective value 1023.9", "time_limit", False,
     "no_solution"),
    (_CBC_PROVEN_INFEASIBLE, "Infeasible - objective value 3.0", "infeasible", False,
     "infeasible"),
    (_CBC_PRESOLVE_INFEASIBLE, "Integer infeasible - objective value 2.50000000",
     "infeasible", False, "infeasible"),
    ("", "Stopped on iterations - objective value 3.0", "stopped", False, "no_solution"),
    ("", "", "stopped", False, "no_solution"),
])
def test_cbc_stop_reason_is_read_from_cbc_itself(log, header, kind, has_solution, status):
    reason = cbc_stop_reason(log, header)
    assert (reason.kind, reason.has_solution) == (kind, has_solution)
    assert outcome_status(reason) == status
    assert reason.text.startswith("CBC: ")


@pytest.mark.parametrize(("model_status", "primal", "status"), [
    ("Optimal", True, "optimal"),
    ("Infeasible", False, "infeasible"),
    # bounded-below objectives cannot be unbounded, so HiGHS's "or" is a proof here
    ("Primal infeasible or unbounded", False, "infeasible"),
    ("Time limit reached", True, "feasible_not_proven"),
    ("Time limit reached", False, "no_solution"),
    ("Iteration limit reached", False, "no_solution"),
    ("Interrupted by user", True, "feasible_not_proven"),
])
def test_highs_stop_reason_claims_only_what_highs_proved(model_status, primal, status):
    assert outcome_status(highs_stop_reason(model_status, primal)) == status


def test_an_unbounded_verdict_is_a_bug_not_a_status():
    with pytest.raises(SolverError, match="unbounded"):
        outcome_status(cbc_stop_reason("Result - Linear relaxation unbounded\n", ""))


def _market_split(seed: int = 3, rows: int = 6, cols: int = 50):
    """Cornuéjols–Dawande market split: a few equalities over binaries, almost surely
    infeasible, and far beyond branch and bound in seconds (no root solution, no proof)."""
    import random

    import pulp

    rng = random.Random(seed)
    lp = pulp.LpProblem("market_split", pulp.LpMinimize)
    xs = [lp.add_variable(f"x{i}", 0, 1, cat=pulp.LpBinary) for i in range(cols)]
    lp += pulp.lpSum(xs)
    for r in range(rows):
        a = [rng.randint(0, 99) for _ in range(cols)]
        lp += (pulp.lpSum(c * v for c, v in zip(a, xs, strict=True)) == sum(a) // 2, f"row{r}")
    return lp


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_a_time_out_without_a_plan_is_no_solution_never_infeasible(solver):
    """Forced deterministically: no solver finds or refutes a market split in 0.2 s,
    whatever the machine's load (a slower machine only does less)."""
    reason = run_solver(_market_split(), solver, time_limit_s=0.2)
    assert reason.kind == "time_limit", reason
    assert not reason.has_solution
    assert outcome_status(reason) == "no_solution"


def test_a_feasible_box_is_never_reported_infeasible_on_a_time_out():
    """An ε-box around a plan we evaluated ourselves holds that plan; with a tiny time
    limit CBC stops during its root processing, so the honest answer is 'no_solution'
    (or a plan without proof) — never 'infeasible', never 'optimal'."""
    import random

    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.optimize.dominance import prune_dominated
    from airflow_cloudplan.optimize.synthetic import catalog_problem

    problem, _ = prune_dominated(catalog_problem(load_catalog(), 20, 500, seed=1))
    model = PlanningModel(problem)
    rng = random.Random(0)
    known = {k: rng.randrange(len(problem.options[k])) for k in problem.stages}
    z = evaluate_choice(problem, known)
    out = model.solve(weights=(1, 0, 0), bounds=(None, z.latency * (1 + 1e-9),
                                                  z.risk * (1 + 1e-9)), time_limit_s=0.01)
    assert out.status in ("no_solution", "feasible_not_proven"), out
    assert not out.proven
    assert "Stopped on time" in out.stop_reason


# --- observability coverage below 100 % is a constraint -----------------------------


def _with_coverage(seed: int, share: float):
    problem = random_problem(seed, 5, 4, n_regions=2)
    rng = __import__("random").Random(seed)
    for k in problem.stages:
        problem.options[k] = [dataclasses.replace(o, covered=rng.random() < 0.5)
                              for o in problem.options[k]]
    problem.min_coverage = share
    return problem


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("weights", [(1, 0, 0), (0, 0, 1), (1, 0.02, 0.5)])
def test_coverage_constraint_matches_brute_force(seed, weights):
    problem = _with_coverage(seed, 0.75)
    assert problem.min_covered == 4  # ⌈0.75 · 5⌉
    out = PlanningModel(problem).solve(weights=weights)
    best = brute_min(problem, weights)
    if best is None:
        assert out.status == "infeasible"
        return
    assert out.status == "optimal"
    assert violated_constraints(problem, out.choice) == []
    covered = sum(problem.options[k][o].covered for k, o in out.choice.items())
    assert covered >= 4
    value = sum(w * v for w, v in zip(weights, out.point.as_tuple(), strict=True))
    assert value == pytest.approx(best, rel=1e-6)


def test_coverage_counts_stages_by_ceiling():
    problem = random_problem(0, 7, 2)
    for share, need in ((0.8, 6), (0.5, 4), (0.0, 0), (1.0, 7), (6 / 7, 6)):
        problem.min_coverage = share
        assert problem.min_covered == need, share
