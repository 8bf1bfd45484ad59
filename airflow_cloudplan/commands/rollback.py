"""``cloudplan rollback PIPELINE [VERSION]``: re-apply the previous (or a given) plan.

Rollback is an apply of an older, immutable version — pools, active pointer
(compare-and-swap), parse-time cache, verification — recorded as ``rolled_back`` in the
pipeline's history.
"""

from __future__ import annotations

import argparse
from typing import Any

from airflow_cloudplan.commands._store import (
    add_api_arguments,
    add_store_argument,
    api_from_args,
    cache_path,
    store_from_args,
)


def register(sub: Any) -> None:
    """Wire the subcommand."""
    p = sub.add_parser("rollback", help="re-apply the previous or a given plan version",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("pipeline", metavar="PIPELINE", help="the pipeline (spec name) to roll back")
    p.add_argument("version", nargs="?", metavar="VERSION",
                   help="the version to go back to (default: the one active before the "
                        "current one)")
    add_store_argument(p)
    add_api_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Roll back and report."""
    from airflow_cloudplan.apply import rollback

    store = store_from_args(args)
    api = api_from_args(args)
    try:
        report = rollback(store, args.pipeline, api, cache_path(args),
                          to_version=args.version, actor="cloudplan rollback")
    finally:
        api.close()
    print(f"rolled back {report.pipeline} to {report.version[:12]} "
          f"(was {(report.previous or 'none')[:12]})")
    print(f"  verified DAGs: {', '.join(report.dags_verified)}")
    print(f"next: cloudplan plans list --pipeline {report.pipeline}   (every stored version; "
          "* marks the active one)")
    return 0
