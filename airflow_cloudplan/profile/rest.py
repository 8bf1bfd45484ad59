"""Stage profiles through the Airflow 3 REST API — the fallback when SQL is not granted.

``GET /api/v2/dags/~/dagRuns/~/taskInstances`` with keyset (cursor) pagination
(``cursor=`` for the first page, then ``next_cursor``; Airflow 3.3 also offers
offset/limit, which degrades on deep pages), ``order_by=end_date``, ``state=success&
state=failed`` and ``end_date_gt``/``end_date_gte`` as the time filters. Authentication is
a bearer JWT: pass one, or a username/password that is exchanged at ``POST /auth/token``.

It is slow — every row is a serialised task instance with its DAG version and trigger
(about 700 rows/s measured) — so it suits small deployments or narrow ``--dag`` filters.
What it cannot see compared to SQL: earlier tries come from ``try_number − 1`` (no
``task_instance_history``), and recorded stage metrics (XCom values) are not read.
The watermark is the task instances' ``end_date``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_cloudplan.errors import Problem, ProfileError
from airflow_cloudplan.model.workload import ProfileSet
from airflow_cloudplan.profile.build import build_profile_set
from airflow_cloudplan.profile.sketch import StageState
from airflow_cloudplan.profile.trace import parse_time

TI_PATH = "/api/v2/dags/~/dagRuns/~/taskInstances"


def _request(url: str, *, token: str | None = None, body: dict[str, Any] | None = None,
             timeout: float = 60.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        hint = {401: "the token is missing, expired or invalid: get one from /auth/token",
                403: "the user may not read task instances: grant it read access to DAG runs",
                404: "check the base URL (the Airflow API server root, without /api/v2)"}.get(
            exc.code, "check the API server logs")
        raise ProfileError("Airflow REST API refused the request", [Problem(
            f"HTTP {exc.code} from {url.split('?', maxsplit=1)[0]}: {detail}", hint=hint)]) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ProfileError("Airflow REST API is unreachable", [Problem(
            f"{url.split('?', maxsplit=1)[0]}: {exc}",
            hint="check the URL and that the API server runs")]
        ) from exc


def fetch_token(base_url: str, username: str, password: str) -> str:
    """Exchange a username/password for a JWT at ``POST /auth/token``."""
    answer = _request(base_url.rstrip("/") + "/auth/token",
                      body={"username": username, "password": password})
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise ProfileError("no access token in the /auth/token answer", [Problem(
            str(answer)[:200], hint="check the auth manager's credentials")])
    return token


def profile_rest(
    base_url: str,
    token: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    since: datetime | None = None,
    watermark: datetime | None = None,
    dag_ids: Sequence[str] | None = None,
    page_size: int = 1000,
    progress: Callable[[str], None] | None = None,
) -> ProfileSet:
    """Profiles of every stage from task instances listed by the REST API."""
    say = progress or (lambda _msg: None)
    root = base_url.rstrip("/")
    if token is None:
        if username is None or password is None:
            raise ProfileError("no REST credentials", [Problem(
                "neither a token nor a username/password was given", path="--token",
                hint="pass --token JWT (from POST /auth/token) or --user/--password")])
        token = fetch_token(root, username, password)
    params: list[tuple[str, str]] = [("limit", str(page_size)), ("order_by", "end_date"),
                                     ("state", "success"), ("state", "failed")]
    if watermark is not None:
        params.append(("end_date_gt", watermark.astimezone(UTC).isoformat()))
    if since is not None:
        params.append(("end_date_gte", since.astimezone(UTC).isoformat()))
    wanted = set(dag_ids or ())
    runs: dict[tuple[str, str, str], dict[str, Any]] = {}
    cursor = ""
    fetched = 0
    newest: float | None = None
    while cursor is not None:
        query = urllib.parse.urlencode([*params, ("cursor", cursor)])
        page = _request(f"{root}{TI_PATH}?{query}", token=token)
        items = page.get("task_instances", [])
        for ti in items:
            if wanted and ti["dag_id"] not in wanted:
                continue
            newest = _fold_ti(runs, ti, newest)
        fetched += len(items)
        say(f"{fetched} task instances read")
        cursor = page.get("next_cursor")
        if not items:
            break
    states = _stage_states(runs)
    mark = datetime.fromtimestamp(newest, UTC) if newest is not None else watermark
    return build_profile_set(states, source="rest", watermark=mark,
                             note="no history: the REST API listed no finished task instances")


def _fold_ti(runs: dict[tuple[str, str, str], dict[str, Any]], ti: dict[str, Any],
             newest: float | None) -> float | None:
    """Fold one task instance (a map index) into its stage run."""
    if not ti.get("start_date") or not ti.get("end_date"):
        return newest
    start, end = parse_time(ti["start_date"]), parse_time(ti["end_date"])
    queued = parse_time(ti["queued_when"]) if ti.get("queued_when") else None
    key = (ti["dag_id"], ti["task_id"], ti["dag_run_id"])
    run = runs.get(key)
    if run is None:
        run = runs[key] = {"start": start, "end": end, "queued": queued, "failed": False,
                           "tries": 0}
    run["start"] = min(run["start"], start)
    run["end"] = max(run["end"], end)
    if queued is not None:
        run["queued"] = queued if run["queued"] is None else min(run["queued"], queued)
    run["failed"] = run["failed"] or ti.get("state") == "failed"
    run["tries"] += max(int(ti.get("try_number") or 1) - 1, 0)
    return end if newest is None else max(newest, end)


def _stage_states(runs: dict[tuple[str, str, str], dict[str, Any]]) -> dict[
        tuple[str, str], StageState]:
    states: dict[tuple[str, str], StageState] = {}
    ordered = sorted(runs.items(), key=lambda kv: kv[1]["queued"] or kv[1]["start"])
    for (dag_id, task_id, _run), r in ordered:
        state = states.get((dag_id, task_id))
        if state is None:
            state = states[(dag_id, task_id)] = StageState(dag_id=dag_id, task_id=task_id)
        state.add_run(
            arrival=r["queued"] if r["queued"] is not None else r["start"],
            duration_s=r["end"] - r["start"],
            failed=r["failed"],
            queue_delay_s=None if r["queued"] is None else r["start"] - r["queued"],
            earlier_tries=r["tries"],
        )
    return states
