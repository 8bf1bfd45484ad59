"""``cloudplan evaluate-protocol``: plans vs baselines in trace-driven simulation.

Two ways to run it:

* on the public traces (``--data``, default ``$CLOUDPLAN_SHARED_DATA`` or
  ``../shared/data``): the built-in scenarios — offline training, batch inference with a
  deadline, online inference on two traces; ``--out docs`` regenerates docs/evaluation.md;
* on your own pipeline: ``--spec SPEC --arrivals FILE`` (with ``--profiles``, and
  ``--plan plan.json`` or ``--store``/``--version`` to check a plan before approving it;
  without a plan the pipeline is planned first).

Each scenario is profiled (Workload Profiler), planned (frontier, recommendation, the
three baselines) and simulated under the same workload for every seed; the output is
``evaluation.md`` with Table-4 metrics, the planner's predicted-vs-simulated error and
SVG plots, plus ``evaluation.json``. Deterministic for given seeds. With ``--store`` the
evaluation is also kept next to the plan version in the plan store. Exit 0 on success,
2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError

KEYS = ("training", "batch_inference", "online_llm", "online_genai")


def register(subparsers: Any) -> None:
    """Add the ``evaluate-protocol`` subcommand."""
    p = subparsers.add_parser(
        "evaluate-protocol",
        help="simulate the recommended plan and the baselines on real or your own traces",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", default="evaluation",
                   help="folder for evaluation.md, evaluation.json and img/evaluation/*.svg "
                        "(default: ./evaluation; use docs to regenerate the project's docs)")
    p.add_argument("--seeds", metavar="LIST", default="0,1,2,3,4",
                   help="comma-separated seeds (default 0,1,2,3,4)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    g = p.add_argument_group("built-in scenarios on the public traces")
    g.add_argument("--data", metavar="DIR", default=None,
                   help="folder holding traces/ (default $CLOUDPLAN_SHARED_DATA or "
                        "../shared/data)")
    g.add_argument("--scenarios", metavar="LIST", default=",".join(KEYS),
                   help=f"comma-separated subset of {', '.join(KEYS)}")
    g.add_argument("--window-hours", type=float, default=None, metavar="H",
                   help="replay only the first H hours of every trace (a reduced run)")
    u = p.add_argument_group("your own pipeline")
    u.add_argument("--spec", metavar="SPEC", help="pipeline spec YAML")
    u.add_argument("--profiles", metavar="FILE", help="measured profiles (from cloudplan profile)")
    u.add_argument("--arrivals", metavar="FILE", help="CSV of request arrivals of the online stage")
    u.add_argument("--arrival-column", default="TIMESTAMP", metavar="COL",
                   help="timestamp column (ISO 8601 or epoch seconds; default TIMESTAMP)")
    u.add_argument("--service-column", default=None, metavar="COL",
                   help="optional column of per-request service seconds (reference device)")
    u.add_argument("--stage", metavar="NAME", help="the online stage the arrivals belong to")
    u.add_argument("--days", type=float, default=7.0,
                   help="window for batch-only pipelines (default 7 days)")
    u.add_argument("--plan", metavar="FILE", help="plan.json to check (default: plan first)")
    u.add_argument("--store", metavar="URI", default=None,
                   help="plan store (directory or s3://); with --version, evaluate that "
                        "stored version and keep the evaluation next to it")
    u.add_argument("--version", metavar="V", help="plan version in --store (prefix allowed)")
    u.add_argument("--catalog", metavar="FILE", default=None,
                   help="catalog file; default: the bundled snapshot")
    p.set_defaults(run=run)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0,1,2`` → (0, 1, 2); at least one non-negative integer."""
    try:
        seeds = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        seeds = ()
    if not seeds or any(s < 0 for s in seeds):
        raise SpecError("invalid --seeds", [Problem(f"cannot read {text!r}", path="--seeds",
                                                    hint="write e.g. --seeds 0,1,2,3,4")])
    return seeds


def data_dir(arg: str | None) -> Path:
    """The public data folder (argument, $CLOUDPLAN_SHARED_DATA, ../shared/data)."""
    from airflow_cloudplan.errors import ProfileError

    folder = Path(arg or os.environ.get("CLOUDPLAN_SHARED_DATA") or "../shared/data")
    if not (folder / "traces").is_dir():
        raise ProfileError("the public traces are not there", [Problem(
            f"{folder}/traces is not a directory", path="--data",
            hint="pass --data DIR naming the folder that holds traces/ "
                 "(or set CLOUDPLAN_SHARED_DATA)")])
    return folder


