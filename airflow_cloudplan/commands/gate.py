"""``cloudplan gate SPEC [--json]``: what the feasibility gates do to the candidate options.

Enumerates every candidate option of every stage, runs the governance, observability, SLO
and user-rule (Rego) gates, and prints per stage: options before and after each gate,
counts by rule id, and for a stage left with no option the smallest policy change that
would admit one. ``--json`` prints the gate report (``GateReport``, including the residency
guard-rail SCP as an artifact). Progress goes to stderr stage by stage. Exit 0 when every
stage keeps an option, 1 when some stage has none (the pipeline cannot be planned under
this policy), 2 on a bad spec or policy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``gate`` subcommand."""
    parser = subparsers.add_parser(
        "gate",
        help="show options per stage before/after each gate, with reasons",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("spec", metavar="SPEC", help="pipeline spec YAML file")
    parser.add_argument("--json", action="store_true", help="print the gate report as JSON")
    parser.add_argument(
        "--catalog", metavar="FILE", default=None,
        help="catalog file (from 'cloudplan catalog refresh'); default: the bundled snapshot",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run)


def _render(report: Any) -> str:
    gates: list[str] = []
    for s in report.stages:
        gates.extend(g for g in s.options_after if g not in gates)
    width = max([len(s.stage) for s in report.stages] + [5])
    header = f"{'stage':<{width}}  {'before':>7}  " + "  ".join(f"{g:>13}" for g in gates)
    lines = [header]
    for s in report.stages:
        counts = "  ".join(f"{s.options_after.get(g, 0):>13}" for g in gates)
        lines.append(f"{s.stage:<{width}}  {s.options_before:>7}  {counts}")
    lines.append(f"total: {report.total_before} candidate options, {report.total_after} admitted")
    for s in report.stages:
        if s.reasons:
            reasons = ", ".join(f"{rid} ×{n}" for rid, n in
                                sorted(s.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"  {s.stage}: {reasons}")
        if s.smallest_relaxation:
            lines.append(f"  {s.stage}: NO FEASIBLE OPTION. Smallest change: "
                         f"{s.smallest_relaxation}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load the spec and catalog, enumerate and gate the options, print the report."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.commands._progress import Progress
    from airflow_cloudplan.gates import screen_options
    from airflow_cloudplan.optimize.candidates import enumerate_options
    from airflow_cloudplan.spec import load_spec
    from airflow_cloudplan.spec.loader import declared_provider

    progress = Progress(quiet=args.quiet)
    try:
        progress.phase("loading", f"{args.spec} and the catalog")
        catalog = load_catalog(declared_provider(args.spec), path=args.catalog)
        spec = load_spec(args.spec, catalog)
        inp = spec.planning_input(catalog)
        progress.phase("candidates", f"{len(inp.pipeline.stages)} stages")
        options = enumerate_options(inp)
        outcome = screen_options(inp, options, base_dir=Path(args.spec).parent,
                                 progress=progress.phase)
    finally:
        progress.done()
    if args.json:
        print(json.dumps(outcome.report.model_dump(mode="json"), indent=2))
    else:
        print(_render(outcome.report))
    return 1 if outcome.empty_stages else 0
