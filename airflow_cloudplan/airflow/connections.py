"""The two connection types cloudplan declares, with their form in the Airflow UI.

``cloudplan_metadb`` is read-only SQL access to Airflow's metadata DB for the profiler;
``cloudplan_api`` is the service credential apply uses for the REST API. Both are listed
in the provider's ``connection-types`` (``provider_info.CONNECTION_TYPES``) with labels,
placeholders and help: the form is declared, not built by a hook method, so the UI never
imports these classes to show it.
A connection of another type (``postgres``, ``sqlite``, ``http``) with the same id works
too: the hooks read either.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook

from airflow_cloudplan.airflow.provider_info import API_TYPE, METADB_TYPE


def metadb_url(conn_type: str | None, extra: dict[str, Any], *, host: str | None,
               port: int | None, schema: str | None, login: str | None,
               password: str | None, uri: str | None = None) -> str:
    """The SQLAlchemy URL of a metadata-DB connection of any supported type.

    An explicit ``url`` (in the extra) wins; a ``sqlite`` connection (or dialect) names
    its file in ``host``; a ``cloudplan_metadb`` connection is built from its fields and
    ``dialect``; any other type uses its own URI (``postgres://`` → ``postgresql://``).
    """
    url = extra.get("url") or extra.get(f"extra__{METADB_TYPE}__url")
    if url:
        return str(url)
    dialect = str(extra.get("dialect") or extra.get(f"extra__{METADB_TYPE}__dialect")
                  or ("sqlite" if conn_type == "sqlite" else "postgresql"))
    if conn_type == "sqlite" or (conn_type == METADB_TYPE and dialect == "sqlite"):
        return f"sqlite:///{host}"
    if conn_type == METADB_TYPE:
        auth = ""
        if login:
            auth = quote(login, safe="") + (f":{quote(password, safe='')}" if password else "")
            auth += "@"
        where = f"{host or 'localhost'}" + (f":{port}" if port else "")
        return f"{dialect}://{auth}{where}/{schema or ''}"
    text = str(uri or "")
    return "postgresql://" + text.split("://", 1)[1] if text.startswith("postgres://") else text


class CloudplanMetadbHook(BaseHook):
    """Read-only SQL access to the metadata DB (the profiler's source of run history)."""

    conn_name_attr = "metadb_conn_id"
    default_conn_name = "cloudplan_metadb"
    conn_type = METADB_TYPE
    hook_name = "Cloudplan metadata DB (read-only)"

    def __init__(self, metadb_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.metadb_conn_id = metadb_conn_id

    def sqlalchemy_url(self) -> str:
        """The connection's SQLAlchemy URL."""
        conn = self.get_connection(self.metadb_conn_id)
        return metadb_url(conn.conn_type, conn.extra_dejson or {}, host=conn.host,
                          port=conn.port, schema=conn.schema, login=conn.login,
                          password=conn.password, uri=conn.get_uri())


class CloudplanApiHook(BaseHook):
    """The service credential for Airflow's REST API (pools, re-parse, verification)."""

    conn_name_attr = "api_conn_id"
    default_conn_name = "cloudplan_api"
    conn_type = API_TYPE
    hook_name = "Cloudplan Airflow API (service credential)"

    def __init__(self, api_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.api_conn_id = api_conn_id

    def credentials(self) -> tuple[str, str | None, str | None]:
        """Base URL, login and password."""
        conn = self.get_connection(self.api_conn_id)
        scheme = conn.schema or "http"
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{conn.host}{port}", conn.login, conn.password
