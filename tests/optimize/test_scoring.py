from __future__ import annotations

import random

import pytest

from airflow_cloudplan.model import Isolation
from airflow_cloudplan.optimize.candidates import enumerate_options
from airflow_cloudplan.optimize.cost import stage_cost
from airflow_cloudplan.optimize.milp import evaluate_choice
from airflow_cloudplan.optimize.scoring import build_problem, evaluate_assignment


def test_problem_fills_every_field(tiny_input) -> None:  # type: ignore[no-untyped-def]
    problem = build_problem(tiny_input, enumerate_options(tiny_input))
    assert problem.stages == ["prep", "train", "serve"]
    assert problem.deadline_ms == 600 * 60_000
    assert problem.reach == {"prep": 5.0, "train": 3.0, "serve": 0.0}
    # serve reads no dataset, but the edge train -> serve hands it train's output, which
    # by lineage carries the confidential feats train was trained on.
    assert problem.sensitivity == {
        "prep": "confidential",
        "train": "confidential",
        "serve": "confidential",
    }
    assert problem.forbid_shared_across_classes is True
    assert problem.egress_usd_per_gb[("r1", "r2")] == 0.02
    assert problem.transfer_ms_per_gb[("r1", "r2")] == pytest.approx(8000.0)
    edge = problem.edges[0]
    assert (edge.gb_per_run, edge.gb_per_month) == (10, pytest.approx(10 * 30.4))
    for k, opts in problem.options.items():
        assert opts, k
        for po in opts:
            assert po.shared == (po.option.isolation is Isolation.SHARED)


def test_evaluate_assignment_equals_problem_objective(tiny_input) -> None:  # type: ignore[no-untyped-def]
    """What lets anyone check the solver: both paths give the same (C, L, R)."""
    problem = build_problem(tiny_input, enumerate_options(tiny_input))
    rng = random.Random(7)
    for _ in range(60):
        choice = {k: rng.randrange(len(problem.options[k])) for k in problem.stages}
        assignment = {k: problem.options[k][i].option for k, i in choice.items()}
        plan = evaluate_assignment(tiny_input, assignment)
        ref = evaluate_choice(problem, choice)
        assert plan.objectives.cost_usd_month == pytest.approx(ref.cost, rel=1e-9)
        assert plan.objectives.latency_ms == pytest.approx(ref.latency, rel=1e-9)
        assert plan.objectives.risk == pytest.approx(ref.risk, rel=1e-9)


def test_plan_breakdown_adds_up(tiny_input) -> None:  # type: ignore[no-untyped-def]
    options = enumerate_options(tiny_input)
    assignment = {k: v[-1] for k, v in options.items()}
    plan = evaluate_assignment(tiny_input, assignment)
    stage_sum = sum(s.cost.total_usd for s in plan.stages)
    assert plan.objectives.cost_usd_month == pytest.approx(stage_sum + plan.egress_usd_month)
    assert plan.objectives.risk == pytest.approx(sum(s.risk for s in plan.stages))
    for s in plan.stages:
        assert s.cost == stage_cost(tiny_input, s.stage, s.option)
    assert plan.proven_optimal is False


def test_latency_is_the_longest_path(tiny_input) -> None:  # type: ignore[no-untyped-def]
    options = enumerate_options(tiny_input)
    assignment = {k: v[0] for k, v in options.items()}
    plan = evaluate_assignment(tiny_input, assignment)
    lat = {s.stage: s.latency_ms for s in plan.stages}
    same = all(o.region == assignment["prep"].region for o in assignment.values())
    assert same
    # prep -> train (10 GB) -> serve (1 GB) inside one region at 10 Gbps = 800 ms/GB.
    expected = lat["prep"] + 10 * 800 + lat["train"] + 1 * 800 + lat["serve"]
    assert plan.objectives.latency_ms == pytest.approx(expected)
