"""The SQL the metadata-DB profiler runs (SQLite and PostgreSQL dialects).

One statement does the aggregation inside the database::

    runs   one row per stage run (dag_id, task_id, run_id): map indices folded —
           arrival = first queued (else first started), duration = last end − first start,
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
from datetime import UTC, datetime
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
HOUR_KEY = 2**20
"""hour × HOUR_KEY + count packs an hour with its count, so MIN/MAX pick the boundary
hours' counts without a self-join (counts per stage-hour stay far below 2^20)."""


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
    # SQLite's date functions keep only milliseconds (and round .9995 s up into the next
    # second): whole seconds of 'YYYY-MM-DD HH:MM:SS' + the stored microseconds are exact.
    return (f"(CAST(strftime('%s', substr({column}, 1, 19)) AS REAL) "
            f"+ CAST(substr({column}, 20, 7) AS REAL))")


def _bucket(expr: str) -> str:
    return (f"CASE WHEN {expr} <= {MIN_TRACKED_S} THEN {ZERO_BUCKET} "
            f"ELSE CAST(CEIL(LN({expr}) / {LN_GAMMA!r}) AS INTEGER) END")


def _join(dialect: str, window: Window, table: str) -> str:
    """``table`` joined to ``dag_run dr`` (ON clause follows).

    An incremental read on SQLite starts from the few new dag runs (CROSS JOIN fixes
    SQLite's join order) and finds their rows through the (dag_id, run_id) indexes;
    otherwise each planner picks its own order.
    """
    if dialect == "sqlite" and window.lower is not None:
        return f"dag_run dr CROSS JOIN {table}"
    return f"{table} JOIN dag_run dr"


def _nulls(n: int) -> str:
    """Padding for UNION branches that fill fewer value columns."""
    return ", ".join(["NULL"] * n)


def _run_filter(dialect: str, window: Window, alias: str) -> tuple[str, dict[str, Any]]:
    """WHERE clause over the dag_run join: finished in (lower, upper], after since."""
    import sqlalchemy as sa

    lower, upper, since, dag_ids = window.lower, window.upper, window.since, window.dag_ids

    clauses = ["dr.end_date IS NOT NULL"]
    params: dict[str, Any] = {}
    if dialect == "postgresql":
        # Compare timestamps, not expressions, so the planner's statistics pick the join:
        # a hash join for a full read, index lookups for a nightly increment.
        end = "dr.end_date"
        convert: Any = lambda t: datetime.fromtimestamp(t, UTC)  # noqa: E731
    else:
        end = epoch(dialect, "dr.end_date")
        convert = float
    for name, value, op in (("upper", upper, "<="), ("lower", lower, ">"),
                            ("since", since, ">=")):
        if value is not None:
            clauses.append(f"{end} {op} :{name}")
            params[name] = convert(value)
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
    states = ", ".join(f"'{s}'" for s in FINAL_STATES)
    # Byte-order sorting of the partition keys: locale-aware collation doubles the sort.
    part = ('dag_id COLLATE "C", task_id COLLATE "C"' if dialect == "postgresql"
            else "dag_id, task_id")
    x = f"((t_arr - {TREND_ORIGIN_S!r}) / 86400.0)"
    statement = f"""
WITH runs AS MATERIALIZED (
  -- A deferred or human-in-the-loop task is queued again when it resumes, after it
  -- first started: its queue delay is undefined (NULL), never negative.
  SELECT dag_id, task_id, COALESCE(q0, s0) AS t_arr, e1 - s0 AS dur,
         CASE WHEN s0 >= q0 THEN s0 - q0 END AS qd, failed
  FROM (
    SELECT ti.dag_id AS dag_id, ti.task_id AS task_id,
           MIN({start}) AS s0, MAX({end}) AS e1, MIN({queued}) AS q0,
           MAX(CASE WHEN ti.state = 'failed' THEN 1 ELSE 0 END) AS failed
    FROM {_join(dialect, window, "task_instance ti")}
      ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id
    -- state || '' keeps the planners off the ti_state index (a random-access scan)
    WHERE {where} AND ti.state || '' IN ({states})
      AND ti.start_date IS NOT NULL AND ti.end_date IS NOT NULL
    GROUP BY ti.dag_id, ti.task_id, ti.run_id
  ) AS folded
), w AS MATERIALIZED (
  SELECT dag_id, task_id, t_arr, dur, qd, failed,
         t_arr - LAG(t_arr) OVER (PARTITION BY {part} ORDER BY t_arr) AS gap,
         ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY t_arr) AS rn,
         COUNT(*) OVER (PARTITION BY {part}) AS cnt,
         CAST(FLOOR(t_arr / 3600.0) AS INTEGER) AS hr
  FROM runs
), hours AS MATERIALIZED (
  SELECT dag_id, task_id, hr, COUNT(*) AS c FROM w GROUP BY dag_id, task_id, hr
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
SELECT 'H', dag_id, task_id, 0, MAX(c), MIN(hr), MAX(hr),
       MIN(CAST(hr AS BIGINT) * {HOUR_KEY} + c) - MIN(CAST(hr AS BIGINT)) * {HOUR_KEY},
       MAX(CAST(hr AS BIGINT) * {HOUR_KEY} + c) - MAX(CAST(hr AS BIGINT)) * {HOUR_KEY},
       {_nulls(13)}
FROM hours GROUP BY dag_id, task_id
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
FROM {_join(conn.dialect.name, window, "task_instance_history h")}
  ON dr.dag_id = h.dag_id AND dr.run_id = h.run_id
WHERE {where}
GROUP BY h.dag_id, h.task_id""", params)


