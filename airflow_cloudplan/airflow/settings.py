"""Reading the ``[cloudplan]`` Airflow configuration and its connections (glue only)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULTS = {
    "plan_store": "cloudplan/plans",
    "plan_cache": "cloudplan/active-plan.json",
    "specs": "cloudplan/specs",
    "metadb_conn_id": "cloudplan_metadb",
    "api_conn_id": "cloudplan_api",
    "audit_store": "cloudplan/audit.jsonl",
    "hysteresis": "0.02",
    "solver": "cbc",
    "time_limit_s": "120",
    "profile_window_days": "30",
}


def airflow_home() -> Path:
    """AIRFLOW_HOME as Airflow resolves it."""
    return Path(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow")))


def option(name: str) -> str:
    """A ``[cloudplan]`` option (precedence: env > airflow.cfg > provider default)."""
    from airflow.configuration import conf

    return str(conf.get("cloudplan", name, fallback=DEFAULTS[name]))


def path_option(name: str) -> Path:
    """A path option, resolved under AIRFLOW_HOME when relative."""
    p = Path(option(name))
    return p if p.is_absolute() else airflow_home() / p


def sqlalchemy_url(conn_id: str) -> str:
    """The SQLAlchemy URL of a connection to the metadata DB.

    Accepts an ``extra`` ``{"url": ...}`` or the connection's own URI (``postgres://``
    is normalised to ``postgresql://``; a ``sqlite`` connection's host is the file).
    """
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    uri = conn.get_uri()
    return "postgresql://" + uri.split("://", 1)[1] if uri.startswith("postgres://") else uri


def api_credentials(conn_id: str) -> tuple[str, str | None, str | None]:
    """Base URL, login and password of the service credential for the REST API."""
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    scheme = conn.schema or "http"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}", conn.login, conn.password
