"""Fill a real Airflow 3 metadata DB with realistic task-instance history.

Usage::

    python bench/gen_metadb.py \
        --db postgresql+psycopg2://postgres@127.0.0.1:5432/cp_profiler_bench \
        [--rows 1000000] [--dags 50] [--seed 7] [--migrate] [--append]
    python bench/gen_metadb.py --db sqlite:////tmp/bench/airflow.db --migrate

``--migrate`` creates the database (PostgreSQL: ``CREATE DATABASE``; SQLite: the file)
and runs ``airflow db migrate`` in a subprocess with its own temporary ``AIRFLOW_HOME``,
so the schema is Airflow's real one. ``--append`` adds runs after the newest existing
ones (the nightly increment). Bulk loads use COPY on PostgreSQL, executemany on SQLite.

The history: ~50 DAGs with 4–24 tasks each, schedules from every 15 minutes to daily,
some tasks mapped (2–8 map indices), log-normal durations with a slow drift, 1–4%
failing tries with retries (earlier tries go to ``task_instance_history``), scheduler
queue delays, and stage metrics in XCom for the stage-operator tasks.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

STAGE_METRICS_XCOM_KEY = "cloudplan_stage_metrics"
KINDS = ("extract", "transform", "train", "score", "load")
PATTERNS = ("large_sequential", "random_read", "stream_append", "mixed")
TI_COLS = ("id", "task_id", "dag_id", "run_id", "map_index", "start_date", "end_date",
           "duration", "state", "try_number", "max_tries", "hostname", "unixname", "pool",
           "pool_slots", "queue", "priority_weight", "operator", "queued_dttm",
           "scheduled_dttm", "updated_at", "span_status")
TIH_COLS = ("task_instance_id", "task_id", "dag_id", "run_id", "map_index", "try_number",
            "start_date", "end_date", "duration", "state", "max_tries", "hostname",
            "unixname", "pool", "pool_slots", "queue", "priority_weight", "operator",
            "queued_dttm", "scheduled_dttm", "updated_at", "span_status")
DR_COLS = ("id", "dag_id", "queued_at", "logical_date", "start_date", "end_date", "state",
           "run_id", "run_type", "data_interval_start", "data_interval_end", "run_after",
           "created_at", "updated_at", "clear_number", "span_status")
XCOM_COLS = ("dag_run_id", "task_id", "map_index", "key", "dag_id", "run_id", "value",
             "timestamp")


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    median_s: float
    sigma: float
    drift_per_day: float
    fail_p: float
    retries: int
    mapped: int
    records_metrics: bool
    pattern: str
    upstream: int


@dataclass(frozen=True)
class DagSpec:
    dag_id: str
    interval: timedelta
    tasks: tuple[TaskSpec, ...]


def make_dags(n_dags: int, rng: random.Random) -> list[DagSpec]:
    intervals = [timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1),
                 timedelta(hours=6), timedelta(days=1)]
    dags = []
    for d in range(n_dags):
        tasks = []
        for t in range(rng.randint(4, 24)):
            tasks.append(TaskSpec(
                task_id=f"t{t:02d}_{rng.choice(KINDS)}",
                median_s=math.exp(rng.uniform(math.log(2), math.log(600))),
                sigma=rng.uniform(0.05, 0.6),
                drift_per_day=rng.uniform(-0.002, 0.01),
                fail_p=rng.choice([0.0, 0.01, 0.02, 0.04]),
                retries=rng.choice([0, 1, 2]),
                mapped=rng.choice([0, 0, 0, 0, 2, 4, 8]),
                records_metrics=rng.random() < 0.35,
                pattern=rng.choice(PATTERNS),
                upstream=max(t - 1, -1),
            ))
        dags.append(DagSpec(f"pipeline_{d:02d}", rng.choice(intervals), tuple(tasks)))
    return dags


def tis_per_run(dag: DagSpec) -> int:
    return sum(max(t.mapped, 1) for t in dag.tasks)


class Rows:
    """Collected rows of one batch, per table."""

    def __init__(self) -> None:
        self.dag_run: list[tuple[object, ...]] = []
        self.ti: list[tuple[object, ...]] = []
        self.tih: list[tuple[object, ...]] = []
        self.xcom: list[tuple[object, ...]] = []


def _ts(moment: datetime, sqlite: bool) -> str:
    if sqlite:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment.isoformat()


def generate(dags: list[DagSpec], n_ti: int, end: datetime, first_run_id: int,  # noqa: PLR0917
             rng: random.Random, sqlite: bool, tag: str) -> Iterator[Rows]:
    """Yield row batches for about ``n_ti`` task instances; the newest run ends near ``end``."""
    weight = sum(tis_per_run(d) for d in dags)
    run_pk = first_run_id
    for dag in dags:
        n_runs = max(1, round(n_ti * tis_per_run(dag) / weight / tis_per_run(dag)))
        first = end - dag.interval * n_runs
        batch = Rows()
        for r in range(n_runs):
            logical = first + dag.interval * r
            run_pk += 1
            run_id = f"scheduled__{tag}{logical.isoformat()}"
            queued_at = logical + timedelta(seconds=rng.uniform(0.5, 5))
            clock = queued_at + timedelta(seconds=rng.uniform(0.5, 3))
            run_start = clock
            failed_run = False
            days = (logical - end).total_seconds() / 86400  # ≤ 0: drift towards today
            for t in dag.tasks:
                n_map = max(t.mapped, 1)
                stage_end = clock
                for m in range(n_map):
                    queued = clock + timedelta(seconds=rng.expovariate(1 / 2.0))
                    start = queued + timedelta(seconds=rng.expovariate(1 / 4.0))
                    tries = 1
                    while tries <= t.retries and rng.random() < t.fail_p:
                        dur = rng.lognormvariate(math.log(t.median_s), t.sigma) * 0.3
                        fin = start + timedelta(seconds=dur)
                        batch.tih.append((uuid.uuid4().hex, t.task_id, dag.dag_id, run_id,
                                          m if t.mapped else -1, tries, _ts(start, sqlite),
                                          _ts(fin, sqlite), dur, "failed", t.retries, "worker",
                                          "airflow", "default_pool", 1, "default", 1,
                                          "PythonOperator", _ts(queued, sqlite),
                                          _ts(queued, sqlite), _ts(fin, sqlite), "ended"))
                        queued = fin + timedelta(seconds=rng.uniform(1, 30))
                        start = queued + timedelta(seconds=rng.expovariate(1 / 4.0))
                        tries += 1
                    final_fail = rng.random() < t.fail_p * 0.25
                    failed_run = failed_run or final_fail
                    dur = rng.lognormvariate(math.log(t.median_s) + t.drift_per_day * days,
                                             t.sigma)
                    fin = start + timedelta(seconds=dur)
                    stage_end = max(stage_end, fin)
                    state = "failed" if final_fail else "success"
                    batch.ti.append((uuid.uuid4().hex, t.task_id, dag.dag_id, run_id,
                                     m if t.mapped else -1, _ts(start, sqlite), _ts(fin, sqlite),
                                     dur, state, tries, t.retries, "worker", "airflow",
                                     "default_pool", 1, "default", 1, "PythonOperator",
                                     _ts(queued, sqlite), _ts(queued, sqlite), _ts(fin, sqlite),
                                     "ended"))
                    if t.records_metrics:
                        size = rng.lognormvariate(math.log(2**30), 0.3)
                        per_op = {"large_sequential": 16 * 2**20, "random_read": 64 * 2**10,
                                  "stream_append": 4 * 2**20, "mixed": 2**20}[t.pattern]
                        metrics = {
                            "pipeline": dag.dag_id, "stage": t.task_id, "kind": "transform",
                            "duration_s": dur, "bytes_read": size,
                            "bytes_written": size * (4 if t.pattern == "stream_append" else 0.3),
                            "read_ops": size / per_op,
                            "write_ops": size * 4 / (64 * 2**10)
                            if t.pattern == "stream_append" else 16,
                            "read_pattern": t.pattern, "cpu_seconds": dur * 0.8,
                            "peak_memory_mb": rng.uniform(200, 4000)}
                        batch.xcom.append((run_pk, t.task_id, m if t.mapped else -1,
                                           STAGE_METRICS_XCOM_KEY, dag.dag_id, run_id,
                                           json.dumps(metrics), _ts(fin, sqlite)))
                clock = stage_end
            batch.dag_run.append((run_pk, dag.dag_id, _ts(queued_at, sqlite), _ts(logical, sqlite),
                                  _ts(run_start, sqlite), _ts(clock, sqlite),
                                  "failed" if failed_run else "success", run_id, "scheduled",
                                  _ts(logical - dag.interval, sqlite), _ts(logical, sqlite),
                                  _ts(logical, sqlite), _ts(queued_at, sqlite), _ts(clock, sqlite),
                                  0, "ended"))
            if len(batch.ti) >= 50_000:
                yield batch
                batch = Rows()
        yield batch


def airflow_env(home: str, url: str) -> dict[str, str]:
    """Environment for an Airflow subprocess with its own home and metadata DB.

    Airflow derives an async URL from the sync one (asyncpg for PostgreSQL, which is not
    installed here); migrations and ``dags test`` do not use it, so it points at SQLite.
    """
    return {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"sqlite+aiosqlite:///{home}/async.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False"}


def migrate(url: str) -> None:
    """Create the database and run Airflow's real migrations in a subprocess."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
        admin.dispose()
    else:
        Path(parsed.database or "").unlink(missing_ok=True)
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cp-gen-airflow-") as home:
        env = airflow_env(home, url)
        airflow = Path(sys.executable).parent / "airflow"
        subprocess.run([str(airflow), "db", "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _copy(cur: object, table: str, cols: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)", buf)  # type: ignore[attr-defined]


def load(url: str, n_ti: int, n_dags: int, seed: int, append: bool) -> dict[str, int]:
    """Insert the generated history; returns row counts per table."""
    rng = random.Random(seed + (1 if append else 0))
    dags = make_dags(n_dags, random.Random(seed))
    engine = sa.create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    counts = {"dag_run": 0, "task_instance": 0, "task_instance_history": 0, "xcom": 0}
    with engine.begin() as conn:
        max_id = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM dag_run").scalar() or 0
        end = datetime.now(UTC) - timedelta(days=1)
        tag = ""
        if append:  # new runs finish after everything already there, as in real life
            newest = conn.exec_driver_sql("SELECT MAX(end_date) FROM dag_run").scalar()
            if isinstance(newest, str):
                newest = datetime.fromisoformat(newest).replace(tzinfo=UTC)
            per_dag = n_ti / max(n_dags, 1)
            end = (newest or end) + timedelta(days=2) + timedelta(minutes=per_dag)
            tag = f"inc{max_id}_"
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()  # type: ignore[union-attr]
        for batch in generate(dags, n_ti, end, int(max_id), rng, sqlite, tag):
            for table, cols, rows in (("dag_run", DR_COLS, batch.dag_run),
                                      ("task_instance", TI_COLS, batch.ti),
                                      ("task_instance_history", TIH_COLS, batch.tih),
                                      ("xcom", XCOM_COLS, batch.xcom)):
                if not rows:
                    continue
                if sqlite:
                    marks = ", ".join("?" * len(cols))
                    cur.executemany(f'INSERT INTO {table} ({", ".join(cols)}) VALUES ({marks})',
                                    rows)
                else:
                    _copy(cur, table, tuple(c if c != "key" else '"key"' for c in cols), rows)
                counts[table] += len(rows)
    if not sqlite:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine.dispose()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the metadata DB")
    parser.add_argument("--rows", type=int, default=1_000_000, help="task instances to add")
    parser.add_argument("--dags", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--migrate", action="store_true", help="(re)create and migrate first")
    parser.add_argument("--append", action="store_true", help="add runs after the newest")
    args = parser.parse_args(argv)
    if args.migrate:
        migrate(args.db)
    counts = load(args.db, args.rows, args.dags, args.seed, args.append)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
