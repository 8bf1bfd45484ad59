"""``cloudplan demo``: the end-to-end demo on an embedded Airflow (see airflow_cloudplan.demo).

Starts a real Airflow (api-server, scheduler, DAG processor, triggerer; SQLite,
LocalExecutor) in the demo home, runs the example ML pipeline, the nightly planning DAG
and its review, applies the plan and shows the next run using the planned pools and
queues. Waits follow progress: the demo gives up only when nothing has advanced for
--timeout seconds, and then shows the end of the relevant log. With --keep-running
Airflow stays up afterwards and the demo ends with the addresses to open and the command
that stops it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Wire the subcommand."""
    from airflow_cloudplan.demo import STALL_S

    p = sub.add_parser("demo", help="run the end-to-end demo on a local Airflow (SQLite)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("--home", type=Path, default=Path(".demo"),
                   help="demo directory (recreated each run; default .demo)")
    p.add_argument("--runs", type=int, default=3, metavar="N",
                   help="pipeline runs before planning (default 3)")
    p.add_argument("--auto-approve", action="store_true",
                   help="approve the review step automatically (unattended runs)")
    p.add_argument("--timeout", type=float, default=STALL_S, metavar="S",
                   help="give up when nothing has advanced for S seconds (default "
                        f"{STALL_S:.0f}); a slow but moving run never times out")
    p.add_argument("--keep-running", action="store_true",
                   help="leave Airflow running at the end and print the addresses of the "
                        "UI, the review step and the plan page")
    p.add_argument("--stop", action="store_true",
                   help="stop the Airflow a --keep-running demo left in --home, and exit")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where everything is."""
    from airflow_cloudplan.commands._progress import Progress
    from airflow_cloudplan.demo import run_demo, stop_demo

    if args.stop:
        stopped = stop_demo(args.home, say=lambda m: print(f"[demo] {m}", flush=True))
        print(f"[demo] {stopped} Airflow processes stopped" if stopped else
              f"[demo] no running demo in {args.home.resolve()}")
        return 0
    progress = Progress(quiet=args.quiet, log_every_s=30.0)

    def say(message: str) -> None:
        progress.done()
        print(f"[demo] {message}", flush=True)

    try:
        result = run_demo(args.home, runs=args.runs, auto_approve=args.auto_approve,
                          stall_s=args.timeout, keep_running=args.keep_running, say=say,
                          status=progress.update)
    finally:
        progress.done()
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
    home = Path(result["home"])
    if not result["running"]:
        print("Airflow was stopped; run with --keep-running to browse the UI, the review "
              "step and the plan page afterwards.")
        return 0
    print(f"Airflow is still running (--keep-running); log in as cloudplan with the "
          f"password in {home / 'passwords.json'}:")
    print(f"  Airflow UI   : {result['ui']}")
    print(f"  review step  : {result['review_url']}")
    print(f"  plan page    : {result['plan_url']}")
    print(f"  stop Airflow : cloudplan demo --stop --home {home}")
    return 0
