"""``cloudplan plans``: put stores what the DAG stores; options after the verb; a missing
store is named; units as in the UI; a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.cli import main
from airflow_cloudplan.model import PlanResult
from airflow_cloudplan.replan import compose_for_store
from airflow_cloudplan.report.units import fmt_cost, fmt_latency
from airflow_cloudplan.store import open_store, plan_version
from tests.report.sample_plans import ml_plan, previous_ml_plan
from tests.runops.conftest import REPO, example_input, hand_plan

SPEC = REPO / "docs" / "examples" / "ml_pipeline.yaml"


@pytest.fixture
def raw_plan(tmp_path: Path) -> Path:
    """A plan.json as `cloudplan plan` writes it: no Airflow settings yet."""
    inp = example_input("ml_pipeline", load_catalog())
    out = tmp_path / "plan"
    out.mkdir()
    (out / "plan.json").write_text(hand_plan(inp).model_dump_json())
    return out / "plan.json"


@pytest.fixture
def sample_store(tmp_path: Path) -> Path:
    store = open_store(tmp_path / "store")
    old, new = previous_ml_plan(), ml_plan()
    store.put(old)
    store.put(new)
    store.activate(old.pipeline, plan_version(old), expected=None)
    return tmp_path / "store"


def test_put_refuses_an_uncomposed_plan_and_names_the_fix(
        raw_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plans", "put", str(raw_plan), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "plan.airflow is empty" in err and f"cloudplan compose {raw_plan}" in err
    assert not (tmp_path / "s").exists()  # nothing half-stored


def test_compose_then_put_stores_exactly_what_the_dag_stores(
        raw_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compose", str(raw_plan), "--spec", str(SPEC)]) == 0
    out = capsys.readouterr().out
    assert f"next: cloudplan plans put {raw_plan}" in out
    composed = PlanResult.model_validate_json(raw_plan.read_text())
    assert composed.airflow is not None and composed.airflow.pools
    # the planning DAG's path: same settings, same version, same artifacts
    inp = example_input("ml_pipeline", load_catalog())
    dag_way = compose_for_store(PlanResult.model_validate_json(
        composed.model_copy(update={"airflow": None}).model_dump_json()), inp,
        tmp_path / "dag-artifacts")
    assert plan_version(dag_way) == plan_version(composed)

    store_dir = tmp_path / "store"
    assert main(["plans", "put", str(raw_plan), "--store", str(store_dir)]) == 0
    out = capsys.readouterr().out
    version = plan_version(composed)
    assert f"stored example_ml_pipeline version {version}" in out
    assert out.strip().splitlines()[-1] == f"next: cloudplan apply {version[:12]}"
    store = open_store(store_dir)
    assert store.get(version) == composed
    stored = set(store.artifacts(version))
    made = {p.relative_to(tmp_path / "dag-artifacts").as_posix()
            for p in (tmp_path / "dag-artifacts").rglob("*") if p.is_file()}
    assert stored == made
    assert [e.event for e in store.history(composed.pipeline)] == ["stored"]
    # idempotent: the same plan again is recognised, not stored twice
    assert main(["plans", "put", str(raw_plan), "--store", str(store_dir)]) == 0
    assert "already stored" in capsys.readouterr().out
    assert [e.event for e in store.history(composed.pipeline)] == ["stored"]


def test_put_refuses_artifacts_of_another_version(
        raw_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compose", str(raw_plan), "--spec", str(SPEC)]) == 0
    plan = PlanResult.model_validate_json(raw_plan.read_text())
    raw_plan.write_text(plan.model_copy(update={"notes": ("edited",)}).model_dump_json())
    capsys.readouterr()
    assert main(["plans", "put", str(raw_plan), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "were composed for version" in err and "cloudplan compose" in err


def test_plan_compose_writes_a_storable_plan(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["plan", str(SPEC), "--out", str(out), "--compose", "--max-points", "3",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.strip().splitlines()[-1] == f"next: cloudplan plans put {out / 'plan.json'}"
    assert main(["plans", "put", str(out / "plan.json"), "--store", str(tmp_path / "s")]) == 0


def test_store_option_after_the_verb(sample_store: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plans", "list", "--store", str(sample_store)]) == 0
    after = capsys.readouterr().out
    assert main(["plans", "--store", str(sample_store), "list"]) == 0
    assert capsys.readouterr().out == after
    assert main(["plans", "show", plan_version(ml_plan())[:8], "--store",
                 str(sample_store)]) == 0


def test_missing_store_is_named_with_the_setting_to_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    for argv in (["plans", "list", "--store", str(missing)],
                 ["plans", "show", "abcdef", "--store", str(missing)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"no plan store at {missing}" in err
        assert "set [cloudplan] plan_store or --store" in err


def test_store_comes_from_airflow_cfg(sample_store: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "airflow_home"
    home.mkdir()
    (home / "airflow.cfg").write_text(f"[cloudplan]\nplan_store = {sample_store}\n")
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    monkeypatch.delenv("CLOUDPLAN_PLAN_STORE", raising=False)
    monkeypatch.delenv("AIRFLOW__CLOUDPLAN__PLAN_STORE", raising=False)
    assert main(["plans", "list"]) == 0
    assert plan_version(ml_plan())[:12] in capsys.readouterr().out


def test_list_and_diff_print_units_not_raw_milliseconds(
        sample_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new, old = ml_plan(), previous_ml_plan()
    assert main(["plans", "list", "--store", str(sample_store)]) == 0
    listing = capsys.readouterr().out
    for plan in (new, old):
        o = plan.recommendation.objectives
        assert fmt_latency(o.latency_ms) in listing and fmt_cost(o.cost_usd_month) in listing
        assert f"{o.latency_ms:,.0f}" not in listing
    assert main(["plans", "diff", plan_version(old)[:10], plan_version(new)[:10],
                 "--store", str(sample_store)]) == 0
    diff = capsys.readouterr().out
    assert fmt_latency(new.recommendation.objectives.latency_ms) in diff
    assert "latency_ms" not in diff
    assert not re.search(r"\d{6,}", diff.replace(",", "")), diff


def test_closed_pipe_ends_quietly(sample_store: Path) -> None:
    # `cloudplan plans show VERSION | head -1`: the reader goes away after one line.
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_cloudplan", "plans", "show",
         plan_version(ml_plan())[:12], "--store", str(sample_store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    _out, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert proc.returncode == 0


def test_list_json_is_unchanged_raw_numbers(sample_store: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plans", "list", "--json", "--store", str(sample_store)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["latency_ms"] for r in rows} == {
        p.recommendation.objectives.latency_ms for p in (ml_plan(), previous_ml_plan())}
