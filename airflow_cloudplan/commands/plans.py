"""``cloudplan plans list|show|diff``: browse the plan store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from airflow_cloudplan.commands._store import add_store_argument, store_from_args


def register(sub: Any) -> None:
    """Wire the subcommand."""
    p = sub.add_parser("plans", help="list, show and diff stored plan versions")
    add_store_argument(p)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    lst = verbs.add_parser("list", help="stored versions, newest first")
    lst.add_argument("--pipeline")
    lst.add_argument("--json", action="store_true")
    show = verbs.add_parser("show", help="one version's plan (JSON)")
    show.add_argument("version")
    diff = verbs.add_parser("diff", help="what changes from version A to version B")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch the verb."""
    from airflow_cloudplan.store.diff import diff_plans

    store = store_from_args(args)
    if args.verb == "list":
        infos = store.versions(args.pipeline)
        if args.json:
            print(json.dumps([i.model_dump(mode="json") for i in infos], indent=2))
            return 0
        active = {p: (ptr.version if (ptr := store.active(p)) else None)
                  for p in store.pipelines()}
        print(f"{'version':<14}{'pipeline':<26}{'created':<22}{'USD/month':>12}"
              f"{'latency ms':>12}{'risk':>10}{'points':>8}")
        for i in infos:
            mark = "*" if active.get(i.pipeline) == i.version else " "
            print(f"{mark}{i.version[:12]:<13}{i.pipeline:<26}"
                  f"{i.created_at:%Y-%m-%d %H:%M:%S}   {i.cost_usd_month:>12,.2f}"
                  f"{i.latency_ms:>12,.0f}{i.risk:>10,.2f}{i.frontier_points:>8}")
        print("(* = active)")
        return 0
    if args.verb == "show":
        print(store.get(args.version).model_dump_json(indent=2))
        return 0
    a, b = store.resolve(args.a), store.resolve(args.b)
    d = diff_plans(store.get(a), store.get(b), old_version=a, new_version=b)
    print(d.model_dump_json(indent=2) if args.json else d.render_text())
    return 0
