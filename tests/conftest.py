"""Shared test fixtures.

Airflow reads its configuration at import time, so this module points ``AIRFLOW_HOME``
at a private temporary directory (SQLite metadata DB, no examples) *before* any test
imports Airflow. Tests that need a migrated metadata DB use the ``airflow_db`` fixture.

Public data under ``../shared/data`` is optional: tests that read it use ``shared_data``
and skip with a stated reason when it is absent, unless ``CLOUDPLAN_SHARED_DATA`` names
the folder explicitly (as ``.ci/run`` does), in which case a missing folder fails.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="cloudplan-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
os.environ.setdefault("NO_PROXY", "*")


def shared_data_dir() -> Path | None:
    """The public data folder, or ``None`` when it is not on this machine."""
    explicit = os.environ.get("CLOUDPLAN_SHARED_DATA")
    if explicit:
        return Path(explicit)
    default = REPO.parent / "shared" / "data"
    return default if default.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of public traces/prices; skips (or fails under CI) when absent."""
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("public data folder ../shared/data is not present (set CLOUDPLAN_SHARED_DATA)")
    if not folder.is_dir():
        pytest.fail(f"CLOUDPLAN_SHARED_DATA={folder} is not a directory")
    return folder


def postgres_available(host: str = "127.0.0.1", port: int = 5432) -> bool:
    """True when a PostgreSQL server answers on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """Admin URL of the local PostgreSQL server (skip, or fail under CI, when down)."""
    if not postgres_available():
        if os.environ.get("CLOUDPLAN_REQUIRE_SERVICES"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    return "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A migrated SQLite Airflow metadata DB for this test session; yields AIRFLOW_HOME."""
    from airflow.utils import db

    db.resetdb(skip_init=False)
    yield _AIRFLOW_HOME


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
