"""Shared CLI options for commands that use the plan store or the Airflow API."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from airflow_cloudplan.airflow.settings import airflow_home
from airflow_cloudplan.store import PlanStore, open_store


def add_store_argument(p: argparse.ArgumentParser) -> None:
    """``--store`` (default: $CLOUDPLAN_PLAN_STORE or AIRFLOW_HOME/cloudplan/plans)."""
    p.add_argument("--store", default=os.environ.get("CLOUDPLAN_PLAN_STORE",
                                                     "cloudplan/plans"),
                   help="plan store: directory (relative to AIRFLOW_HOME) or s3://bucket/prefix")


def store_from_args(args: argparse.Namespace) -> PlanStore:
    """Open the store named on the command line."""
    return open_store(args.store, base=airflow_home())


def add_api_arguments(p: argparse.ArgumentParser) -> None:
    """Airflow API location and service credential, plus the plan cache path."""
    p.add_argument("--api", default=os.environ.get("CLOUDPLAN_API_URL", "http://127.0.0.1:8080"))
    p.add_argument("--user", default=os.environ.get("CLOUDPLAN_API_USER"))
    p.add_argument("--password", default=os.environ.get("CLOUDPLAN_API_PASSWORD"))
    p.add_argument("--token", default=os.environ.get("CLOUDPLAN_API_TOKEN"))
    p.add_argument("--plan-cache", type=Path,
                   default=Path(os.environ.get("CLOUDPLAN_PLAN_CACHE",
                                               "cloudplan/active-plan.json")),
                   help="parse-time cache the cluster policy reads (relative to AIRFLOW_HOME)")


def api_from_args(args: argparse.Namespace) -> Any:
    """An Airflow API client from the command line options."""
    from airflow_cloudplan.apply.rest import AirflowApi

    return AirflowApi(args.api, token=args.token, username=args.user, password=args.password)


def cache_path(args: argparse.Namespace) -> Path:
    """The plan cache path, resolved under AIRFLOW_HOME."""
    p: Path = args.plan_cache
    return p if p.is_absolute() else airflow_home() / p
