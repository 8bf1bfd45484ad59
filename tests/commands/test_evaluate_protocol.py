"""``cloudplan evaluate-protocol``: your own pipeline, the plan store, bad input, and a
reduced regeneration of docs/evaluation.md compared with the committed one by structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from airflow_cloudplan.cli import main
from airflow_cloudplan.simulate.protocol.report import section_titles
from airflow_cloudplan.simulate.protocol.run import Evaluation
from tests.conftest import REPO

SPEC = """\
name: tiny_eval
provider: aws
candidate_regions: [us-east-1]
datasets:
  - {name: model, uri: "s3://t/model/", size: 2GB, home_region: us-east-1}
stages:
  - name: score
    kind: batch_inference
    reads: [model]
    compute: {vcpu_seconds: 1800, memory_gib: 4}
    load: {runs_per_day: 4}
    slo: {deadline_minutes: 30}
    instance_types: [m7i.large, m7i.xlarge]
    tiers: [vm]
  - name: serve
    kind: serve
    mode: online
    reads: [model]
    compute: {service_ms_per_request: 200, memory_gib: 4}
    load: {mean_rps: 5, cv2: 1.5, peak_to_mean: 2}
    slo: {p95_ms: 1500}
    instance_types: [m7i.large, m7i.xlarge]
    tiers: [vm, container]
edges:
  - score -> serve: 1GB
