"""``cloudplan rollback PIPELINE [VERSION]``: re-apply the previous (or a given) plan."""

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
    p = sub.add_parser("rollback", help="re-apply the previous or a given plan version")
    p.add_argument("pipeline")
    p.add_argument("version", nargs="?")
    add_store_argument(p)
    add_api_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Roll back and report."""
    from airflow_cloudplan.apply import rollback

    api = api_from_args(args)
    try:
        report = rollback(store_from_args(args), args.pipeline, api, cache_path(args),
                          to_version=args.version, actor="cloudplan rollback")
    finally:
        api.close()
    print(f"rolled back {report.pipeline} to {report.version[:12]} "
          f"(was {(report.previous or 'none')[:12]})")
    return 0