METRIC_SUMS = ("bytes_read", "bytes_written", "rows_read", "rows_written", "read_ops",
               "write_ops", "cpu_seconds")


def _json_number(dialect: str, field: str) -> str:
    if dialect == "postgresql":
        return f"CAST(x.value ->> '{field}' AS DOUBLE PRECISION)"
    return f"CAST(json_extract(x.value, '$.{field}') AS REAL)"


def stage_metrics(conn: Any, window: Window, key: str) -> Any:
    """Recorded stage metrics (XCom ``key``) summed per stage run, then per stage.

    Rows: ('M', dag_id, task_id, runs, Σ each of METRIC_SUMS, Σ per-run peak memory,
    Σ and count of per-run accelerator utilisation) and ('P', dag_id, task_id, pattern,
    records declaring it). Map indices of one run are summed (peak memory: the max).
    """
    dialect = conn.dialect.name
    where, params = _run_filter(dialect, window, "x")
    params["key"] = key
    # From the new dag runs, reach their XComs by primary key, not by the key index.
    key_cond = "+x.key = :key" if "CROSS JOIN" in _join(dialect, window, "") else "x.key = :key"
    sums = ", ".join(f"SUM({_json_number(dialect, f)}) AS {f}" for f in METRIC_SUMS)
    outer = ", ".join(f"SUM({f})" for f in METRIC_SUMS)
    pattern = ("x.value ->> 'read_pattern'" if dialect == "postgresql"
               else "json_extract(x.value, '$.read_pattern')")
    return _execute(conn, f"""
WITH per_run AS (
  SELECT x.dag_id AS dag_id, x.task_id AS task_id, {sums},
         MAX({_json_number(dialect, "peak_memory_mb")}) AS peak,
         AVG({_json_number(dialect, "accelerator_utilisation")}) AS accel
  FROM {_join(dialect, window, "xcom x")} ON dr.id = x.dag_run_id
  WHERE {key_cond} AND {where}
  GROUP BY x.dag_id, x.task_id, x.run_id
)
SELECT 'M', dag_id, task_id, CAST(COUNT(*) AS VARCHAR(20)), {outer}, SUM(peak), SUM(accel),
       COUNT(accel)
FROM per_run GROUP BY dag_id, task_id
UNION ALL
SELECT 'P', x.dag_id, x.task_id, {pattern}, COUNT(*), {_nulls(9)}
FROM {_join(dialect, window, "xcom x")} ON dr.id = x.dag_run_id
WHERE {key_cond} AND {where} AND {pattern} IS NOT NULL
GROUP BY x.dag_id, x.task_id, {pattern}""", params)


def fold_metrics(rows: Any, states: dict[tuple[str, str], StageState]) -> None:
    """Add the stage-metrics rows to the partial states."""
    for kind, dag_id, task_id, k, *v in rows:
        s = states.get((dag_id, task_id))
        if s is None:
            s = states[(dag_id, task_id)] = StageState(dag_id=dag_id, task_id=task_id)
        if kind == "P":
            s.read_patterns[str(k)] = s.read_patterns.get(str(k), 0) + int(v[0])
            continue
        s.metrics_runs += int(k)
        for name, value in zip(METRIC_SUMS, v, strict=False):
            s.io_sums[name] = s.io_sums.get(name, 0.0) + float(value or 0.0)
        cpu = s.io_sums.pop("cpu_seconds")
        s.resource_sums["cpu_seconds"] = s.resource_sums.get("cpu_seconds", 0.0) + cpu
        s.resource_sums["peak_memory_mb"] = (s.resource_sums.get("peak_memory_mb", 0.0)
                                             + float(v[7] or 0.0))
        if int(v[9] or 0):
            s.accelerator_runs += int(v[9])
            s.resource_sums["accelerator_utilisation"] = (
                s.resource_sums.get("accelerator_utilisation", 0.0) + float(v[8] or 0.0))
