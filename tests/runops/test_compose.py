"""The composer end to end: golden files, determinism, change impact, manifest, errors.

Set ``CLOUDPLAN_UPDATE_GOLDEN=1`` to rewrite ``tests/runops/golden/`` after an intended
change, then review the diff like code.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from airflow_cloudplan.errors import ComposeError, Problem
from airflow_cloudplan.model import Catalog, Pipeline, PlanningInput, PlanResult, StageOption
from airflow_cloudplan.model.workload import StageSLO
from airflow_cloudplan.runops import (
    Artifact,
    Emitter,
    RunOpsSettings,
    compose,
    default_emitters,
    plan_version_of,
    render,
    verify_manifest,
)
from airflow_cloudplan.runops.context import ComposeContext
from airflow_cloudplan.runops.manifest import MANIFEST_NAME, Manifest, build_manifest
from airflow_cloudplan.runops.otel import OtelEmitter
from tests.runops.conftest import EXAMPLES, example_input, hand_plan

GOLDEN = Path(__file__).parent / "golden"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_golden_bundle(golden_plan: PlanResult, golden_input: PlanningInput,
                       tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    compose(golden_plan, golden_input, out, plan_version="golden-v1")
    if os.environ.get("CLOUDPLAN_UPDATE_GOLDEN") == "1":
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(out, GOLDEN)
    got, want = _files(out), _files(GOLDEN)
    assert sorted(got) == sorted(want), "artifact set changed (CLOUDPLAN_UPDATE_GOLDEN=1)"
    changed = [path for path in got if got[path] != want[path]]
    assert changed == [], f"golden files differ: {changed} (CLOUDPLAN_UPDATE_GOLDEN=1)"


def test_regeneration_is_byte_identical(golden_plan: PlanResult, golden_input: PlanningInput,
                                        tmp_path: Path) -> None:
    first = compose(golden_plan, golden_input, tmp_path / "a")
    again = PlanResult.model_validate_json(golden_plan.model_dump_json())
    second = compose(again, golden_input, tmp_path / "b")
    assert first.plan_version == second.plan_version == plan_version_of(golden_plan)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    # composing into an existing bundle replaces it in place, identically
    compose(golden_plan, golden_input, tmp_path / "a")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def _move(plan: PlanResult, stage: str, region: str, inp: PlanningInput) -> PlanResult:
    from tests.runops.conftest import hand_option

    moved = hand_option(inp, inp.pipeline.stage_by_name[stage], region=region).model_dump()
    old = plan.recommendation.assignment[stage]
    moved.update(access=old.access, isolation=old.isolation)
    assignment = dict(plan.recommendation.assignment)
    assignment[stage] = StageOption.model_validate(moved)
    return hand_plan(inp, assignment)


def test_moving_one_stage_changes_exactly_its_artifacts(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    """Move ``features`` to eu-central-1 (same version string to isolate content)."""
    _, before = render(golden_plan, golden_input, plan_version="v")
    _, after = render(_move(golden_plan, "features", "eu-central-1", golden_input),
                      golden_input, plan_version="v")
    a = {x.path: x.content for x in before}
    b = {x.path: x.content for x in after}
    assert set(a) == set(b)
    changed = {p for p in a if a[p] != b[p]}
    runbooks = {p for p in a if p.startswith("runbooks/")}
    expected = (
        # its role now trusts Celery workers (the stage left Airflow's region)
        {"otel/sdk/features.yaml", "airflow/settings.json", "iam/roles/cp-golden-ml-features.json"}
        # its own runbooks (placement) and those of stages fed by it (cross-region input)
        | {p for p in runbooks if p.split("/")[1] in {"features", "train", "serve", "monitor"}}
    )
    assert changed == expected
    # untouched by placement: SLO rules and tests, OpenSLO, collector, data grants, audit
    assert not any(p.startswith(("slo/", "audit/", "otel/collector")) for p in changed)
    assert not any(p.startswith("iam/") and "/roles/" not in p for p in changed)


def test_moving_a_cached_reader_changes_the_audit_hooks(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    _, before = render(golden_plan, golden_input, plan_version="v")
    _, after = render(_move(golden_plan, "serve", "eu-west-1", golden_input), golden_input,
                      plan_version="v")
    a = {x.path: x.content for x in before}
    b = {x.path: x.content for x in after}
    assert a["audit/hooks.json"] != b["audit/hooks.json"]
    assert "golden-lake-cache-eu-central-1" not in b["audit/hooks.json"].decode()


def test_manifest_hashes_verify_and_detect_tampering(
    golden_plan: PlanResult, golden_input: PlanningInput, tmp_path: Path
) -> None:
    out = tmp_path / "artifacts"
    manifest = compose(golden_plan, golden_input, out)
    assert verify_manifest(out) == []
    on_disk = Manifest.model_validate_json((out / MANIFEST_NAME).read_bytes())
    assert on_disk == manifest
    assert on_disk.evidence_completeness.ratio == 1.0
    assert on_disk.evidence_completeness.missing == ()
    assert on_disk.observability_coverage.ratio == 1.0
    (out / "otel/sdk/train.yaml").write_text("tampered\n")
    (out / "extra.txt").write_text("x")
    rendered = [p.render() for p in verify_manifest(out)]
    assert any("train.yaml" in r and "sha256" in r for r in rendered)
    assert any("extra.txt" in r and "not listed" in r for r in rendered)


def test_evidence_completeness_counts_what_was_not_generated(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    from airflow_cloudplan.runops.compose import default_emitters
    from airflow_cloudplan.runops.iam import IAMEmitter

    without_iam = [e for e in default_emitters() if not isinstance(e, IAMEmitter)]
    manifest, _ = render(golden_plan, golden_input, emitters=without_iam)
    evidence = manifest.evidence_completeness
    assert "iam:train" in evidence.missing and "iam:residency" in evidence.missing
    assert evidence.ratio == pytest.approx(len(evidence.generated) / len(evidence.required))
    assert evidence.ratio < 1.0


def test_all_problems_are_reported_together(golden_input: PlanningInput) -> None:
    plan = hand_plan(golden_input)
    bad = plan.recommendation.assignment["train"].model_dump()
    bad.update(region="mars-1", instance_type="m9.huge")
    broken = hand_plan(golden_input, {"train": StageOption.model_validate(bad)})
    with pytest.raises(ComposeError) as info:
        render(broken, golden_input)
    rendered = info.value.render()
    assert "unknown region 'mars-1'" in rendered
    assert "unknown instance_type 'm9.huge'" in rendered
    assert "assignment.train.region" in rendered


def test_refuses_to_replace_a_directory_that_is_not_a_bundle(
    golden_plan: PlanResult, golden_input: PlanningInput, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ComposeError, match="not an artifact bundle"):
        compose(golden_plan, golden_input, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_specs_compose_completely(example: str, catalog: Catalog,
                                          tmp_path: Path) -> None:
    inp = example_input(example, catalog)
    manifest = compose(hand_plan(inp), inp, tmp_path / "artifacts")
    assert verify_manifest(tmp_path / "artifacts") == []
    assert manifest.evidence_completeness.ratio == 1.0
    assert manifest.observability_coverage.meets_threshold
    settings = json.loads((tmp_path / "artifacts/airflow/settings.json").read_text())
    assert {t["stage"] for t in settings["tasks"]} == {s.name for s in inp.pipeline.stages}
    _no_alert_without_a_backing_signal(tmp_path / "artifacts")


def _no_alert_without_a_backing_signal(root: Path) -> None:
    """Read back from the files: every stage with alerts exports metrics to Prometheus."""
    collector = yaml.safe_load((root / "otel/collector.yaml").read_text())
    assert "prometheus" in collector["service"]["pipelines"]["metrics"]["exporters"]
    for rules in root.glob("slo/rules/*.rules.yaml"):
        alerts = [r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]
                  if "alert" in r]
        if not alerts:
            continue
        stage = rules.name.split(".")[0]
        sdk = yaml.safe_load((root / f"otel/sdk/{stage}.yaml").read_text())
        assert sdk.get("meter_provider", {}).get("readers"), stage


def test_best_effort_stage_without_metrics_gets_no_alerts(catalog: Catalog,
                                                          tmp_path: Path) -> None:
    """The ml example's monitor stage is best effort: logs only, no SLO stated."""
    inp = example_input("ml_pipeline", catalog)
    manifest = compose(hand_plan(inp), inp, tmp_path / "artifacts")
    files = {e.path for e in manifest.artifacts}
    assert not any("monitor" in p for p in files if p.startswith(("slo/", "runbooks/")))
    assert "otel/sdk/monitor.yaml" in files
    assert "meter_provider" not in (tmp_path / "artifacts/otel/sdk/monitor.yaml").read_text()
    assert "slo:monitor" not in manifest.evidence_completeness.required
    assert "logs" in manifest.evidence_completeness.unmonitored["monitor"]


