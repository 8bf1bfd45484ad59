"""``cloudplan apply VERSION``: apply a stored plan to Airflow (pools, policy cache, verify).

The same steps as the planning DAG's ``apply`` task, in an order that never leaves a
half-applied plan: pools through the REST API, then the pipeline's active pointer
(compare-and-swap) and the parse-time cache the cluster policy reads, then verification
that the re-parsed tasks carry the planned pool, queue and priority; on any failure
everything is restored. The plan store and the cache are found as the deployment's
``[cloudplan]`` settings say (or ``--store``/``--plan-cache``).
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
    p = sub.add_parser("apply", help="apply a stored plan version to Airflow and verify it",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("version", metavar="VERSION",
                   help="the version to apply: its id or a unique prefix of at least 6 hex "
                        "digits (see 'cloudplan plans list')")
    p.add_argument("--delete-unused-pools", action="store_true",
                   help="delete cloudplan pools the pipeline no longer uses (default: keep "
                        "and report them)")
    p.add_argument("--verify-timeout", type=float, default=120.0, metavar="S",
                   help="how long to wait for the re-parsed DAGs to carry the plan, in "
                        "seconds (default 120); after that the apply is rolled back")
    add_store_argument(p)
    add_api_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Apply and report."""
    from airflow_cloudplan.apply import apply_plan

    store = store_from_args(args)
    api = api_from_args(args)
    try:
        report = apply_plan(store, args.version, api, cache_path(args),
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
    print(f"  review page: {args.api.rstrip('/')}/cloudplan/plans/{report.version[:12]}")
    print(f"next (to undo it): cloudplan rollback {report.pipeline}")
    return 0
