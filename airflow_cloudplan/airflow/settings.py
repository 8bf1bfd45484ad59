"""Reading the ``[cloudplan]`` Airflow configuration and its connections (glue only)."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_cloudplan.airflow.provider_info import CONFIG_OPTIONS

DEFAULTS = {name: default for name, _kind, default, _example, _text in CONFIG_OPTIONS}


def airflow_home() -> Path:
    """AIRFLOW_HOME as Airflow resolves it."""
    return Path(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))).expanduser()


def option(name: str) -> str:
    """A ``[cloudplan]`` option (precedence: env > airflow.cfg > provider default)."""
    from airflow.sdk.configuration import conf

    return str(conf.get("cloudplan", name, fallback=DEFAULTS[name]) or DEFAULTS[name])


def location_option(name: str) -> Path | str:
    """A path-or-URI option: ``s3://`` URIs unchanged, paths resolved under AIRFLOW_HOME."""
    value = option(name)
    if value.startswith("s3://"):
        return value
    path = Path(value.removeprefix("file://")).expanduser()
    return path if path.is_absolute() else airflow_home() / path


def path_option(name: str) -> Path:
    """A local path option (``[cloudplan] plan_cache``, ``specs`` ...)."""
    value = location_option(name)
    if isinstance(value, str):
        raise ValueError(f"[cloudplan] {name} must be a local path, got {value}")
    return value


def sqlalchemy_url(conn_id: str) -> str:
    """The SQLAlchemy URL of a connection to the metadata DB.

    A ``cloudplan_metadb`` connection, an ``extra`` ``{"url": ...}``, a ``sqlite``
    connection (host = file) or any other connection's URI (``postgres://`` is normalised
    to ``postgresql://``); see :func:`airflow_cloudplan.airflow.connections.metadb_url`.
    """
    from airflow.sdk import Connection

    from airflow_cloudplan.airflow.connections import metadb_url

    conn = Connection.get(conn_id)
    return metadb_url(conn.conn_type, conn.extra_dejson or {}, host=conn.host, port=conn.port,
                      schema=conn.schema, login=conn.login, password=conn.password,
                      uri=str(conn.get_uri()))


def api_credentials(conn_id: str) -> tuple[str, str | None, str | None]:
    """Base URL, login and password of the service credential for the REST API."""
    from airflow_cloudplan.airflow.connections import CloudplanApiHook

    return CloudplanApiHook(conn_id).credentials()