def _scenarios(text: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in keys if k not in KEYS]
    if unknown or not keys:
        raise SpecError("invalid --scenarios", [Problem(
            f"unknown scenario(s) {', '.join(unknown) or '(none given)'}", path="--scenarios",
            hint=f"choose among {', '.join(KEYS)}")])
    return keys


def _user(args: argparse.Namespace, seeds: tuple[int, ...], progress: Any,
          command: str) -> tuple[Any, Any, str | None]:
    """Run on the user's pipeline; returns (evaluation, store, version)."""
    from airflow_cloudplan.commands._inputs import load_inputs
    from airflow_cloudplan.model.plan import PlanResult
    from airflow_cloudplan.simulate.protocol import run_user

    sha, inp = load_inputs(args.spec, catalog_path=args.catalog, profiles_path=args.profiles)
    plan = None
    store = None
    if args.plan and args.version:
        raise SpecError("choose one plan", [Problem("--plan and --version both given",
                                                    hint="drop one of them")])
    if args.store and not args.version:
        raise SpecError("--store needs --version", [Problem(
            "a stored plan is named by its version", path="--version",
            hint="add --version V (see cloudplan plans list)")])
    if args.plan:
        try:
            plan = PlanResult.model_validate_json(Path(args.plan).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SpecError(f"{args.plan}: cannot read the plan", [Problem(
                str(exc).splitlines()[0], file=args.plan,
                hint="pass the plan.json written by cloudplan plan")]) from None
    if args.version:
        from airflow_cloudplan.airflow.settings import airflow_home
        from airflow_cloudplan.store import open_store

        store = open_store(args.store or os.environ.get("CLOUDPLAN_PLAN_STORE",
                                                        "cloudplan/plans"), base=airflow_home())
        plan = store.get(args.version)
    evaluation = run_user(inp, Path(args.spec), arrivals=Path(args.arrivals)
                          if args.arrivals else None, column=args.arrival_column,
                          service_column=args.service_column, stage=args.stage,
                          days=args.days, plan=plan, plan_path=args.plan or "store",
                          seeds=seeds, progress=progress, sha=sha, command=command)
    return evaluation, store, args.version


def run(args: argparse.Namespace) -> int:
    """Run the protocol and write its documents."""
    from airflow_cloudplan.simulate.protocol import render_outputs, run_builtin, write_outputs
    from airflow_cloudplan.simulate.protocol.run import stderr_progress

    started = time.perf_counter()
    seeds = parse_seeds(args.seeds)
    progress = (lambda _m: None) if args.quiet else stderr_progress
    command = "cloudplan " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if sys.argv and sys.argv[0].endswith("cloudplan") else "cloudplan evaluate-protocol"
    store = version = None
    if args.spec:
        evaluation, store, version = _user(args, seeds, progress, command)
    else:
        if args.arrivals or args.plan or args.version:
            raise SpecError("--arrivals/--plan/--version need --spec", [Problem(
                "your own traces are evaluated against your spec", path="--spec",
                hint="add --spec SPEC.yaml")])
        if args.window_hours is not None and args.window_hours <= 0:
            raise SpecError("invalid --window-hours", [Problem(
                f"{args.window_hours:g} is not a positive number of hours",
                path="--window-hours", hint="e.g. --window-hours 6, or leave it out")])
        window = args.window_hours * 3600.0 if args.window_hours else None
        evaluation = run_builtin(data_dir(args.data), only=_scenarios(args.scenarios),
                                 seeds=seeds, window_s=window, progress=progress,
                                 command=command)
    out = Path(args.out)
    written = write_outputs(evaluation, out, command=command)
    print(f"wrote {out / 'evaluation.md'} and {len(written) - 1} more file(s)")
    if store is not None and version is not None:
        from airflow_cloudplan.simulate.protocol.publish import store_evaluation

        prefix = store_evaluation(store, version, render_outputs(evaluation, command=command))
        print(f"stored the evaluation with plan version {version} at {prefix}")
    print(f"wall time {time.perf_counter() - started:.1f} s")
    return 0
