"""Planning one pipeline end to end: candidates → gates → problem → pruning → frontier.

:func:`plan` is the one entry point the CLI, the nightly DAG and tests call::

    candidates.enumerate_options ─▶ gates.screen_options ─▶ scoring.build_problem
        ─▶ dominance.prune_dominated ─▶ pareto.pareto_frontier (MILP, CBC or HiGHS)
        ─▶ scoring.evaluate_assignment per point (cross-checked against the MILP)
        ─▶ recommendation by weights ─▶ baselines over the ungated candidates

Every step that can fail raises a typed error naming stages and constraints: a stage the
gates left empty (with the gates' smallest relaxation), an infeasible coupling (with the
smallest set of constraint groups to relax), a model mismatch between the solver and the
scoring models (a bug, never silently tolerated).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from airflow_cloudplan.errors import Problem, SolverError
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import EvaluatedPlan, Isolation, PlanResult, SolverStats
from airflow_cloudplan.model.policy import ObjectiveWeights
from airflow_cloudplan.optimize.dominance import PruningReport
from airflow_cloudplan.optimize.milp import SolverName
from airflow_cloudplan.optimize.pareto import (
    Frontier,
    FrontierPoint,
    FrontierProgress,
    ideal_nadir,
    recommend,
    weighted_point,
)
from airflow_cloudplan.optimize.problem import PlanningProblem

CROSS_CHECK_REL_TOL = 1e-6


def _empty_stage_error(report: object, empty: list[str]) -> SolverError:
    from airflow_cloudplan.model.plan import GateReport

    relax = {}
    if isinstance(report, GateReport):
        relax = {s.stage: s.smallest_relaxation for s in report.stages}
    return SolverError("the gates left some stages without any option", [Problem(
        f"stage '{k}' has no option that passes every gate", path=f"stages.{k}",
        hint=relax.get(k) or "relax the policy rule that rejects most of its options")
        for k in empty])


def _cross_check(point: FrontierPoint, plan: EvaluatedPlan) -> None:
    """The MILP's (C, L, R) must equal the scoring models' evaluation of the same plan."""
    o = plan.objectives
    for name, mine, theirs in (("cost", point.point.cost, o.cost_usd_month),
                               ("latency", point.point.latency, o.latency_ms),
                               ("risk", point.point.risk, o.risk)):
        if abs(mine - theirs) > CROSS_CHECK_REL_TOL * max(1.0, abs(mine), abs(theirs)):
            raise SolverError("the solver and the scoring models disagree", [Problem(
                f"{name}: MILP {mine!r} vs evaluate_assignment {theirs!r}",
                path="optimize.scoring.build_problem",
                hint="a bug: build_problem and evaluate_assignment must use the same "
                     "formulas; report it with the spec")])


def _pruning_artifact(report: PruningReport) -> dict[str, object]:
    return {"before": report.before, "after": report.after, "stages": {
        s.stage: {"before": s.before, "after": s.after, "dominated": s.dominated,
                  "duplicates": s.duplicates} for s in report.stages}}


def plan(inp: PlanningInput, *, weights: ObjectiveWeights | None = None,
         solver: SolverName = "cbc", time_limit_s: float = 60.0,
         total_time_s: float | None = 300.0, max_points: int = 40,
         progress: Callable[[FrontierProgress], None] | None = None,
         spec_sha256: str = "", base_dir: Path | None = None,
         with_baselines: bool = True,
         phase: Callable[[str, str], None] | None = None) -> PlanResult:
    """Plan one pipeline: the exact frontier, the recommendation and the baselines.

    ``time_limit_s`` bounds each MILP solve; ``total_time_s`` and ``max_points`` bound the
    frontier search (an early stop is reported in ``notes`` and ``solver``, never hidden).
    ``phase(name, detail)`` is called as each phase starts (candidates, gates, pruning,
    frontier, evaluation, baselines); ``progress`` after every frontier solve.
    """
    def say(name: str, detail: str = "") -> None:
        if phase is not None:
            phase(name, detail)

    from airflow_cloudplan.gates import screen_options
    from airflow_cloudplan.optimize.baselines import run_baselines
    from airflow_cloudplan.optimize.candidates import enumerate_options
    from airflow_cloudplan.optimize.dominance import prune_dominated
    from airflow_cloudplan.optimize.milp import PlanningModel
    from airflow_cloudplan.optimize.pareto import pareto_frontier
    from airflow_cloudplan.optimize.scoring import build_problem, evaluate_assignment

    started = time.perf_counter()
    weights = weights or inp.policy.weights
    say("candidates", f"{len(inp.pipeline.stages)} stages")
    candidates = enumerate_options(inp, include_shared=with_baselines)
    scoped = {k: [o for o in v if o.isolation is Isolation.SCOPED] for k, v in candidates.items()}
    screened = screen_options(inp, scoped, base_dir=base_dir, progress=phase)
    if screened.empty_stages:
        raise _empty_stage_error(screened.report, screened.empty_stages)
    say("pruning", f"{screened.report.total_after} admitted options")
    problem = build_problem(inp, screened.admitted)
    pruned, pruning = prune_dominated(problem)
    say("frontier", f"{pruned.n_options} options after exact dominance pruning")
    model = PlanningModel(pruned)
    frontier = pareto_frontier(pruned, solver=solver, time_limit_s=time_limit_s,
                               total_time_s=total_time_s, max_points=max_points,
                               progress=progress, model=model)
    points = list(frontier.points)
    notes = list(frontier.notes)
    if not frontier.complete:
        points = _with_weighted_point(model, points, weights, solver=solver,
                                      time_limit_s=time_limit_s, notes=notes)
    say("evaluation", f"{len(points)} frontier points")
    evaluated = []
    for fp in points:
        assignment = {k: pruned.options[k][o].option for k, o in fp.choice.items()}
        ev = evaluate_assignment(inp, assignment, proven_optimal=fp.proven,
                                 solver_status=fp.status)
        _cross_check(fp, ev)
        evaluated.append(ev)
    chosen = recommend([fp.point for fp in points], weights.normalised())
    if with_baselines:
        say("baselines", "compute-centric, locality-only, rules-based")
    baselines = run_baselines(inp, candidates, base_dir=base_dir) if with_baselines else []
    notes.insert(0, f"frontier: {len(points)} points, "
                 + ("complete (every non-dominated plan)" if frontier.complete else
                    "INCOMPLETE (each point is non-dominated; more may exist)"))
    notes.append(f"dominance pruning: {pruning.before} -> {pruning.after} options (exact)")
    report = screened.report.model_copy(update={"artifacts": {
        **screened.report.artifacts, "dominance_pruning": _pruning_artifact(pruning)}})
    return PlanResult(
        pipeline=inp.pipeline.name, spec_sha256=spec_sha256,
        catalog_version=inp.catalog.version, created_at=datetime.now(UTC), weights=weights,
        frontier=tuple(evaluated), recommended=chosen, baselines=tuple(baselines),
        gate_report=report, solver=_stats(solver, started, frontier, problem=problem,
                                          pruned=pruned, time_limit_s=time_limit_s),
        profiles_used=tuple(f"{p.dag_id}.{p.task_id}" for p in
                            (inp.profiles.profiles if inp.profiles else ())),
        notes=tuple(notes),
    )


def _with_weighted_point(model: object, points: list[FrontierPoint],
                         weights: ObjectiveWeights, *, solver: SolverName, time_limit_s: float,
                         notes: list[str]) -> list[FrontierPoint]:
    """On an incomplete frontier, add the weighted optimum so the recommendation is exact."""
    from airflow_cloudplan.optimize.milp import PlanningModel

    if not isinstance(model, PlanningModel) or len(points) < 2:
        return points
    ideal, nadir = ideal_nadir([p.point for p in points])
    try:
        fp = weighted_point(model, weights.normalised(), ideal, nadir, solver=solver,
                            time_limit_s=time_limit_s)
    except SolverError as exc:
        # The frontier points prove the problem feasible: a weighted solve without an
        # answer ran out of time (CBC may then report "infeasible"). Say so, and let the
        # recommendation come from the proven frontier points.
        notes.append("the exact weighted optimum was not found within the time limit "
                     f"({exc.problems[0].message if exc.problems else exc.summary}); "
                     "the recommendation is the best of the frontier points found")
        return points
    if not any(fp.point.same_as(p.point, 1e-6) for p in points):
        notes.append("added the weighted optimum to the incomplete frontier")
        return sorted([*points, fp], key=lambda p: p.point.as_tuple())
    return points


def _stats(solver: str, started: float, frontier: Frontier, *, problem: PlanningProblem,
           pruned: PlanningProblem, time_limit_s: float) -> SolverStats:
    return SolverStats(
        solver=solver, wall_time_s=time.perf_counter() - started,
        variables=frontier.n_variables, constraints=frontier.n_constraints,
        options_total=problem.n_options, options_after_dominance=pruned.n_options,
        solves=frontier.solves, all_proven_optimal=frontier.complete and frontier.all_proven,
        time_limit_s=time_limit_s)
