"""``cloudplan plan SPEC --out DIR [options]``: the exact cost/latency/risk frontier.

Writes ``DIR/plan.json`` (the plan: frontier, recommendation, per-stage breakdowns, gate
and pruning report, baselines, solver facts) and prints a summary: every frontier point
with cost, latency and risk, the recommendation, each baseline with the rules it breaks,
what the gates and the exact dominance pruning removed, whether the frontier is complete,
and where the time went. Progress goes to stderr from the first phase on. With
``--compose`` the RunOps artifacts are composed too (as ``cloudplan compose`` does), ready
for ``cloudplan plans put``. Exit 0 on success, 2 on bad input or an infeasible problem
(with the explanation).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError


def register(subparsers: Any) -> None:
    """Add the ``plan`` subcommand."""
    parser = subparsers.add_parser(
        "plan", help="compute the exact cost/latency/risk Pareto frontier of a pipeline",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    parser.add_argument("spec", metavar="SPEC", help="pipeline spec YAML file")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="folder for plan.json (and artifacts/ with --compose)")
    parser.add_argument("--compose", action="store_true",
                        help="also compose the RunOps artifacts into DIR/artifacts and put "
                             "the Airflow settings into plan.json (then: cloudplan plans put)")
    parser.add_argument("--profiles", metavar="FILE",
                        help="measured profiles (the JSON written by 'cloudplan profile')")
    parser.add_argument("--weights", metavar="c=..,l=..,r=..",
                        help="objective weights of the recommendation (default: the policy's)")
    parser.add_argument("--solver", choices=("cbc", "highs"), default="cbc",
                        help="MILP solver: cbc (bundled with PuLP) or highs (extra 'highs')")
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                        help="time limit of each MILP solve in seconds (default 60); a "
                             "solve that hits it is reported as not proven optimal")
    parser.add_argument("--total-time", type=float, default=300.0, metavar="S",
                        help="time budget of the frontier search in seconds (default 300)")
    parser.add_argument("--max-points", type=int, default=40, metavar="N",
                        help="stop the frontier search after N points (default 40); the "
                             "summary then says the frontier may have more")
    parser.add_argument("--catalog", metavar="FILE", default=None,
                        help="catalog file (from 'cloudplan catalog refresh'); default: the "
                             "bundled snapshot")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run)


def parse_weights(text: str) -> Any:
    """``c=1,l=0.5,r=2`` (any subset; full names cost/latency/risk work too)."""
    from pydantic import ValidationError

    from airflow_cloudplan.model.policy import ObjectiveWeights

    names = {"c": "cost", "cost": "cost", "l": "latency", "latency": "latency", "r": "risk",
             "risk": "risk"}
    values: dict[str, float] = {}
    hint = "write e.g. --weights c=1,l=0.5,r=2 (non-negative numbers, not all zero)"
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or key.strip().lower() not in names:
            raise SpecError("invalid --weights", [Problem(f"cannot read {part!r}",
                                                          path="--weights", hint=hint)])
        try:
            values[names[key.strip().lower()]] = float(raw)
        except ValueError:
            raise SpecError("invalid --weights", [Problem(
                f"{raw!r} is not a number", path="--weights", hint=hint)]) from None
    try:
        return ObjectiveWeights(**values)
    except ValidationError as exc:
        raise SpecError("invalid --weights", [Problem(
            exc.errors()[0]["msg"], path="--weights", hint=hint)]) from None


def frontier_status(result: Any, *, max_points: int | None = None,
                    total_time_s: float | None = None) -> list[str]:
    """What is known about the frontier: completeness and proof, worded apart.

    Complete means every non-dominated plan was found and each proven; a search stopped
    by ``--max-points`` or ``--total-time`` shows points that are each non-dominated, of a
    frontier that may have more; a point whose solve hit the time limit is *not proven*.
    """
    n = len(result.frontier)
    unproven = sum(1 for p in result.frontier if not p.proven_optimal)
    notes = " ".join(result.notes)
    if result.solver.all_proven_optimal and not unproven:
        return [f"frontier: {n} points, complete (every non-dominated plan, each proven "
                "optimal)"]
    stopped_points = re.search(r"max_points=(\d+)", notes)
    stopped_time = re.search(r"total_time_s=([\d.]+)", notes)
    if stopped_points or (max_points is not None and n >= max_points):
        limit = stopped_points.group(1) if stopped_points else str(max_points)
        head = f"frontier: {n} points shown of ≥ {n} (stopped at --max-points {limit})"
    elif stopped_time:
        limit = stopped_time.group(1)
        head = (f"frontier: {n} points shown of ≥ {n} (stopped at --total-time "
                f"{float(limit):g} s)")
    else:
        head = f"frontier: {n} points; the search did not finish (see the notes)"
    lines = [head]
    if unproven:
        lines.append(f"proof: {unproven} of {n} points NOT proven optimal (a solve hit "
                     "--time-limit); the others are proven non-dominated")
    else:
        lines.append(f"proof: each of the {n} points is proven non-dominated; raise "
                     "--max-points/--total-time to search for more")
    return lines


def timing_line(result: Any, timings: dict[str, float] | None) -> str:
    """Solver time next to total time (phase timings when the command measured them)."""
    from airflow_cloudplan.report.units import fmt_duration

    s = result.solver
    facts = (f"solver {s.solver}: {s.solves} MILP solves, {s.variables:,} variables, "
             f"{s.constraints:,} constraints")
    if not timings:
        return f"{facts}; planning took {fmt_duration(s.wall_time_s)} in total"
    total = sum(timings.values())
    parts = ", ".join(f"{name} {fmt_duration(t)}" for name, t in timings.items()
                      if name != "frontier")
    return (f"{facts}; frontier search {fmt_duration(timings.get('frontier', 0.0))} of "
            f"{fmt_duration(total)} total ({parts})")


def render_summary(result: Any, *, timings: dict[str, float] | None = None,
                   max_points: int | None = None) -> str:
    """The human-readable summary of a :class:`PlanResult`."""
    from airflow_cloudplan.report.units import fmt_cost, fmt_latency, fmt_risk, latency_unit

    points = [p.objectives for p in result.frontier]
    points += [b.plan.objectives for b in result.baselines]
    unit = latency_unit(max((o.latency_ms for o in points), default=0.0))
    lines = [f"pipeline {result.pipeline} — catalog {result.catalog_version}",
             f"{'#':>3} {'cost / month':>13} {'latency':>10} {'risk':>8}  proven"]
    for i, p in enumerate(result.frontier):
        o = p.objectives
        mark = " <- recommended" if i == result.recommended else ""
        lines.append(f"{i:>3} {fmt_cost(o.cost_usd_month):>13} "
                     f"{fmt_latency(o.latency_ms, unit):>10} {fmt_risk(o.risk):>8}  "
                     f"{'yes' if p.proven_optimal else 'NOT PROVEN'}{mark}")
    rec = result.recommendation
    w = result.weights
    lines.append(f"recommended #{result.recommended} (weights c={w.cost:g}, l={w.latency:g}, "
                 f"r={w.risk:g} over objectives normalised by the frontier's ideal/nadir):")
    lines.extend(f"    {s.stage:<18} {s.option.id}" for s in rec.stages)
    lines.append("baselines (same models, same gates):")
    for b in result.baselines:
        o = b.plan.objectives
        verdict = "feasible" if not b.plan.violations else (
            f"{len(b.plan.violations)} violation(s)")
        lines.append(f"  {b.name:<24} {fmt_cost(o.cost_usd_month):>13} "
                     f"{fmt_latency(o.latency_ms, unit):>10} {fmt_risk(o.risk):>8}  "
                     f"{verdict} — {b.description}")
        counted: dict[str, list[str]] = {}
        for v in b.plan.violations:
            counted.setdefault(f"{v.gate}:{v.rule_id}", []).append(v.stage or "plan")
        for rule, stages in sorted(counted.items()):
            example = next(v.message for v in b.plan.violations
                           if f"{v.gate}:{v.rule_id}" == rule)
            lines.append(f"      {rule} [{', '.join(sorted(set(stages)))}]: {example}")
    g = result.gate_report
    pruning = g.artifacts.get("dominance_pruning", {})
    def count(n: Any) -> str:
        return f"{n:,}" if isinstance(n, int) else "?"

    lines.append(f"gates: {g.total_before:,} -> {g.total_after:,} options; dominance pruning: "
                 f"{count(pruning.get('before'))} -> {count(pruning.get('after'))} (exact)")
    lines.extend(frontier_status(result, max_points=max_points))
    lines.append(timing_line(result, timings))
    lines.extend(f"note: {n}" for n in result.notes if not n.startswith("frontier: "))
    return "\n".join(lines)


def write_plan(path: Path, result: Any) -> None:
    """Write plan.json atomically (a reader never sees half a plan)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    """Load spec, catalog and profiles; plan; write plan.json; print the summary."""
    from airflow_cloudplan.commands._inputs import load_inputs
    from airflow_cloudplan.commands._progress import Progress
    from airflow_cloudplan.optimize.planner import plan

    weights = parse_weights(args.weights) if args.weights else None
    progress = Progress(quiet=args.quiet)
    progress.phase("loading", f"{args.spec} and the catalog")
    spec_sha256, inp = load_inputs(args.spec, catalog_path=args.catalog,
                                   profiles_path=args.profiles)

    def solving(p: Any) -> None:
        progress.update(f"frontier: {p.points} points, {p.open_boxes} open boxes, "
                        f"{p.solves} MILP solves")

    try:
        result = plan(inp, weights=weights, solver=args.solver, time_limit_s=args.time_limit,
                      total_time_s=args.total_time, max_points=args.max_points,
                      progress=solving, phase=progress.phase, spec_sha256=spec_sha256,
                      base_dir=Path(args.spec).parent)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        if args.compose:
            from airflow_cloudplan.replan import compose_for_store

            progress.phase("compose", f"RunOps artifacts into {out / 'artifacts'}")
            result = compose_for_store(result, inp, out / "artifacts")
        timings = progress.timings()
    finally:
        progress.done()
    write_plan(out / "plan.json", result)
    print(render_summary(result, timings=timings, max_points=args.max_points))
    print(f"wrote {out / 'plan.json'}" + (f" and {out / 'artifacts'}" if args.compose else ""))
    if args.compose:
        print(f"next: cloudplan plans put {out / 'plan.json'}")
    else:
        print(f"next: cloudplan compose {out / 'plan.json'} --spec {args.spec}")
    return 0
