"""Stage profiles from the Airflow 3 metadata database over plain, read-only SQL.

Why SQL and not the ORM: task code cannot use Airflow's ORM in Airflow 3 (``Session()``
raises in task and DAG-parse processes), so the planning DAG passes a URL from a
dedicated connection (``cloudplan_metadb``) and this module opens its own read-only
SQLAlchemy engine. It never imports Airflow.

What is read: ``task_instance`` (final tries), ``task_instance_history`` (earlier tries),
``dag_run`` (the unit of incrementality: a stage run is counted once its dag run has
finished, so all map indices of a mapped task are final) and ``xcom`` rows under
``STAGE_METRICS_XCOM_KEY``. The heavy lifting runs inside the database in one statement
(:mod:`airflow_cloudplan.profile.sql`): it folds map indices into stage runs, computes
inter-arrival gaps with a window function, and returns per-stage sums and log-bucket
counts — a few rows per stage instead of a million task instances.

Incremental: only dag runs with ``end_date`` in ``(watermark, upper]`` are read, where
``upper`` is fixed at the start of the run, and their partial statistics are merged into
the kept :class:`ProfileState`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from airflow_cloudplan.errors import Problem, ProfileError
from airflow_cloudplan.model.workload import STAGE_METRICS_XCOM_KEY, ProfileSet
from airflow_cloudplan.profile import sql
from airflow_cloudplan.profile.build import build_profile_set
from airflow_cloudplan.profile.sketch import StageState, merge_states
from airflow_cloudplan.profile.state import ProfileState

Progress = Callable[[str], None]

SUPPORTED_REVISIONS: dict[str, str] = {
    "29ce7909c52b": "3.0.0",
    "fe199e1abd77": "3.0.3",
    "cc92b33c6709": "3.1.0",
    "509b94a1042d": "3.1.8",
    "1d6611b6ab7c": "3.2.0",
    "d2f4e1b3c5a7": "3.3.0",
}
"""Alembic heads of the Airflow 3.x releases whose schema this reader was checked against
(``airflow.utils.db._REVISION_HEADS_MAP``); 3.3.x patch releases share 3.3.0's head."""

