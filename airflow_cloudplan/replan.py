"""Nightly re-planning of one pipeline: plan, compose, store, and decide whether to propose.

This is the pure core the planning DAG (``dags/cloudplan_replan.py``) and ``cloudplan
demo`` call; it imports no Airflow. A new plan is *proposed* for review only when it is
better than the active plan by more than the hysteresis threshold on the user's weighted
objectives (re-scored under today's inputs), or when the active plan no longer passes the
gates. That keeps plans from flapping between near-equal frontier points.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from airflow_cloudplan.errors import Problem, SolverError
from airflow_cloudplan.model.catalog import Catalog, Frozen
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import EvaluatedPlan, Objectives, PlanResult, Violation
from airflow_cloudplan.model.policy import ObjectiveWeights
from airflow_cloudplan.model.workload import ProfileSet
from airflow_cloudplan.report.units import fmt_cost, fmt_latency, fmt_risk
from airflow_cloudplan.store import PlanStore, plan_version
from airflow_cloudplan.store.diff import PlanDiff, diff_plans


class Proposal(Frozen):
    """The outcome of re-planning one pipeline."""

    pipeline: str
    spec_path: str
    version: str
    active_version: str | None
    proposed: bool
    reason: str
    improvement: float | None
    diff: PlanDiff
    summary_md: str


def weighted_improvement(new: Objectives, old: Objectives, weights: ObjectiveWeights) -> float:
    """Σ_i w_i (old_i − new_i) / old_i with normalised weights (> 0 means better)."""
    w = dict(zip(("c", "l", "r"), weights.normalised(), strict=True))
    pairs = {"c": (new.cost_usd_month, old.cost_usd_month),
             "l": (new.latency_ms, old.latency_ms), "r": (new.risk, old.risk)}
    total = 0.0
    for k, (n, o) in pairs.items():
        if o > 0:
            total += w[k] * (o - n) / o
        elif n > 0:
            total -= w[k]
    return total


def decide(new: EvaluatedPlan, active_now: EvaluatedPlan | None,
           active_violations: list[Violation], weights: ObjectiveWeights,
           hysteresis: float) -> tuple[bool, str, float | None]:
    """Whether to propose ``new`` over the active plan, why, and the improvement."""
    if active_now is None:
        return True, "no plan is active for this pipeline yet", None
    if active_violations:
        rules = ", ".join(sorted({v.rule_id for v in active_violations}))
        return True, f"the active plan no longer passes the gates ({rules})", None
    gain = weighted_improvement(new.objectives, active_now.objectives, weights)
    if gain > hysteresis:
        return True, f"weighted improvement {gain:.1%} > hysteresis {hysteresis:.1%}", gain
    return False, f"weighted improvement {gain:.1%} ≤ hysteresis {hysteresis:.1%}", gain


def summary_markdown(plan: PlanResult, version: str, diff: PlanDiff,
                     active_now: EvaluatedPlan | None, reason: str) -> str:
    """The review text shown in the approval step (and in the UI)."""
    rec = plan.recommendation
    rows = [("recommended", rec.objectives, len(rec.violations))]
    if active_now is not None:
        rows.append(("active (re-scored today)", active_now.objectives,
                     len(active_now.violations)))
    rows += [(f"baseline: {b.name}", b.plan.objectives, len(b.plan.violations))
             for b in plan.baselines]
    lines = [
        f"### Plan {version[:12]} for `{plan.pipeline}`",
        "",
        f"**Why proposed:** {reason}.",
        "",
        "| plan | cost / month | latency | risk | gate violations |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {name} | {fmt_cost(o.cost_usd_month)} | {fmt_latency(o.latency_ms)} | "
              f"{fmt_risk(o.risk)} | {n} |" for name, o, n in rows]
    report = plan.gate_report
    lines += ["", f"**Gates:** {report.total_before} candidate options, {report.total_after} "
              f"admitted; frontier of {len(plan.frontier)} points "
              f"({'all proven optimal' if plan.solver.all_proven_optimal else 'NOT all proven'})."]
    for b in plan.baselines:
        if b.plan.violations:
            first = "; ".join(v.message for v in b.plan.violations[:3])
            lines.append(f"- {b.name}: {len(b.plan.violations)} violation(s): {first}")
    lines += ["", "**Changes:**", "", "```", diff.render_text(), "```"]
    return "\n".join(lines)


def compose_for_store(result: PlanResult, inp: PlanningInput, out_dir: Path) -> PlanResult:
    """The plan as it is stored, with its RunOps artifacts composed into ``out_dir``.

    The Airflow settings (pools, queues, executors, pod overrides) live inside the plan,
    so its hash — the version — covers them; the artifacts are then composed for that
    final version. The planning DAG and ``cloudplan compose`` both go through here.
    """
    from airflow_cloudplan.errors import ComposeError
    from airflow_cloudplan.runops import airflow_settings, compose
    from airflow_cloudplan.runops.compose import check_plan_matches

    problems = check_plan_matches(result, inp)
    if problems:
        raise ComposeError("the plan does not match the spec and catalog", problems)
    result = result.model_copy(update={"airflow": airflow_settings(result, inp)})
    compose(result, inp, out_dir, plan_version=plan_version(result))
    return result


def replan(spec_path: str | Path, store: PlanStore, *, catalog: Catalog | None = None,
           profiles: ProfileSet | None = None, weights: ObjectiveWeights | None = None,
           hysteresis: float = 0.02, solver: str = "cbc",
           time_limit_s: float = 120.0, frontier_time_s: float = 300.0,
           max_points: int = 40) -> Proposal:
    """Plan one pipeline spec, compose its artifacts, store the version, and decide."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.gates import check_plan
    from airflow_cloudplan.optimize.milp import SolverName
    from airflow_cloudplan.optimize.planner import plan as make_plan
    from airflow_cloudplan.optimize.scoring import evaluate_assignment
    from airflow_cloudplan.spec import load_spec

    catalog = catalog or load_catalog()
    spec = load_spec(spec_path, catalog)
    inp: PlanningInput = spec.planning_input(catalog, profiles)
    weights = weights or spec.policy.weights
    if solver not in ("cbc", "highs"):
        raise SolverError(f"unknown solver '{solver}'",
                          [Problem("[cloudplan] solver", hint="use cbc or highs")])
    solver_name: SolverName = "highs" if solver == "highs" else "cbc"
    result = make_plan(inp, weights=weights, solver=solver_name, time_limit_s=time_limit_s,
                       total_time_s=frontier_time_s, max_points=max_points,
                       spec_sha256=spec.sha256, base_dir=Path(spec.path).parent)
    with tempfile.TemporaryDirectory(prefix="cloudplan-artifacts-") as tmp:
        result = compose_for_store(result, inp, Path(tmp))
        version = store.put(result, Path(tmp))

    pointer = store.active(result.pipeline)
    active_plan = store.get(pointer.version) if pointer else None
    active_now: EvaluatedPlan | None = None
    violations: list[Violation] = []
    if active_plan is not None:
        assignment = active_plan.recommendation.assignment
        if set(assignment) == set(inp.pipeline.stage_by_name):
            violations = check_plan(inp, assignment)
            active_now = evaluate_assignment(inp, assignment).model_copy(
                update={"violations": tuple(violations)})
        else:
            violations = [Violation(gate="spec", rule_id="spec.stages_changed",
                                    message="the pipeline's stages changed since the "
                                            "active plan was made")]
    gain: float | None
    if pointer is not None and pointer.version == version:
        proposed, reason, gain = False, "the new plan is identical to the active plan", 0.0
    else:
        proposed, reason, gain = decide(result.recommendation, active_now, violations,
                                        weights, hysteresis)
    diff = diff_plans(active_plan, result,
                      old_version=pointer.version if pointer else None, new_version=version)
    return Proposal(
        pipeline=result.pipeline, spec_path=str(spec_path), version=version,
        active_version=pointer.version if pointer else None, proposed=proposed,
        reason=reason, improvement=gain, diff=diff,
        summary_md=summary_markdown(result, version, diff, active_now, reason),
    )


def find_specs(location: str | Path) -> list[Path]:
    """Spec files named by a path: a file, or every ``*.yaml``/``*.yml`` in a directory."""
    p = Path(location)
    if p.is_file():
        return [p]
    return sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else []
