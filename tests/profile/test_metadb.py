"""The metadata-DB profiler against real SQLite and PostgreSQL metadata DBs.

Reference values are computed here by hand from the raw rows (plain SELECTs, folding map
indices in Python, nearest-rank percentiles) and compared with what the profiler's SQL
aggregation and sketches report.
"""

from __future__ import annotations

import itertools
import math
import shutil
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from airflow_cloudplan.errors import ProfileError
from airflow_cloudplan.model.workload import Archetype, ProfileSet
from airflow_cloudplan.profile import ProfileState, profile_metadb
from airflow_cloudplan.profile.sketch import RELATIVE_ACCURACY
from tests.conftest import free_port

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _dt(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def hand_computed(url: str) -> dict[tuple[str, str], dict[str, float]]:
    """Per stage, from raw rows: runs, failures, durations, retries, arrival gaps."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    runs: dict[tuple[str, str, str], dict[str, object]] = {}
    tries: dict[tuple[str, str], int] = defaultdict(int)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT ti.dag_id, ti.task_id, ti.run_id, ti.start_date, ti.end_date, "
            "ti.queued_dttm, ti.state FROM task_instance ti JOIN dag_run dr "
            "ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id "
            "WHERE dr.end_date IS NOT NULL AND ti.state IN ('success', 'failed')")
        for dag_id, task_id, run_id, start, end, queued, state in rows:
            r = runs.setdefault((dag_id, task_id, run_id), {"s": [], "e": [], "q": [], "f": 0})
            r["s"].append(_dt(start))  # type: ignore[union-attr]
            r["e"].append(_dt(end))  # type: ignore[union-attr]
            if queued is not None:
                r["q"].append(_dt(queued))  # type: ignore[union-attr]
            r["f"] = max(int(r["f"]), int(state == "failed"))  # type: ignore[call-overload]
        for dag_id, task_id in conn.exec_driver_sql(
                "SELECT h.dag_id, h.task_id FROM task_instance_history h JOIN dag_run dr "
                "ON dr.dag_id = h.dag_id AND dr.run_id = h.run_id WHERE dr.end_date IS NOT NULL"):
            tries[(dag_id, task_id)] += 1
    engine.dispose()
    stages: dict[tuple[str, str], list[tuple[float, float, int]]] = defaultdict(list)
    for (dag_id, task_id, _), r in runs.items():
        s0, e1 = min(r["s"]), max(r["e"])  # type: ignore[type-var]
        arrival = min(r["q"]) if r["q"] else s0  # type: ignore[type-var]
        stages[(dag_id, task_id)].append(
            (arrival.timestamp(), (e1 - s0).total_seconds(), int(r["f"])))  # type: ignore[operator, call-overload]
    out = {}
    for key, items in stages.items():
        items.sort()
        durations = sorted(d for _, d, _ in items)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(items)]
        out[key] = {
            "n": len(items), "mean": statistics.fmean(durations),
            "p50": nearest_rank(durations, 0.5), "p95": nearest_rank(durations, 0.95),
            "max": durations[-1],
            "failure_rate": sum(f for *_, f in items) / len(items),
            "retries": tries[key] / len(items),
            "cv2": (statistics.pvariance(gaps) / statistics.fmean(gaps) ** 2) if gaps else -1.0,
        }
    return out


def assert_matches_hand_computed(profiles: ProfileSet, url: str) -> None:
    expected = hand_computed(url)
    assert {(p.dag_id, p.task_id) for p in profiles.profiles} == set(expected)
    for p in profiles.profiles:
        e = expected[(p.dag_id, p.task_id)]
        assert p.n_runs == e["n"]
        assert p.duration is not None
        assert p.duration.mean_s == pytest.approx(e["mean"], rel=1e-6, abs=1e-4)
        assert p.duration.max_s == pytest.approx(e["max"], rel=1e-6, abs=1e-4)
        for q in ("p50", "p95"):
            assert getattr(p.duration, f"{q}_s") == pytest.approx(
                e[q], rel=RELATIVE_ACCURACY * 1.001, abs=2e-3), (p.task_id, q)
        assert p.failure_rate == pytest.approx(e["failure_rate"])
        assert p.retries_per_run == pytest.approx(e["retries"])
        if e["cv2"] >= 0:
            assert p.arrivals is not None
            assert p.arrivals.cv2 == pytest.approx(e["cv2"], rel=1e-4, abs=1e-6)


# --- filled by real `airflow dags test` runs ---------------------------------------------

def _check_dag_test_history(url: str) -> None:
    profiles = profile_metadb(url)
    assert_matches_hand_computed(profiles, url)
    by_task = {p.task_id: p for p in profiles.profiles}
    assert set(by_task) == {"extract", "transform", "flaky", "publish"}
    assert by_task["transform"].n_runs == 3  # three map indices per run folded into one
    assert by_task["flaky"].retries_per_run == 1.0  # the first try always fails
    assert by_task["publish"].failure_rate == pytest.approx(1 / 3)
    extract = by_task["extract"]
    assert extract.archetype is Archetype.LARGE_SEQUENTIAL
    assert extract.io is not None and extract.io.bytes_read == 64 * 2**20
    assert extract.resources is not None and extract.resources.peak_memory_mb == 120.0
    assert any("declared read pattern large_sequential" in e for e in extract.archetype_evidence)
    assert extract.queue_delay is None and "dags test" in extract.note
    assert extract.prediction is not None and extract.prediction.support == 3


def test_sqlite_dag_test_history_matches_hand_computed(sqlite_runs_db: str) -> None:
    _check_dag_test_history(sqlite_runs_db)


@pytest.mark.postgres
def test_postgres_dag_test_history_matches_hand_computed(pg_runs_db: str) -> None:
    _check_dag_test_history(pg_runs_db)


def test_dag_filter_and_json_round_trip(sqlite_runs_db: str) -> None:
    profiles = profile_metadb(sqlite_runs_db, dag_ids=["profiled_pipeline"])
    assert ProfileSet.model_validate_json(profiles.model_dump_json()) == profiles
    none = profile_metadb(sqlite_runs_db, dag_ids=["no_such_dag"])
    (only,) = none.profiles
    assert only.n_runs == 0 and "no history" in only.note


# --- filled by the generator ---------------------------------------------------------------

def _check_generated(gen: ModuleType, url: str, tmp_path: Path) -> None:
    state = ProfileState()
    profile_metadb(url, state=state)
    assert_matches_hand_computed(profile_metadb(url), url)
    gen.load(url, 600, 4, 3, append=True)
    incremental = profile_metadb(url, state=state)
    assert_matches_hand_computed(incremental, url)
    state.save(tmp_path / "state.json")
    assert ProfileState.load(tmp_path / "state.json") == state
    with_queue = [p for p in incremental.profiles if p.queue_delay is not None]
    assert with_queue and all(p.arrivals is not None for p in incremental.profiles)
    assert any(p.io is not None and p.archetype is not None for p in incremental.profiles)


def test_sqlite_generated_history_full_and_incremental(
        gen: ModuleType, sqlite_generated_db: str, tmp_path: Path) -> None:
    _check_generated(gen, sqlite_generated_db, tmp_path)


@pytest.mark.postgres
def test_postgres_generated_history_full_and_incremental(
        gen: ModuleType, pg_generated_db: str, tmp_path: Path) -> None:
    _check_generated(gen, pg_generated_db, tmp_path)


# --- errors --------------------------------------------------------------------------------

@pytest.mark.postgres
def test_empty_history_is_an_explicit_no_history_profile(pg_empty_db: str) -> None:
    profiles = profile_metadb(pg_empty_db)
    (only,) = profiles.profiles
    assert only.n_runs == 0 and "no history" in only.note
    assert profiles.watermark is None


def test_unreachable_database() -> None:
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/airflow"
    with pytest.raises(ProfileError, match="unreachable") as err:
        profile_metadb(url)
    assert "server is running" in err.value.render()


@pytest.mark.postgres
def test_wrong_credentials(postgres_admin_url: str) -> None:
    url = postgres_admin_url.replace("postgres@", "cp_profile_no_such_role@")
    with pytest.raises(ProfileError, match="credentials") as err:
        profile_metadb(url)
    assert "cloudplan_metadb" in err.value.render()


def test_unsupported_schema_version(sqlite_runs_db: str, tmp_path: Path) -> None:
    import sqlite3

    copy = tmp_path / "old.db"
    shutil.copy(sqlite_runs_db.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '22ed7efa9da2'")  # Airflow 2.x
    with pytest.raises(ProfileError, match="unsupported Airflow metadata schema") as err:
        profile_metadb(f"sqlite:///{copy}")
    assert "22ed7efa9da2" in err.value.render() and "airflow db migrate" in err.value.render()


def test_missing_file_and_not_an_airflow_db(tmp_path: Path) -> None:
    import sqlite3

    with pytest.raises(ProfileError, match="not found"):
        profile_metadb(f"sqlite:///{tmp_path / 'nope.db'}")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x INTEGER)").connection.close()
    with pytest.raises(ProfileError, match="not an Airflow 3 metadata DB"):
        profile_metadb(f"sqlite:///{other}")


def test_reader_never_writes(sqlite_runs_db: str) -> None:
    path = Path(sqlite_runs_db.removeprefix("sqlite:///"))
    before = path.stat().st_mtime_ns
    profile_metadb(sqlite_runs_db)
    assert path.stat().st_mtime_ns == before


def test_resumed_task_has_no_negative_queue_delay(sqlite_runs_db: str, tmp_path: Path) -> None:
    """A deferred/HITL task is queued again after it first started: no negative delay."""
    import sqlite3

    copy = tmp_path / "resumed.db"
    shutil.copy(sqlite_runs_db.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE task_instance SET queued_dttm = datetime(start_date, '+30 seconds') "
                      "WHERE task_id = 'extract'")
        conn.execute("UPDATE task_instance SET queued_dttm = datetime(start_date, '-2 seconds') "
                      "WHERE task_id = 'publish'")
    profiles = {p.task_id: p for p in profile_metadb(f"sqlite:///{copy}").profiles}
    assert profiles["extract"].queue_delay is None  # undefined, not -30 s
    publish = profiles["publish"].queue_delay
    # datetime() drops the fraction of a second: the delay is 2 s plus that fraction
    assert publish is not None and 2.0 <= publish.mean_s < 3.0
