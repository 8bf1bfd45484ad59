"""``cloudplan apply VERSION``: apply a stored plan to Airflow (pools, policy cache, verify)."""

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
    p = sub.add_parser("apply", help="apply a stored plan version to Airflow and verify it")
    p.add_argument("version")
    p.add_argument("--delete-unused-pools", action="store_true")
    p.add_argument("--verify-timeout", type=float, default=120.0)
    add_store_argument(p)
    add_api_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Apply and report."""
    from airflow_cloudplan.apply import apply_plan

    api = api_from_args(args)
    try:
        report = apply_plan(store_from_args(args), args.version, api, cache_path(args),
                            actor="cloudplan apply", delete_unused_pools=args.delete_unused_pools,
                            verify_timeout_s=args.verify_timeout)
    finally:
        api.close()
    print(f"applied {report.version[:12]} to {report.pipeline} "
          f"(previous {(report.previous or 'none')[:12]})")
    print(f"  pools: {', '.join(report.pools_upserted)}")
    if report.pools_unused:
        print(f"  unused pools (kept): {', '.join(report.pools_unused)}")
    print(f"  verified DAGs: {', '.join(report.dags_verified)}")
    return 0
