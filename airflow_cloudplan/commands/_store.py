"""Shared CLI options for commands that use the plan store or the Airflow API.

The CLI finds the same plan store and plan cache as the Airflow deployment it runs next
to: an explicit option wins, then the ``CLOUDPLAN_*`` environment variable, then
``AIRFLOW__CLOUDPLAN__<OPTION>``, then ``[cloudplan]`` in ``airflow.cfg`` (``AIRFLOW_CONFIG``
or ``AIRFLOW_HOME/airflow.cfg``), then the provider's default. Relative paths are under
``AIRFLOW_HOME``. Reading ``airflow.cfg`` needs no Airflow import (the CLI stays fast).
"""

from __future__ import annotations

import argparse
import configparser
import os
from pathlib import Path
from typing import Any

from airflow_cloudplan.airflow.provider_info import CONFIG_OPTIONS
from airflow_cloudplan.airflow.settings import airflow_home
from airflow_cloudplan.errors import PlanStoreError, Problem
from airflow_cloudplan.store import PlanStore, open_store

_DEFAULTS = {name: default for name, _kind, default, _example, _text in CONFIG_OPTIONS}


def cloudplan_option(name: str, env: str | None = None) -> tuple[str, str]:
    """A ``[cloudplan]`` option as Airflow would resolve it, and where it came from."""
    for var in (env, f"AIRFLOW__CLOUDPLAN__{name.upper()}"):
        if var and os.environ.get(var):
            return os.environ[var], f"${var}"
    cfg = Path(os.environ.get("AIRFLOW_CONFIG") or airflow_home() / "airflow.cfg")
    if cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(cfg, encoding="utf-8")
        except configparser.Error:
            parser.clear()
        if parser.has_option("cloudplan", name):
            return parser.get("cloudplan", name), f"[cloudplan] {name} in {cfg}"
    return _DEFAULTS[name], f"the default of [cloudplan] {name}"


def add_store_argument(p: argparse.ArgumentParser, *, suppress_default: bool = False) -> None:
    """``--store``; ``suppress_default`` lets a sub-verb accept it without overriding."""
    p.add_argument("--store", metavar="PATH|s3://BUCKET/PREFIX",
                   default=argparse.SUPPRESS if suppress_default else None,
                   help="plan store: a directory (relative to AIRFLOW_HOME) or "
                        "s3://bucket/prefix (default: $CLOUDPLAN_PLAN_STORE, else "
                        "[cloudplan] plan_store, else AIRFLOW_HOME/cloudplan/plans)")


def store_location(args: argparse.Namespace) -> tuple[str, str]:
    """The store's location (absolute for directories) and where the setting came from."""
    given = getattr(args, "store", None)
    value, origin = (given, "--store") if given else cloudplan_option("plan_store",
                                                                     "CLOUDPLAN_PLAN_STORE")
    if value.startswith("s3://"):
        return value, origin
    path = Path(value.removeprefix("file://")).expanduser()
    return str(path if path.is_absolute() else airflow_home() / path), origin


def store_from_args(args: argparse.Namespace, *, create: bool = False) -> PlanStore:
    """Open the store named on the command line; a clear error when it does not exist."""
    location, origin = store_location(args)
    if not create and not location.startswith("s3://") and not Path(location).is_dir():
        raise PlanStoreError(f"no plan store at {location}", [Problem(
            f"the directory does not exist (plan store from {origin})",
            hint="set [cloudplan] plan_store or --store to the store the planning DAG "
                 "writes, or store a plan first with `cloudplan plans put PLAN`")])
    return open_store(location)


def add_api_arguments(p: argparse.ArgumentParser) -> None:
    """Airflow API location and service credential, plus the plan cache path."""
    p.add_argument("--api", metavar="URL",
                   default=os.environ.get("CLOUDPLAN_API_URL", "http://127.0.0.1:8080"),
                   help="Airflow API server root URL (default: $CLOUDPLAN_API_URL, else "
                        "http://127.0.0.1:8080)")
    p.add_argument("--user", default=os.environ.get("CLOUDPLAN_API_USER"),
                   help="user exchanged for a token at POST /auth/token "
                        "(default: $CLOUDPLAN_API_USER)")
    p.add_argument("--password", default=os.environ.get("CLOUDPLAN_API_PASSWORD"),
                   help="password of --user (default: $CLOUDPLAN_API_PASSWORD)")
    p.add_argument("--token", default=os.environ.get("CLOUDPLAN_API_TOKEN"),
                   help="a JWT instead of --user/--password (default: $CLOUDPLAN_API_TOKEN)")
    p.add_argument("--plan-cache", type=Path, metavar="FILE", default=None,
                   help="the parse-time cache the cluster policy reads, relative to "
                        "AIRFLOW_HOME (default: $CLOUDPLAN_PLAN_CACHE, else [cloudplan] "
                        "plan_cache)")


def api_from_args(args: argparse.Namespace) -> Any:
    """An Airflow API client from the command line options."""
    from airflow_cloudplan.apply.rest import AirflowApi

    return AirflowApi(args.api, token=args.token, username=args.user, password=args.password)


def cache_path(args: argparse.Namespace) -> Path:
    """The plan cache path, resolved under AIRFLOW_HOME."""
    given: Path | None = args.plan_cache
    p = given or Path(cloudplan_option("plan_cache", "CLOUDPLAN_PLAN_CACHE")[0])
    return p if p.is_absolute() else airflow_home() / p