REQUIRED_TABLES = ("alembic_version", "task_instance", "task_instance_history", "dag_run",
                   "xcom")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def open_engine(url: str) -> Any:
    """A read-only engine: SQLite opened with ``mode=ro``, PostgreSQL read-only sessions."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ProfileError("metadata DB URL is malformed", [Problem(
            str(exc), path="--db", hint="use e.g. postgresql+psycopg2://user@host:5432/airflow "
            "or sqlite:////path/airflow.db")]) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        from pathlib import Path

        database = parsed.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            raise ProfileError("SQLite metadata DB not found", [Problem(
                f"no database file at {database or '(empty path)'}", path="--db",
                hint="point at the airflow.db of the deployment "
                "(sqlite:////absolute/path/airflow.db)")])
        ro = sa.engine.URL.create("sqlite", database=f"file:{database}?mode=ro",
                                  query={"uri": "true"})
        engine = sa.create_engine(ro)
        sa.event.listen(engine, "connect", _ensure_sqlite_math)
        return engine
    if backend == "postgresql":
        try:
            return sa.create_engine(parsed, connect_args={
                "options": "-c default_transaction_read_only=on", "connect_timeout": 10})
        except NoSuchModuleError as exc:
            raise ProfileError("PostgreSQL driver missing", [Problem(
                str(exc), hint="install psycopg2-binary (extra: airflow-cloudplan[postgres])")]
            ) from exc
    raise ProfileError("unsupported metadata DB backend", [Problem(
        f"backend {backend!r}", path="--db",
        hint="the profiler reads SQLite and PostgreSQL metadata DBs; "
        "use the REST fallback (--rest) for others")])


def _ensure_sqlite_math(dbapi_connection: Any, _record: Any) -> None:
    """Register ln/ceil/floor when the SQLite build lacks its math functions."""
    try:
        dbapi_connection.execute("SELECT ln(2.0), ceil(1.5), floor(1.5)")
    except Exception:
        dbapi_connection.create_function("ln", 1, math.log, deterministic=True)
        dbapi_connection.create_function("ceil", 1, math.ceil, deterministic=True)
        dbapi_connection.create_function("floor", 1, math.floor, deterministic=True)


def _connection_problem(url: str, exc: Exception) -> ProfileError:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else repr(exc)
    where = _redacted(url)
    low = text.lower()
    if ("role" in low and "does not exist" in low) or "authentication failed" in low \
            or "password" in low:
        return ProfileError("metadata DB rejected the credentials", [Problem(
            text, path=where, hint="check the user and password of the cloudplan_metadb "
            "connection; grant it CONNECT and SELECT on the Airflow tables")])
    if "database" in low and "does not exist" in low:
        return ProfileError("metadata DB does not exist", [Problem(
            text, path=where, hint="check the database name in the URL")])
    return ProfileError("metadata DB is unreachable", [Problem(
        text, path=where, hint="check host, port and that the server is running and "
        "accepts connections from here (firewall, pg_hba.conf)")])


def check_schema(conn: Any, url: str) -> str:
    """The Airflow version of the schema; raises on missing tables or unknown revisions."""
    import sqlalchemy as sa

    tables = set(sa.inspect(conn).get_table_names())
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise ProfileError("not an Airflow 3 metadata DB", [Problem(
            f"missing tables: {', '.join(missing)}", path=_redacted(url),
            hint="point at the Airflow metadata database, migrated with `airflow db migrate`")])
    revisions = [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    if len(revisions) != 1 or revisions[0] not in SUPPORTED_REVISIONS:
        known = ", ".join(f"{v} ({r})" for r, v in SUPPORTED_REVISIONS.items())
        raise ProfileError("unsupported Airflow metadata schema version", [Problem(
            f"alembic_version is {', '.join(revisions) or 'empty'}", path=_redacted(url),
            hint=f"the profiler supports Airflow {known}; migrate the DB with `airflow db "
            "migrate` or upgrade airflow-cloudplan")])
    return SUPPORTED_REVISIONS[revisions[0]]


def profile_metadb(
    url: str,
    *,
    since: datetime | None = None,
    watermark: datetime | None = None,
    dag_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
    state: ProfileState | None = None,
) -> ProfileSet:
    """Profile every stage whose dag runs finished after ``since``/``watermark``.

    With ``state`` the run is incremental: rows after ``state.watermark`` are folded into
    ``state`` (updated in place) and the profiles cover all history kept in it.
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    say = progress or (lambda _msg: None)
    kept = state if state is not None else ProfileState()
    if kept.database and kept.database != _redacted(url):
        raise ProfileError("profiler state belongs to another database", [Problem(
            f"state was built from {kept.database}", path="--state",
            hint="use a separate state file per metadata DB, or delete it")])
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            say("checking schema")
            version = check_schema(conn, url)
            lower = kept.watermark
            if watermark is not None:
                lower = max(lower or -math.inf, watermark.timestamp())
            since_s = since.timestamp() if since is not None else kept.since
            window = sql.Window(lower=lower, since=since_s, dag_ids=tuple(dag_ids or ()))
            upper = sql.upper_bound(conn, window)
            say(f"Airflow {version} schema; reading dag runs finished "
                f"{_fmt(lower)} .. {_fmt(upper)}")
            partial: dict[tuple[str, str], StageState] = {}
            if upper is not None:
                partial = _read_partials(conn, replace(window, upper=upper), say)
    except OperationalError as exc:
        raise _connection_problem(url, exc) from exc
    except DBAPIError as exc:
        raise ProfileError("reading the metadata DB failed", [Problem(
            str(exc.orig).strip().splitlines()[0], path=_redacted(url),
            hint="the schema may differ from the supported Airflow versions; "
            "report this with the Airflow version")]) from exc
    finally:
        engine.dispose()
    merged = merge_states(kept.by_key(), partial.values())
    kept.stages = [merged[k] for k in sorted(merged)]
    kept.database = _redacted(url)
    kept.since = since_s
    if upper is not None:
        kept.watermark = upper
    say(f"{len(partial)} stages touched, {len(merged)} profiled")
    note = "no history: no finished dag runs" + (f" for {', '.join(dag_ids)}" if dag_ids else "")
    return build_profile_set(
        merged, source="metadb",
        watermark=None if kept.watermark is None else datetime.fromtimestamp(kept.watermark, UTC),
        note=note)


def _fmt(t: float | None) -> str:
    return "(start)" if t is None or math.isinf(t) else datetime.fromtimestamp(t, UTC).isoformat()


def _read_partials(conn: Any, window: sql.Window, say: Progress) -> dict[
        tuple[str, str], StageState]:
    states: dict[tuple[str, str], StageState] = {}

    def get(dag_id: str, task_id: str) -> StageState:
        key = (dag_id, task_id)
        if key not in states:
            states[key] = StageState(dag_id=dag_id, task_id=task_id)
        return states[key]

    say("aggregating task runs in the database")
    rows = sql.run_aggregates(conn, window)
    sql.fold_aggregates(rows, states)
    say(f"{len(states)} stages; counting earlier tries")
    for dag_id, task_id, tries, failed in sql.earlier_tries(conn, window):
        s = get(dag_id, task_id)
        s.earlier_tries += int(tries)
        s.earlier_failed_tries += int(failed or 0)
    say("aggregating recorded stage metrics")
    sql.fold_metrics(sql.stage_metrics(conn, window, STAGE_METRICS_XCOM_KEY), states)
    return states
