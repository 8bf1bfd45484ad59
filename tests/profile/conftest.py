"""Real metadata DBs for the profiler tests: migrated by Airflow, filled by real runs.

Each Airflow subprocess gets its own ``AIRFLOW_HOME``; PostgreSQL databases are named
``cp_profile_test_*`` and dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]

DAGS = Path(__file__).parent / "dags"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_metadb", REPO / "bench" / "gen_metadb.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_metadb"] = module  # its dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def gen() -> ModuleType:
    """``bench/gen_metadb.py`` (migrate + realistic history generator)."""
    return _generator()


def dags_test(gen: ModuleType, url: str, home: Path, logical_date: str, conf: str = "{}") -> None:
    """``airflow dags test profiled_pipeline`` in a subprocess against ``url``."""
    env = gen.airflow_env(str(home), url)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "dags", "test", "-c", conf, "profiled_pipeline", logical_date],
                   env=env, check=False, capture_output=True, timeout=300)


def _fill_with_dag_runs(gen: ModuleType, url: str, home: Path) -> None:
    gen.migrate(url)
    dags_test(gen, url, home, "2024-03-01")
    dags_test(gen, url, home, "2024-03-02")
    dags_test(gen, url, home, "2024-03-03", conf='{"fail_publish": true}')


@pytest.fixture(scope="module")
def sqlite_runs_db(gen: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite metadata DB with three real runs of ``profiled_pipeline``."""
    home = tmp_path_factory.mktemp("airflow-sqlite")
    url = f"sqlite:///{home / 'airflow.db'}"
    _fill_with_dag_runs(gen, url, home)
    return url


def _pg_database(admin_url: str, prefix: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"cp_profile_test_{prefix}_{uuid.uuid4().hex[:8]}"
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    yield url
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def pg_runs_db(gen: ModuleType, postgres_admin_url: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL metadata DB with three real runs of ``profiled_pipeline``."""
    for url in _pg_database(postgres_admin_url, "runs"):
        _fill_with_dag_runs(gen, url, tmp_path_factory.mktemp("airflow-pg"))
        yield url


@pytest.fixture(scope="module")
def pg_empty_db(gen: ModuleType, postgres_admin_url: str) -> Iterator[str]:
    """A migrated PostgreSQL metadata DB without any history."""
    for url in _pg_database(postgres_admin_url, "empty"):
        gen.migrate(url)
        yield url


@pytest.fixture(scope="module")
def pg_generated_db(gen: ModuleType, postgres_admin_url: str) -> Iterator[str]:
    """A PostgreSQL metadata DB filled by the generator (a few thousand task instances)."""
    for url in _pg_database(postgres_admin_url, "gen"):
        gen.migrate(url)
        gen.load(url, 4000, 4, 3, append=False)
        yield url


@pytest.fixture(scope="module")
def sqlite_generated_db(gen: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite metadata DB filled by the generator (a few thousand task instances)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('gen') / 'airflow.db'}"
    gen.migrate(url)
    gen.load(url, 4000, 4, 3, append=False)
    return url
