"""``cloudplan profile``: sources, output file, incremental state, errors as exit code 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_cloudplan.cli import main
from airflow_cloudplan.commands.profile import parse_since
from airflow_cloudplan.model.workload import ProfileSet


def test_parse_since_spans_and_dates() -> None:
    now = datetime(2024, 6, 30, tzinfo=UTC)
    assert parse_since("30d", now) == now - timedelta(days=30)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("2024-06-01", now) == datetime(2024, 6, 1, tzinfo=UTC)
    assert parse_since(None, now) is None


def test_trace_to_out_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("gmt_create,exec_time_seconds,groupId,predict_status\n"
                     "2024-01-01 00:00:00,10,G1,SUCCEED\n2024-01-01 00:01:00,12,G1,FAILED\n")
    out = tmp_path / "profiles.json"
    assert main(["profile", "--trace", str(trace), "--out", str(out)]) == 0
    profiles = ProfileSet.model_validate_json(out.read_text())
    (p,) = profiles.profiles
    assert p.n_runs == 2 and p.failure_rate == 0.5 and p.source == "trace"
    assert "profiles written" in capsys.readouterr().err


def test_db_errors_are_rendered_not_raised(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["profile", "--db", f"sqlite:///{tmp_path / 'missing.db'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "SQLite metadata DB not found" in err and "Fix:" in err


def test_bad_since_and_state_without_db(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--trace", "x.csv", "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["profile", "--trace", "x.csv", "--state", str(tmp_path / "s")]) == 2


@pytest.mark.slow
def test_db_with_state_is_incremental(tmp_path: Path) -> None:
    import importlib.util
    import sys

    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen_metadb", repo / "bench" / "gen_metadb.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    sys.modules["gen_metadb"] = gen
    spec.loader.exec_module(gen)
    url = f"sqlite:///{tmp_path / 'airflow.db'}"
    gen.migrate(url)
    gen.load(url, 1500, 3, 5, append=False)
    state, out = tmp_path / "state.json", tmp_path / "p.json"
    args = ["profile", "--db", url, "--state", str(state), "--out", str(out), "--quiet"]
    assert main(args) == 0
    first = ProfileSet.model_validate_json(out.read_text())
    watermark = json.loads(state.read_text())["watermark"]
    gen.load(url, 300, 3, 5, append=True)
    assert main(args) == 0
    second = ProfileSet.model_validate_json(out.read_text())
    assert json.loads(state.read_text())["watermark"] > watermark
    assert sum(p.n_runs for p in second.profiles) > sum(p.n_runs for p in first.profiles)
