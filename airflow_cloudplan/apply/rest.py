"""A small client for the parts of Airflow's REST API v2 that apply and verify use.

The Task SDK has no pool calls, so apply talks to the API server with a service
credential: a JWT from ``POST /auth/token`` (username/password of the auth manager) or a
token given directly. Every failure becomes an :class:`ApplyError` saying which call
failed, with the server's answer.
"""

from __future__ import annotations

from typing import Any

from airflow_cloudplan.errors import ApplyError, Problem


class AirflowApi:
    """Minimal Airflow REST API v2 client (pools, DAG tasks, reparse, HITL, runs)."""

    def __init__(self, base_url: str, *, token: str | None = None,
                 username: str | None = None, password: str | None = None,
                 timeout_s: float = 30.0) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        if token is None and username is not None:
            token = self._login(username, password or "")
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _login(self, username: str, password: str) -> str:
        import httpx

        try:
            resp = self._http.post("/auth/token",
                                   json={"username": username, "password": password})
        except httpx.HTTPError as exc:
            raise ApplyError(
                f"the Airflow API at {self.base_url} is unreachable",
                [Problem(f"POST /auth/token: {exc}", hint="is the api-server running?")],
            ) from exc
        if resp.status_code not in (200, 201):
            raise ApplyError(
                f"cannot log in to the Airflow API at {self.base_url} as '{username}'",
                [Problem(f"POST /auth/token answered {resp.status_code}: {resp.text[:200]}",
                         hint="check the cloudplan_api connection's login and password")],
            )
        return str(resp.json()["access_token"])

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v2{path}``; return the decoded JSON (or None)."""
        import httpx

        try:
            resp = self._http.request(method, f"/api/v2{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise ApplyError(
                f"the Airflow API at {self.base_url} is unreachable",
                [Problem(f"{method} {path}: {exc}", hint="is the api-server running?")],
            ) from exc
        if resp.status_code >= 400:
            raise ApplyError(
                f"the Airflow API refused {method} {path}",
                [Problem(f"HTTP {resp.status_code}: {resp.text[:300]}",
                         hint="check the service credential's permissions and the request")],
            )
        return resp.json() if resp.content else None

    # -- pools ----------------------------------------------------------------------------
    def pools(self) -> dict[str, dict[str, Any]]:
        """All pools by name."""
        out: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            page = self.call("GET", "/pools", params={"limit": 100, "offset": offset})
            for p in page["pools"]:
                out[p["name"]] = p
            offset += len(page["pools"])
            if not page["pools"] or offset >= page["total_entries"]:
                return out

    def upsert_pools(self, pools: list[dict[str, Any]]) -> None:
        """Create or overwrite pools in one bulk call (``PATCH /pools``)."""
        body = {"actions": [{"action": "create", "entities": pools,
                             "action_on_existence": "overwrite"}]}
        result = self.call("PATCH", "/pools", json=body)
        errors = (result or {}).get("create", {}).get("errors") or []
        if errors:
            raise ApplyError("the Airflow API rejected some pools",
                             [Problem(str(e), hint="fix the pool definitions") for e in errors])

    def delete_pools(self, names: list[str]) -> None:
        """Delete pools in one bulk call."""
        if names:
            self.call("PATCH", "/pools", json={"actions": [
                {"action": "delete", "entities": names, "action_on_non_existence": "skip"}]})

    # -- DAGs -----------------------------------------------------------------------------
    def dag(self, dag_id: str) -> dict[str, Any]:
        """One DAG's details."""
        return dict(self.call("GET", f"/dags/{dag_id}"))

    def tasks(self, dag_id: str) -> dict[str, dict[str, Any]]:
        """The serialised tasks of a DAG by task id."""
        return {t["task_id"]: t for t in self.call("GET", f"/dags/{dag_id}/tasks")["tasks"]}

    def reparse(self, dag_id: str) -> None:
        """Ask the DAG processor to re-parse the file that defines ``dag_id``."""
        token = self.dag(dag_id)["file_token"]
        self.call("PUT", f"/parseDagFile/{token}")
