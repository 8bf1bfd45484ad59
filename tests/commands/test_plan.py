"""``cloudplan plan`` on both example specs: plan.json, summary, baselines, bad input."""

from __future__ import annotations

import pytest

from airflow_cloudplan.cli import main
from airflow_cloudplan.model.plan import PlanResult
from tests.conftest import REPO


@pytest.mark.slow
@pytest.mark.parametrize("example", ["ml_pipeline.yaml", "regulated_pipeline.yaml"])
def test_plan_writes_plan_json_and_a_summary(example, tmp_path, capsys):
    spec = REPO / "docs" / "examples" / example
    code = main(["plan", str(spec), "--out", str(tmp_path), "--max-points", "8",
                 "--total-time", "120", "--weights", "c=1,l=1,r=1"])
    assert code == 0
    result = PlanResult.model_validate_json((tmp_path / "plan.json").read_text())
    assert len(result.frontier) >= 5
    assert 0 <= result.recommended < len(result.frontier)
    assert [b.name for b in result.baselines] == [
        "compute-centric", "locality-only", "rules-based-autoscaling"]
    out, err = capsys.readouterr()
    assert "<- recommended" in out
    for b in result.baselines:
        assert b.name in out
        for v in b.plan.violations:
            assert f"{v.gate}:{v.rule_id}" in out
    assert "dominance pruning" in out
    # progress from the first phase on, each phase on its own line, in order
    phases = [line.split("] ", 1)[1].split(":", 1)[0] for line in err.splitlines()
              if line.startswith("[")]
    assert phases[0] == "loading"
    for name in ("candidates", "gates", "pruning", "frontier", "evaluation", "baselines"):
        assert name in phases
    assert phases.index("gates") < phases.index("frontier") < phases.index("baselines")


def test_bad_weights_are_located(tmp_path, capsys):
    spec = REPO / "docs" / "examples" / "regulated_pipeline.yaml"
    code = main(["plan", str(spec), "--out", str(tmp_path), "--weights", "c=1,x=2"])
    assert code == 2
    assert "--weights" in capsys.readouterr().err
    assert not (tmp_path / "plan.json").exists()


def test_unknown_spec_file_is_reported(tmp_path, capsys):
    code = main(["plan", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)])
    assert code == 2
    assert "missing.yaml" in capsys.readouterr().err


# -- honest wording: frontier completeness apart from proof; solver time apart from total --

def _with(plan, *, all_proven: bool, notes: tuple[str, ...], unproven: int = 0):  # type: ignore[no-untyped-def]
    frontier = tuple(p.model_copy(update={"proven_optimal": i >= unproven})
                     for i, p in enumerate(plan.frontier))
    return plan.model_copy(update={
        "frontier": frontier, "notes": notes,
        "solver": plan.solver.model_copy(update={"all_proven_optimal": all_proven})})


def test_a_search_stopped_at_max_points_is_not_called_unproven() -> None:
    from airflow_cloudplan.commands.plan import render_summary
    from tests.report.sample_plans import ml_plan

    plan = _with(ml_plan(), all_proven=False, notes=(
        "frontier: 9 points, INCOMPLETE (each point is non-dominated; more may exist)",
        "stopped at max_points=8: the points are non-dominated, the frontier may have more",
        "added the weighted optimum to the incomplete frontier"))
    text = render_summary(plan, max_points=8)
    n = len(plan.frontier)
    assert f"frontier: {n} points shown of ≥ {n} (stopped at --max-points 8)" in text
    assert f"proof: each of the {n} points is proven non-dominated" in text
    assert "NOT" not in text.replace("NOT feasible", "")  # no 'NOT all proven' any more
    assert "INCOMPLETE" not in text  # the planner's note is reworded, not repeated


def test_unproven_points_are_counted_and_complete_frontiers_said_so() -> None:
    from airflow_cloudplan.commands.plan import frontier_status
    from tests.report.sample_plans import ml_plan

    n = len(ml_plan().frontier)
    slow = _with(ml_plan(), all_proven=False, unproven=2,
                 notes=("a solve found no plan within 30 s; part of the frontier may be "
                        "missing",))
    lines = frontier_status(slow)
    assert lines[0] == f"frontier: {n} points; the search did not finish (see the notes)"
    assert lines[1].startswith(f"proof: 2 of {n} points NOT proven optimal")
    done = _with(ml_plan(), all_proven=True, notes=())
    assert frontier_status(done) == [
        f"frontier: {n} points, complete (every non-dominated plan, each proven optimal)"]
    timed = _with(ml_plan(), all_proven=False, notes=(
        "stopped after total_time_s=300.0: the points are non-dominated",))
    assert "(stopped at --total-time 300 s)" in frontier_status(timed)[0]


def test_solver_time_is_shown_apart_from_total_time() -> None:
    from airflow_cloudplan.commands.plan import timing_line
    from tests.report.sample_plans import ml_plan

    line = timing_line(ml_plan(), {"loading": 0.4, "gates": 3.1, "frontier": 8.6,
                                   "baselines": 34.7})
    assert "frontier search 8.6 s of 46.8 s total" in line
    assert "gates 3.1 s" in line and "baselines 34.7 s" in line
    assert "planning took 4.2 s in total" in timing_line(ml_plan(), None)
