"""``cloudplan compose DIR/plan.json --spec SPEC [--out DIR/artifacts]``: RunOps artifacts.

Puts the Airflow settings apply needs (pools, queues, executors, pod overrides) into the
plan and rewrites PLAN, then generates, validates and writes the operational artifacts of
the plan's recommendation for that final version (OpenTelemetry configs, SLO rules with
promtool tests, OpenSLO, audit hooks, IAM, Airflow settings, runbooks) and a manifest
hashing each — exactly what the planning DAG stores. Exit 0 with a summary and the next
command (``cloudplan plans put PLAN``); exit 2 with every problem of every artifact
otherwise (nothing is written then).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import ComposeError, Problem


def register(subparsers: Any) -> None:
    """Add the ``compose`` subcommand."""
    parser = subparsers.add_parser(
        "compose",
        help="generate the RunOps artifacts of a plan (OTel, SLO rules, audit, IAM, runbooks)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("plan", metavar="PLAN", help="plan.json written by 'cloudplan plan'")
    parser.add_argument("--spec", required=True, metavar="SPEC",
                        help="the pipeline spec the plan was made from")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output directory (default: 'artifacts' next to PLAN)")
    parser.add_argument("--plan-version", default=None, metavar="LABEL",
                        help="label the artifacts with LABEL instead of the plan's version "
                             "and leave PLAN unchanged (such a bundle cannot be stored with "
                             "'cloudplan plans put')")
    parser.add_argument("--catalog", metavar="FILE", default=None,
                        help="catalog file; default: the bundled snapshot")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(run=run)


def load_plan(path: Path) -> Any:
    """Read a plan.json; a located error when it is missing or not a plan."""
    from pydantic import ValidationError

    from airflow_cloudplan.model import PlanResult

    if not path.is_file():
        raise ComposeError("cannot read the plan", [Problem(
            message="no such file", file=str(path),
            hint="pass the plan.json written by 'cloudplan plan'")])
    try:
        return PlanResult.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problems = [
            Problem(message=e["msg"], file=str(path),
                    path=".".join(str(p) for p in e["loc"]) or None,
                    hint="regenerate the plan with 'cloudplan plan'")
            for e in exc.errors()[:20]
        ]
        raise ComposeError("the plan file is not a valid plan", problems) from None


def run(args: argparse.Namespace) -> int:
    """Compose and print a summary (or the manifest as JSON)."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.commands.plan import write_plan
    from airflow_cloudplan.runops import compose
    from airflow_cloudplan.runops.manifest import MANIFEST_NAME, Manifest
    from airflow_cloudplan.spec import load_spec

    plan_path = Path(args.plan)
    plan = load_plan(plan_path)
    catalog = load_catalog(path=args.catalog)
    inp = load_spec(args.spec, catalog).planning_input(catalog)
    out = Path(args.out) if args.out else plan_path.parent / "artifacts"
    if args.plan_version:
        manifest = compose(plan, inp, out, plan_version=args.plan_version)
        updated = False
    else:
        from airflow_cloudplan.replan import compose_for_store

        final = compose_for_store(plan, inp, out)
        updated = final != plan
        if updated:
            write_plan(plan_path, final)
        manifest = Manifest.model_validate_json((out / MANIFEST_NAME).read_bytes())
    if args.json:
        print(json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True))
        return 0
    cov = manifest.observability_coverage
    if updated:
        print(f"updated {plan_path}: it now carries the Airflow settings apply needs "
              "(pools, queues, executors, pod overrides)")
    print(f"{len(manifest.artifacts)} artifacts for {manifest.pipeline} plan "
          f"{manifest.plan_version[:12]} in {out}")
    print(f"evidence completeness {manifest.evidence_completeness.ratio:.0%}; observability "
          f"coverage {cov.ratio:.0%} (threshold {cov.threshold:.0%})")
    if args.plan_version:
        print("note: artifacts labelled with --plan-version cannot be stored; compose "
              "without it to store the plan")
    else:
        artifacts = "" if out == plan_path.parent / "artifacts" else f" --artifacts {out}"
        print(f"next: cloudplan plans put {plan_path}{artifacts}")
    return 0
