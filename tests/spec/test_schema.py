"""The committed JSON Schemas are what the models generate today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_cloudplan.spec.schema import rendered_schemas, stale_schemas, write_schemas

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"


def test_committed_schemas_are_current() -> None:
    assert stale_schemas(SCHEMA_DIR) == [], (
        "regenerate with: uv run python -m airflow_cloudplan.spec --write-schemas docs/schema"
    )


def test_schema_generation_is_reproducible_across_hash_seeds(tmp_path: Path) -> None:
    """Frozenset defaults must not make the files differ from run to run."""
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-m", "airflow_cloudplan.spec", "--write-schemas",
             str(tmp_path / seed)],
            env={"PYTHONHASHSEED": seed, "PATH": ""}, capture_output=True, text=True,
            timeout=120, check=False,
        )
        assert done.returncode == 0, done.stderr
    for name in rendered_schemas():
        assert (tmp_path / "1" / name).read_text() == (tmp_path / "2" / name).read_text()


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    assert stale_schemas(tmp_path) == []
    (tmp_path / "plan.schema.json").write_text("{}\n")
    assert stale_schemas(tmp_path) == ["plan.schema.json"]
    done = subprocess.run(
        [sys.executable, "-m", "airflow_cloudplan.spec", "--check-schemas", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 1 and "plan.schema.json" in done.stderr
