"""``cloudplan demo``: the end-to-end demo on an embedded Airflow (see airflow_cloudplan.demo)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Wire the subcommand."""
    p = sub.add_parser("demo", help="run the end-to-end demo on a local Airflow (SQLite)")
    p.add_argument("--home", type=Path, default=Path(".demo"),
                   help="demo directory (recreated each run; default .demo)")
    p.add_argument("--runs", type=int, default=3, help="pipeline runs before planning")
    p.add_argument("--auto-approve", action="store_true",
                   help="approve the review step automatically (unattended runs)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where everything is."""
    from airflow_cloudplan.demo import run_demo

    result = run_demo(args.home, runs=args.runs, auto_approve=args.auto_approve,
                      say=lambda m: print(f"[demo] {m}", flush=True))
    print("\n=== cloudplan demo: done ===")
    print(f"active plan version : {result['active_version']}")
    print(f"plan (frontier)     : {result['plan_json']}")
    print(f"RunOps artifacts    : {result['artifacts']}")
    print(f"pools created       : {', '.join(result['pools'])}")
    print("tasks of the next example_ml_pipeline run:")
    for task, p in result["placements"].items():
        telemetry = (p.get("telemetry_plan") or "none")[:12]
        print(f"  {task:<16} pool={p['pool']:<40} queue={p['queue']:<26}"
              f" otel plan={telemetry}")
    return 0
