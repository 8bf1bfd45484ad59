"""The SQL the metadata-DB profiler runs (SQLite and PostgreSQL dialects).

One statement does the aggregation inside the database::

    runs   one row per stage run (dag_id, task_id, run_id): map indices folded —
           arrival = first queued (else started), duration = last end − first start,
           queue delay = first start − first queued, failed = any index failed
    w      + gap to the previous arrival of the same stage (LAG), row number, count
    S      per stage: n, failures, Σd, Σd², min, max, same for queue delay, first/last
           arrival, Σx, Σx², Σxd (x = days since 2020-01-01; least-squares trend), Σgap²
    D, Q   per stage and log bucket ⌈ln d / ln γ⌉: counts (the mergeable quantile sketch)
    H      busiest hour, first/last hour and their counts (peak-to-mean, mergeable)
    R      the latest RECENT_RUNS_KEPT runs (recency-weighted prediction)

All times are compared as epoch seconds so SQLite (ISO strings) and PostgreSQL
(timestamptz) share one query shape; only the epoch expression differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_cloudplan.profile.sketch import (
    LN_GAMMA,
    MIN_TRACKED_S,
    RECENT_RUNS_KEPT,
    TREND_ORIGIN_S,
    ZERO_BUCKET,
    StageState,
)

FINAL_STATES = ("success", "failed")


@dataclass(frozen=True)
class Window:
    """Which dag runs a read covers: finished in ``(lower, upper]`` and at/after ``since``."""

    lower: float | None = None
    upper: float | None = None
    since: float | None = None
    dag_ids: tuple[str, ...] = ()


def epoch(dialect: str, column: str) -> str:
    """SQL for a timestamp column as epoch seconds (double precision)."""
    if dialect == "postgresql":
        return f"date_part('epoch', {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _bucket(expr: str) -> str:
    return (f"CASE WHEN {expr} <= {MIN_TRACKED_S} THEN {ZERO_BUCKET} "
            f"ELSE CAST(CEIL(LN({expr}) / {LN_GAMMA!r}) AS INTEGER) END")


def _nulls(n: int) -> str:
    """Padding for UNION branches that fill fewer value columns."""
    return ", ".join(["NULL"] * n)


def _run_filter(dialect: str, window: Window, alias: str) -> tuple[str, dict[str, Any]]:
    """WHERE clause over the dag_run join: finished in (lower, upper], after since."""
    import sqlalchemy as sa

    lower, upper, since, dag_ids = window.lower, window.upper, window.since, window.dag_ids

    end = epoch(dialect, "dr.end_date")
    clauses = ["dr.end_date IS NOT NULL"]
    params: dict[str, Any] = {}
    if upper is not None:
        clauses.append(f"{end} <= :upper")
        params["upper"] = upper
    if lower is not None:
        clauses.append(f"{end} > :lower")
        params["lower"] = lower
    if since is not None:
        clauses.append(f"{end} >= :since")
        params["since"] = since
    if dag_ids:
        clauses.append(f"{alias}.dag_id IN :dag_ids")
        params["dag_ids"] = sa.bindparam("dag_ids", list(dag_ids), expanding=True)
    return " AND ".join(clauses), params


def _execute(conn: Any, statement: str, params: dict[str, Any]) -> Any:
    import sqlalchemy as sa

    text = sa.text(statement)
    binds = [p for p in params.values() if isinstance(p, sa.BindParameter)]
    if binds:
        text = text.bindparams(*binds)
    plain = {k: v for k, v in params.items() if not isinstance(v, sa.BindParameter)}
    return conn.execute(text, plain)


def upper_bound(conn: Any, window: Window) -> float | None:
    """The newest finished dag run now (fixes this run's window; ``None`` if nothing new)."""
    dialect = conn.dialect.name
    where, params = _run_filter(dialect, window, "dr")
    row = _execute(conn, f"SELECT MAX({epoch(dialect, 'dr.end_date')}) FROM dag_run dr "
                   f"WHERE {where}", params).first()
    return None if row is None or row[0] is None else float(row[0])


def run_aggregates(conn: Any, window: Window) -> Any:
    """Execute the aggregation statement; rows are (kind, dag_id, task_id, k, v1..v18)."""
    dialect = conn.dialect.name
    where, params = _run_filter(dialect, window, "ti")
    start, end = epoch(dialect, "ti.start_date"), epoch(dialect, "ti.end_date")
    queued = epoch(dialect, "ti.queued_dttm")
    arrival = epoch(dialect, "COALESCE(ti.queued_dttm, ti.start_date)")
    states = ", ".join(f"'{s}'" for s in FINAL_STATES)
    x = f"((t_arr - {TREND_ORIGIN_S!r}) / 86400.0)"
    statement = f"""
WITH runs AS (
  SELECT ti.dag_id AS dag_id, ti.task_id AS task_id,
         MIN({arrival}) AS t_arr,
         MAX({end}) - MIN({start}) AS dur,
         MIN({start}) - MIN({queued}) AS qd,
         MAX(CASE WHEN ti.state = 'failed' THEN 1 ELSE 0 END) AS failed
  FROM task_instance ti
  JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id
  WHERE {where} AND ti.state IN ({states})
    AND ti.start_date IS NOT NULL AND ti.end_date IS NOT NULL
  GROUP BY ti.dag_id, ti.task_id, ti.run_id
), w AS (
  SELECT dag_id, task_id, t_arr, dur, qd, failed,
         t_arr - LAG(t_arr) OVER (PARTITION BY dag_id, task_id ORDER BY t_arr) AS gap,
         ROW_NUMBER() OVER (PARTITION BY dag_id, task_id ORDER BY t_arr) AS rn,
         COUNT(*) OVER (PARTITION BY dag_id, task_id) AS cnt,
         CAST(FLOOR(t_arr / 3600.0) AS INTEGER) AS hr
  FROM runs
), hours AS (
  SELECT dag_id, task_id, hr, COUNT(*) AS c FROM w GROUP BY dag_id, task_id, hr
), span AS (
  SELECT dag_id, task_id, MAX(c) AS peak, MIN(hr) AS h0, MAX(hr) AS h1
  FROM hours GROUP BY dag_id, task_id
)
SELECT 'S' AS kind, dag_id, task_id, 0 AS k, COUNT(*) AS v1, SUM(failed) AS v2,
       SUM(dur) AS v3, SUM(dur * dur) AS v4, MIN(dur) AS v5, MAX(dur) AS v6,
       COUNT(qd) AS v7, SUM(qd) AS v8, SUM(qd * qd) AS v9, MIN(qd) AS v10, MAX(qd) AS v11,
       MIN(t_arr) AS v12, MAX(t_arr) AS v13, SUM({x}) AS v14, SUM({x} * {x}) AS v15,
       SUM({x} * dur) AS v16, COUNT(gap) AS v17, SUM(gap * gap) AS v18
FROM w GROUP BY dag_id, task_id
UNION ALL
SELECT 'D', dag_id, task_id, {_bucket('dur')}, COUNT(*), {_nulls(17)}
FROM w GROUP BY dag_id, task_id, {_bucket('dur')}
UNION ALL
SELECT 'Q', dag_id, task_id, {_bucket('qd')}, COUNT(*), {_nulls(17)}
FROM w WHERE qd IS NOT NULL GROUP BY dag_id, task_id, {_bucket('qd')}
UNION ALL
SELECT 'H', s.dag_id, s.task_id, 0, s.peak, s.h0, s.h1, a.c, b.c, {_nulls(13)}
FROM span s
JOIN hours a ON a.dag_id = s.dag_id AND a.task_id = s.task_id AND a.hr = s.h0
JOIN hours b ON b.dag_id = s.dag_id AND b.task_id = s.task_id AND b.hr = s.h1
UNION ALL
SELECT 'R', dag_id, task_id, rn, t_arr, dur, {_nulls(16)}
FROM w WHERE rn > cnt - {RECENT_RUNS_KEPT}
"""
    return _execute(conn, statement, params)


def fold_aggregates(rows: Any, states: dict[tuple[str, str], StageState]) -> None:
    """Turn the aggregation rows into partial stage states (added to ``states``)."""
    for kind, dag_id, task_id, k, *v in rows:
        s = states.get((dag_id, task_id))
        if s is None:
            s = states[(dag_id, task_id)] = StageState(dag_id=dag_id, task_id=task_id)
        if kind == "S":
            s.runs, s.failed_runs = int(v[0]), int(v[1])
            d = s.duration
            d.count, d.total, d.total_sq = int(v[0]), float(v[2]), float(v[3])
            d.low, d.high = max(float(v[4]), 0.0), max(float(v[5]), 0.0)
            if int(v[6]):
                q = s.queue_delay
                q.count, q.total, q.total_sq = int(v[6]), float(v[7]), float(v[8])
                q.low, q.high = max(float(v[9]), 0.0), max(float(v[10]), 0.0)
            s.first_arrival, s.last_arrival = float(v[11]), float(v[12])
            s.trend_sx, s.trend_sxx, s.trend_sxy = float(v[13]), float(v[14]), float(v[15])
            s.gaps, s.gap_sq = int(v[16]), float(v[17] or 0.0)
        elif kind == "D":
            s.duration.buckets[int(k)] = int(v[0])
        elif kind == "Q":
            s.queue_delay.buckets[int(k)] = int(v[0])
        elif kind == "H":
            s.peak_hour_count, s.first_hour, s.last_hour = int(v[0]), int(v[1]), int(v[2])
            s.first_hour_count, s.last_hour_count = int(v[3]), int(v[4])
        elif kind == "R":
            s.recent.append((float(v[0]), float(v[1])))
    for state in states.values():  # the UNION's R rows arrive in no particular order
        state.recent.sort()


def earlier_tries(conn: Any, window: Window) -> Any:
    """(dag_id, task_id, earlier tries, failed earlier tries) from task_instance_history."""
    where, params = _run_filter(conn.dialect.name, window, "h")
    return _execute(conn, f"""
SELECT h.dag_id, h.task_id, COUNT(*), SUM(CASE WHEN h.state = 'failed' THEN 1 ELSE 0 END)
FROM task_instance_history h
JOIN dag_run dr ON dr.dag_id = h.dag_id AND dr.run_id = h.run_id
WHERE {where}
GROUP BY h.dag_id, h.task_id""", params)


def stage_metrics(conn: Any, window: Window, key: str) -> Any:
    """(dag_id, task_id, run_id, value) of the recorded stage metrics XComs."""
    where, params = _run_filter(conn.dialect.name, window, "x")
    params["key"] = key
    return _execute(conn, f"""
SELECT x.dag_id, x.task_id, x.run_id, x.value
FROM xcom x JOIN dag_run dr ON dr.id = x.dag_run_id
WHERE x.key = :key AND {where}""", params)