"""


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.exponential(0.2, 9000))
    arrivals = tmp_path / "requests.csv"
    arrivals.write_text("ts,svc\n" + "".join(
        f"{1_700_000_000 + t:.3f},{s:.4f}\n"
        for t, s in zip(times, rng.lognormal(np.log(0.15), 0.5, len(times)), strict=True)))
    return spec, arrivals


def _run(args: list[str]) -> int:
    return main(["evaluate-protocol", "--quiet", "--seeds", "0", *args])


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_own_pipeline_is_planned_simulated_and_reported_deterministically(tmp_path: Path,
                                                                          capsys) -> None:
    spec, arrivals = _inputs(tmp_path)
    args = ["--spec", str(spec), "--arrivals", str(arrivals), "--arrival-column", "ts",
            "--service-column", "svc"]
    assert _run([*args, "--out", str(tmp_path / "a")]) == 0
    assert _run([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a == b  # same seeds, same bytes
    assert {"evaluation.md", "evaluation.json", "img/evaluation/tiny_eval-latency-cdf.svg",
            "img/evaluation/tiny_eval-cost.svg",
            "img/evaluation/tiny_eval-slo-over-time.svg"} <= set(a)
    ev = Evaluation.model_validate_json(a["evaluation.json"])
    (sc,) = ev.scenarios
    assert sc.stage == "serve" and sc.mode == "online"
    assert [p.label for p in sc.plans] == ["recommended", "compute-centric", "locality-only",
                                           "rules-based-autoscaling"]
    rec = sc.plans[0]
    assert rec.sim["cost_total"].mean > 0 and rec.readiness is not None
    assert len(sc.frontier) >= 1 and len(sc.dominance) == 3
    md = a["evaluation.md"].decode()
    assert "### Table 4" in md and "requests.csv" in md
    assert "wall time" in capsys.readouterr().out


def test_a_stored_plan_version_is_evaluated_and_the_evaluation_kept_with_it(tmp_path: Path
                                                                            ) -> None:
    from airflow_cloudplan.model.plan import PlanResult
    from airflow_cloudplan.simulate.protocol.publish import stored_evaluations
    from airflow_cloudplan.store import open_store

    spec, arrivals = _inputs(tmp_path)
    assert main(["plan", str(spec), "--out", str(tmp_path / "plan"), "--max-points", "4"]) == 0
    plan = PlanResult.model_validate_json((tmp_path / "plan" / "plan.json").read_text())
    store = open_store(tmp_path / "store")
    version = store.put(plan)
    assert _run(["--spec", str(spec), "--arrivals", str(arrivals), "--arrival-column", "ts",
                 "--store", str(tmp_path / "store"), "--version", version[:12],
                 "--out", str(tmp_path / "out")]) == 0
    (prefix,) = stored_evaluations(store, version)
    stored = store.backend.read(prefix + "evaluation.json")
    assert stored == (tmp_path / "out" / "evaluation.json").read_bytes()
    ev = Evaluation.model_validate_json(stored)
    # The stored plan was simulated as it is, not re-planned.
    rec = ev.scenarios[0].plans[0]
    assert rec.options == {k: v.id for k, v in plan.recommendation.assignment.items()}
    # A plan of another pipeline is refused.
    other = tmp_path / "other.json"
    other.write_text(plan.model_copy(update={"pipeline": "someone_else"}).model_dump_json())
    assert _run(["--spec", str(spec), "--arrivals", str(arrivals), "--arrival-column", "ts",
                 "--plan", str(other), "--out", str(tmp_path / "o2")]) == 2
    assert not (tmp_path / "o2").exists()


def test_bad_input_is_reported_without_writing(tmp_path: Path, capsys) -> None:
    spec, arrivals = _inputs(tmp_path)
    out = tmp_path / "out"
    cases = [
        (["--arrivals", str(arrivals)], "--arrivals/--plan/--version need --spec"),
        (["--spec", str(spec)], "online stage 'serve' needs an arrival trace"),
        (["--spec", str(spec), "--arrivals", str(arrivals)], "no column 'TIMESTAMP'"),
        (["--spec", str(spec), "--arrivals", str(arrivals), "--arrival-column", "ts",
          "--stage", "nope"], "no stage 'nope'"),
        (["--data", str(tmp_path)], "traces is not a directory"),
        (["--seeds", "1,-2"], "invalid --seeds"),
        (["--window-hours", "0"], "invalid --window-hours"),
        (["--spec", str(spec), "--arrivals", str(arrivals), "--arrival-column", "ts",
          "--store", str(tmp_path / "store")], "--store needs --version"),
        (["--scenarios", "training,bogus"], "unknown scenario(s) bogus"),
    ]
    for args, message in cases:
        assert _run([*args, "--out", str(out)]) == 2, args
        assert message in capsys.readouterr().err, args
    assert not out.exists()


def test_an_unreadable_plan_is_refused(tmp_path: Path, capsys) -> None:
    spec, arrivals = _inputs(tmp_path)
    plan = tmp_path / "plan.json"
    plan.write_text("not json")
    assert _run(["--spec", str(spec), "--arrivals", str(arrivals), "--arrival-column", "ts",
                 "--plan", str(plan), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read the plan" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.shared_data
def test_reduced_regeneration_matches_the_committed_evaluation(shared_data: Path,
                                                               tmp_path: Path) -> None:
    """Every section, table and picture of docs/evaluation.md comes out of the command."""
    assert _run(["--data", str(shared_data), "--window-hours", "6",
                 "--out", str(tmp_path)]) == 0
    committed = (REPO / "docs" / "evaluation.md").read_text()
    fresh = (tmp_path / "evaluation.md").read_text()
    assert section_titles(fresh) == section_titles(committed)
    images = sorted(p.name for p in (REPO / "docs" / "img" / "evaluation").glob("*.svg"))
    assert sorted(p.name for p in (tmp_path / "img" / "evaluation").glob("*.svg")) == images
    for name in images:
        assert f"img/evaluation/{name}" in committed
    old = Evaluation.model_validate_json((REPO / "docs" / "evaluation.json").read_text())
    new = Evaluation.model_validate_json((tmp_path / "evaluation.json").read_text())
    assert [s.key for s in new.scenarios] == [s.key for s in old.scenarios]
    for a, b in zip(new.scenarios, old.scenarios, strict=True):
        assert [p.label for p in a.plans] == [p.label for p in b.plans]
        assert set(a.plans[0].sim) == set(b.plans[0].sim)
        assert [d.baseline for d in a.dominance] == [d.baseline for d in b.dominance]
    # Table rows: one per plan in every Table 4.
    for sc in new.scenarios:
        assert fresh.count(f"| {sc.plans[1].label} |") >= len(new.scenarios)
