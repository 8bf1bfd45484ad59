"""Fixtures shared by the stage-operator tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.stage_runs import stage_homes


@pytest.fixture
def cloudplan_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Private [cloudplan] audit store, plan cache, cache and replica roots."""
    for option, value in stage_homes(tmp_path).items():
        monkeypatch.setenv(f"AIRFLOW__CLOUDPLAN__{option.upper()}", str(value))
    return tmp_path


@pytest.fixture
def otel() -> Iterator[tuple[Any, Any]]:
    """In-memory span exporter and metric reader installed as the global providers."""
    from tests.runtime.conftest import memory_otel

    exporter, reader = memory_otel()
    exporter.clear()
    yield exporter, reader