def test_a_stated_slo_without_metrics_is_a_compose_error(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    stages = tuple(s.model_copy(update={"slo": StageSLO(availability=0.995)})
                   if s.name == "monitor" else s for s in golden_input.pipeline.stages)
    pipeline = Pipeline.model_validate(
        {**golden_input.pipeline.model_dump(exclude_unset=True), "stages": stages})
    inp = PlanningInput(pipeline=pipeline, policy=golden_input.policy,
                        catalog=golden_input.catalog)
    with pytest.raises(ComposeError) as info:
        render(golden_plan, inp)
    text = info.value.render()
    assert ("slo.monitor: stage 'monitor' states an SLO (availability) but its telemetry "
            "exports no metrics signal (the observability policy requires only logs for "
            "best_effort stages)") in text
    assert "cloudplan_stage_runs_total could never fire" in text
    assert "add metrics to policy.observability.requirements.best_effort.signals" in text


class _NoMetricsForServe(OtelEmitter):
    """An OTel emitter whose serve config lost its meter provider (a broken template)."""

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        out = []
        for a in super().build(ctx):
            if a.path != "otel/sdk/serve.yaml":
                out.append(a)
                continue
            doc = yaml.safe_load(a.content)
            doc.pop("meter_provider")
            out.append(replace(a, content=yaml.safe_dump(doc).encode()))
        return out


def test_an_alert_on_a_series_the_config_does_not_export_is_caught(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    emitters = [_NoMetricsForServe() if isinstance(e, OtelEmitter) else e
                for e in default_emitters()]
    with pytest.raises(ComposeError) as info:
        render(golden_plan, golden_input, emitters=emitters)
    text = info.value.render()
    assert "slo/rules/serve.rules.yaml: CloudplanAvailabilityBudgetBurnPage: stage 'serve': " \
           "reads cloudplan_requests_total (instrument cloudplan.requests) but " \
           "otel/sdk/serve.yaml configures no metrics exporter (missing signal: metrics)" in text
    assert "stage 'ingest'" not in text


class _HalfBroken(Emitter):
    name = "half"
    checks: ClassVar[dict[str, tuple[str, ...]]] = {"x": ("half.content-ok",)}

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        return [Artifact(path="x/good.txt", content=b"ok", kind="x", evidence="x:good"),
                Artifact(path="x/bad.txt", content=b"no", kind="x", evidence="x:bad")]

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        return [self.problem("bad content", "fix it", file=a.path)
                for a in artifacts if a.content != b"ok"]


def test_evidence_counts_only_artifacts_whose_checks_passed(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    ctx = ComposeContext(golden_plan, golden_input, "v", RunOpsSettings())
    result = _HalfBroken().run(ctx)
    assert [a.path for a in result.artifacts] == ["x/good.txt"]
    assert result.artifacts[0].checks == ("half.content-ok",)
    assert [p.file for p in result.problems] == ["x/bad.txt"]
    manifest = build_manifest(ctx, result.artifacts)
    assert "x:bad" not in manifest.evidence_completeness.generated


def test_manifest_lists_the_checks_each_artifact_passed(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    manifest, _ = render(golden_plan, golden_input)
    checks = {e.path: e.checks for e in manifest.artifacts}
    assert "slo.alerts-backed-by-telemetry" in checks["slo/rules/serve.rules.yaml"]
    assert "runbooks.linked-to-alerts" in checks[
        "runbooks/serve/CloudplanAvailabilityBudgetBurnPage.md"]
    assert "otel.collector-consistent-and-closed" in checks["otel/collector.yaml"]
    assert checks["iam/serve.policy.json"] == ("iam.lint-policy",)
    assert checks["audit/hooks.json"] == ()
    assert manifest.evidence_completeness.unchecked == ("audit:hooks", "iam:residency")
