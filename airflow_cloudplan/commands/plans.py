"""``cloudplan plans list|show|diff|put``: browse the plan store, or store a composed plan.

``put`` stores a plan and its RunOps artifacts exactly as the planning DAG does: the
version is the sha256 of the plan's canonical JSON, the artifacts are stored under it,
and a ``stored`` event is added to the pipeline's history. The plan must have been
composed first (``cloudplan compose``), so that it carries the Airflow settings apply
needs and its artifacts were made for this very version. ``--store`` may be given before
or after the verb.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from airflow_cloudplan.commands._store import (
    add_store_argument,
    store_from_args,
    store_location,
)
from airflow_cloudplan.errors import PlanStoreError, Problem


def register(sub: Any) -> None:
    """Wire the subcommand."""
    p = sub.add_parser("plans", help="list, show, diff and store plan versions",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    add_store_argument(p)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    lst = verbs.add_parser("list", help="stored versions, newest first (* = active)")
    lst.add_argument("--pipeline", help="only the versions of this pipeline")
    lst.add_argument("--json", action="store_true", help="print the versions as JSON")
    show = verbs.add_parser("show", help="one version's plan as JSON")
    show.add_argument("version", metavar="VERSION",
                      help="a version id or a unique prefix of at least 6 hex digits")
    diff = verbs.add_parser("diff", help="what changes from version A to version B")
    diff.add_argument("a", metavar="A", help="the older version (id or unique prefix)")
    diff.add_argument("b", metavar="B", help="the newer version (id or unique prefix)")
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")
    put = verbs.add_parser("put", help="store a composed plan and its artifacts "
                                       "(content-addressed, as the planning DAG does)")
    put.add_argument("plan", metavar="PLAN", help="plan.json, after 'cloudplan compose'")
    put.add_argument("--artifacts", metavar="DIR", default=None,
                     help="the RunOps artifacts composed for PLAN (default: 'artifacts' "
                          "next to PLAN)")
    for verb in (lst, show, diff, put):
        add_store_argument(verb, suppress_default=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch the verb."""
    if args.verb == "put":
        return _put(args)
    store = store_from_args(args)
    if args.verb == "list":
        return _list(store, args)
    if args.verb == "show":
        print(store.get(args.version).model_dump_json(indent=2))
        return 0
    from airflow_cloudplan.store.diff import diff_plans

    a, b = store.resolve(args.a), store.resolve(args.b)
    d = diff_plans(store.get(a), store.get(b), old_version=a, new_version=b)
    print(d.model_dump_json(indent=2) if args.json else d.render_text())
    return 0


def _list(store: Any, args: argparse.Namespace) -> int:
    from airflow_cloudplan.report.units import fmt_cost, fmt_latency, fmt_risk

    infos = store.versions(args.pipeline)
    if args.json:
        print(json.dumps([i.model_dump(mode="json") for i in infos], indent=2))
        return 0
    active = {p: (ptr.version if (ptr := store.active(p)) else None)
              for p in store.pipelines()}
    print(f"{'version':<14}{'pipeline':<26}{'created (UTC)':<22}{'cost / month':>13}"
          f"{'latency':>11}{'risk':>9}{'points':>8}")
    for i in infos:
        mark = "*" if active.get(i.pipeline) == i.version else " "
        print(f"{mark}{i.version[:12]:<13}{i.pipeline:<26}"
              f"{i.created_at:%Y-%m-%d %H:%M:%S}   {fmt_cost(i.cost_usd_month):>13}"
              f"{fmt_latency(i.latency_ms):>11}{fmt_risk(i.risk):>9}{i.frontier_points:>8}")
    if not infos:
        print(f"(no versions in {store.backend.uri}; store one with `cloudplan plans put "
              "PLAN` or run the planning DAG)")
        return 0
    print("(* = active)")
    newest = infos[0]
    if active.get(newest.pipeline) != newest.version:
        print(f"next: cloudplan apply {newest.version[:12]}   (the newest version, not active)")
    return 0


def _put(args: argparse.Namespace) -> int:
    from airflow_cloudplan.commands.compose import load_plan
    from airflow_cloudplan.runops.manifest import MANIFEST_NAME, Manifest, verify_manifest
    from airflow_cloudplan.store import plan_version

    plan_path = Path(args.plan)
    plan = load_plan(plan_path)
    artifacts = Path(args.artifacts) if args.artifacts else plan_path.parent / "artifacts"
    compose_hint = (f"run `cloudplan compose {plan_path} --spec SPEC` (or `cloudplan plan "
                    "SPEC --out DIR --compose`), then store again")
    if plan.airflow is None:
        raise PlanStoreError("the plan has no Airflow settings, so it cannot be applied", [
            Problem("plan.airflow is empty (the plan was not composed)", file=str(plan_path),
                    hint=compose_hint)])
    version = plan_version(plan)
    problems = verify_manifest(artifacts)
    if not problems:
        manifest = Manifest.model_validate_json((artifacts / MANIFEST_NAME).read_bytes())
        if manifest.plan_version != version:
            problems.append(Problem(
                f"the artifacts were composed for version {manifest.plan_version[:12]}, "
                f"the plan is version {version[:12]}", file=str(artifacts / MANIFEST_NAME),
                hint=compose_hint))
    if problems:
        raise PlanStoreError(f"cannot store {plan_path}: its artifacts do not belong to it",
                             problems)
    location, _origin = store_location(args)
    created = not location.startswith("s3://") and not Path(location).is_dir()
    store = store_from_args(args, create=True)
    known = store.backend.read(f"versions/{version}/plan.json") is not None
    stored = store.put(plan, artifacts)
    pointer = store.active(plan.pipeline)
    what = "already stored" if known else "stored"
    print(f"{what} {plan.pipeline} version {stored} in {store.backend.uri}"
          + (" (new plan store)" if created else ""))
    files = f"  {len(store.artifacts(stored))} artifact files (manifest included)"
    print(f"{files}; what applying it changes: cloudplan plans diff {pointer.version[:12]} "
          f"{stored[:12]}" if pointer else f"{files}; no plan is active for {plan.pipeline} yet")
    print(f"next: cloudplan apply {stored[:12]}")
    return 0
