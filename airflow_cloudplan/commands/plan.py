"""``cloudplan plan SPEC --out DIR [options]``: the exact cost/latency/risk frontier.

Options: ``--profiles FILE``, ``--weights c=1,l=1,r=1``, ``--solver cbc|highs``,
``--time-limit S`` (per solve), ``--total-time S``, ``--max-points N``, ``--catalog FILE``.

Writes ``DIR/plan.json`` (the :class:`PlanResult`: frontier, recommendation, per-stage
breakdowns, gate and pruning report, baselines, solver facts) and prints a summary table:
every frontier point with (C, L, R), the recommendation, each baseline with the rules it
breaks, and what the gates and the exact dominance pruning removed. Progress of a long
solve goes to stderr. Exit 0 on success, 2 on bad input or an infeasible problem (with
the explanation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError


def register(subparsers: Any) -> None:
    """Add the ``plan`` subcommand."""
    parser = subparsers.add_parser(
        "plan", help="compute the exact cost/latency/risk Pareto frontier of a pipeline",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None)
    parser.add_argument("spec", metavar="SPEC", help="pipeline spec YAML file")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder for plan.json")
    parser.add_argument("--profiles", metavar="FILE", help="measured profiles (JSON ProfileSet)")
    parser.add_argument("--weights", metavar="c=..,l=..,r=..",
                        help="objective weights (default: the policy's)")
    parser.add_argument("--solver", choices=("cbc", "highs"), default="cbc")
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                        help="time limit of each MILP solve in seconds (default 60)")
    parser.add_argument("--total-time", type=float, default=300.0, metavar="S",
                        help="time budget of the frontier search (default 300)")
    parser.add_argument("--max-points", type=int, default=40, metavar="N",
                        help="stop the frontier after N points (default 40; flagged)")
    parser.add_argument("--catalog", metavar="FILE", default=None,
                        help="catalog file; default: the bundled snapshot")
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


def _fmt_ms(ms: float) -> str:
    if ms < 60_000:
        return f"{ms:,.0f} ms"
    if ms < 3_600_000:
        return f"{ms / 60_000:,.1f} min"
    return f"{ms / 3_600_000:,.2f} h"


def render_summary(result: Any) -> str:
    """The human-readable summary of a :class:`PlanResult`."""
    lines = [f"pipeline {result.pipeline} — catalog {result.catalog_version}",
             f"{'#':>3} {'USD/month':>12} {'latency':>11} {'risk':>9}  proven"]
    for i, p in enumerate(result.frontier):
        o = p.objectives
        mark = " <- recommended" if i == result.recommended else ""
        lines.append(f"{i:>3} {o.cost_usd_month:>12,.2f} {_fmt_ms(o.latency_ms):>11} "
                     f"{o.risk:>9,.1f}  {'yes' if p.proven_optimal else 'NOT PROVEN'}{mark}")
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
        lines.append(f"  {b.name:<24} {o.cost_usd_month:>12,.2f} {_fmt_ms(o.latency_ms):>11} "
                     f"{o.risk:>9,.1f}  {verdict} — {b.description}")
        counted: dict[str, list[str]] = {}
        for v in b.plan.violations:
            counted.setdefault(f"{v.gate}:{v.rule_id}", []).append(v.stage or "plan")
        for rule, stages in sorted(counted.items()):
            example = next(v.message for v in b.plan.violations
                           if f"{v.gate}:{v.rule_id}" == rule)
            lines.append(f"      {rule} [{', '.join(sorted(set(stages)))}]: {example}")
    g = result.gate_report
    pruning = g.artifacts.get("dominance_pruning", {})
    lines.append(f"gates: {g.total_before} -> {g.total_after} options; dominance pruning: "
                 f"{pruning.get('before', '?')} -> {pruning.get('after', '?')} (exact)")
    s = result.solver
    lines.append(f"solver {s.solver}: {s.solves} solves, {s.variables} variables, "
                 f"{s.constraints} constraints, {s.wall_time_s:.1f} s; "
                 + ("all proven optimal" if s.all_proven_optimal else "NOT all proven / "
                    "frontier incomplete (see notes)"))
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)


class _Progress:
    """A one-line progress display on stderr, rewritten in place after every solve."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr

    def __call__(self, p: Any) -> None:
        self.stream.write(f"\rsolving: {p.points} points, {p.open_boxes} open boxes, "
                          f"{p.solves} solves, {p.elapsed_s:,.1f} s ")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    """Load spec, catalog and profiles; plan; write plan.json; print the summary."""
    from airflow_cloudplan.commands._inputs import load_inputs
    from airflow_cloudplan.optimize.planner import plan

    weights = parse_weights(args.weights) if args.weights else None
    spec_sha256, inp = load_inputs(args.spec, catalog_path=args.catalog,
                                   profiles_path=args.profiles)
    progress = _Progress()
    try:
        result = plan(inp, weights=weights, solver=args.solver, time_limit_s=args.time_limit,
                      total_time_s=args.total_time, max_points=args.max_points,
                      progress=progress, spec_sha256=spec_sha256,
                      base_dir=Path(args.spec).parent)
    finally:
        progress.done()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    print(render_summary(result))
    print(f"wrote {out / 'plan.json'}")
    return 0
