"""SLO rules: the workbook's burn rates for every period, pinned detection times, Sloth's names.

The reference numbers come from ``fixtures/burn_rate_reference.yaml`` (transcribed from the
SRE workbook and Sloth); the detection times are pinned by the shipped promtool tests,
which these tests run — and show failing against the old, window-shrinking rules.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from airflow_cloudplan.errors import ComposeError
from airflow_cloudplan.model import Catalog, PlanningInput, PlanResult
from airflow_cloudplan.runops import BurnRatePolicy, BurnWindow, RunOpsSettings, render
from airflow_cloudplan.runops.base import Artifact
from airflow_cloudplan.runops.slo import (
    burn_rate_markdown,
    le_matcher,
)
from airflow_cloudplan.runops.slo_tests import detection_markdown, detection_time_s
from tests.runops.conftest import REPO, example_input, hand_plan, one_stage_input, promtool

REFERENCE = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "burn_rate_reference.yaml").read_text())
PERIODS = {7: "workbook_7d", 28: "sloth_28d", 30: "sloth_30d"}


def _write(artifacts: list[Artifact], root: Path, prefix: str = "slo/") -> Path:
    for a in artifacts:
        if a.path.startswith(prefix):
            target = root / a.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(a.content)
    return root / "slo"


def _promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=900, check=False)


def _test_files(slo_dir: Path, tests: list[Path]) -> None:
    """Run promtool on each test file (two at a time) and require every one to pass."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(
            lambda t: _promtool("test", "rules", t.relative_to(slo_dir), cwd=slo_dir), tests))
    failed = [(t.name, r.stdout + r.stderr) for t, r in zip(tests, results, strict=True)
              if r.returncode != 0 or "SUCCESS" not in r.stdout]
    assert not failed, failed


def _check_and_test(slo_dir: Path, stages: set[str] | None = None) -> None:
    """``promtool check rules`` on every rule file; ``test rules`` on the stages' tests."""
    rules = sorted(slo_dir.glob("rules/*.yaml"))
    budget = sorted(slo_dir.glob("rules/*.budget.rules.yaml"))
    assert budget and len(budget) * 2 == len(rules)
    checked = _promtool("check", "rules", *rules, cwd=slo_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if stages is not None and not stages:
        return
    tests = sorted(t for t in slo_dir.glob("tests/*.yaml")
                   if stages is None or t.name.split(".")[0] in stages)
    assert tests
    _test_files(slo_dir, tests)


def _rules(artifacts: list[Artifact], stage: str, sli: str | None = None,
           file: str = "rules") -> list[dict]:  # type: ignore[type-arg]
    doc = yaml.safe_load(next(a for a in artifacts
                              if a.path == f"slo/rules/{stage}.{file}.yaml").content)
    return [r for g in doc["groups"]
            if sli is None or g["name"].removesuffix("-budget").endswith(f"-{sli}")
            for r in g["rules"]]


# --- the table: fixed windows, factors scaled by period/30d --------------------------


@pytest.mark.parametrize(("period", "reference"), sorted(PERIODS.items()))
def test_factors_equal_the_published_references(period: int, reference: str) -> None:
    policy = BurnRatePolicy(period_days=period)
    want = REFERENCE[reference]
    assert [(w.severity, w.long, w.short) for w in policy.windows] == [
        (r["severity"], r["long"], r["short"]) for r in want]
    for w, r in zip(policy.windows, want, strict=True):
        assert policy.factor(w) == pytest.approx(r["factor"], rel=1e-9)
        assert 100 * w.budget_share() == pytest.approx(r["budget_percent"], rel=1e-9)
        # Sloth's arithmetic: percent/100 x period / long window
        sloth = r["budget_percent"] / 100 * period * 86400 / w.long_s
        assert policy.factor(w) == pytest.approx(sloth, rel=1e-9)


def test_the_workbook_table_is_the_default() -> None:
    policy = BurnRatePolicy()
    assert [(w.severity, w.long, w.short, w.factor) for w in policy.windows] == [
        (r["severity"], r["long"], r["short"], r["factor"])
        for r in REFERENCE["sre_workbook_30d"]]


def test_docs_show_the_code_table_next_to_the_references() -> None:
    doc = (REPO / "docs" / "runops.md").read_text()
    assert burn_rate_markdown(BurnRatePolicy()) in doc
    assert detection_markdown(BurnRatePolicy()) in doc
    # the reference table in the docs is the fixture's numbers
    rows = re.findall(r"^\| (page|ticket) \| (\S+) / (\S+) \| ([\d.]+) \| ([\d.]+) \| "
                      r"([\d.]+) \|$", doc, re.M)
    assert len(rows) == 4
    for (sev, long_, short, workbook, sloth28, wb7), w30, s28, w7 in zip(
            rows, REFERENCE["sre_workbook_30d"], REFERENCE["sloth_28d"],
            REFERENCE["workbook_7d"], strict=True):
        assert (sev, long_, short) == (w30["severity"], w30["long"], w30["short"])
        assert float(workbook) == pytest.approx(w30["factor"], rel=1e-3)
        assert float(sloth28) == pytest.approx(s28["factor"], rel=1e-3)
        assert float(wb7) == pytest.approx(w7["factor"], rel=1e-3)


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_rules_keep_the_windows_and_scale_the_thresholds(
    period: int, golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    settings = RunOpsSettings(burn_rate=BurnRatePolicy(period_days=period))
    _, artifacts = render(golden_plan, golden_input, settings=settings)
    rules = _rules(artifacts, "serve")
    records = {r["record"] for r in [*rules, *_rules(artifacts, "serve", file="budget.rules")]
               if "record" in r}
    windows = REFERENCE["sloth_recording_rules"]["windows"]
    assert {f"slo:sli_error:ratio_rate{w}" for w in windows} <= records
    assert f"slo:sli_error:ratio_rate{period}d" in records
    assert not any(re.search(r"rate\d+m\d+s|rate1m$", r) for r in records)
    page = next(r for r in rules if r.get("alert") == "CloudplanAvailabilityBudgetBurnPage")
    want = REFERENCE[PERIODS[period]]
    thresholds = [float(a) * float(b) for a, b in
                  re.findall(r"> \(([\d.]+) \* ([\d.]+)\)", page["expr"])]
    # long and short window of each page pair, target 0.999
    assert thresholds == pytest.approx(
        [r["factor"] * 0.001 for r in want[:2] for _ in (0, 1)], rel=1e-9)
    assert "for" not in page  # the workbook and Sloth fire on the evaluation itself


def test_thresholds_equal_sloths_generated_example(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    ref = REFERENCE["sloth_getting_started_alert_thresholds"]
    _, artifacts = render(golden_plan, golden_input)
    rules = _rules(artifacts, "serve")  # serve's availability target is 0.999
    for severity in ("page", "ticket"):
        alert = next(r for r in rules
                     if r.get("alert") == f"CloudplanAvailabilityBudgetBurn{severity.title()}")
        ours = sorted({float(a) * float(b) for a, b in
                       re.findall(r"> \(([\d.]+) \* ([\d.]+)\)", alert["expr"])})
        theirs = sorted(float(a) * float(b) for a, b in
                        (t.strip("()").split(" * ") for t in ref[severity]))
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_recordings_are_sloth_compatible(golden_plan: PlanResult,
                                         golden_input: PlanningInput) -> None:
    ref = REFERENCE["sloth_recording_rules"]
    _, artifacts = render(golden_plan, golden_input)
    rules = [*_rules(artifacts, "serve", "availability"),
             *_rules(artifacts, "serve", "availability", "budget.rules")]
    records = {r["record"]: r for r in rules if "record" in r}
    for name in (ref["period"], *ref["metadata"]):
        assert name in records, name
    for label in ref["labels"]:
        assert records["slo:sli_error:ratio_rate5m"]["labels"][label]
    assert records["slo:error_budget:ratio"]["expr"] == "vector(0.001)"
    assert records["slo:time_period:days"]["expr"] == "vector(30)"
    assert records["cloudplan_slo_info"]["labels"]["objective"] == "0.999"
    assert records["slo:period_error_budget_remaining:ratio"]["expr"].startswith("1 - ")


def test_budget_rules_compute_the_remaining_budget(tmp_path: Path, catalog: Catalog) -> None:
    """Half the budget spent over the period reads back as 0.5 remaining."""
    promtool()
    inp = one_stage_input(catalog)
    settings = RunOpsSettings(burn_rate=BurnRatePolicy(period_days=7))
    _, artifacts = render(hand_plan(inp), inp, settings=settings)
    slo_dir = _write(artifacts, tmp_path)
    labels = 'pipeline="one",stage="ingest"'
    doc = {"rule_files": ["../rules/ingest.rules.yaml", "../rules/ingest.budget.rules.yaml"],
           "evaluation_interval": "1h",
           "tests": [{"interval": "1h", "input_series": [
               {"series": f'cloudplan_stage_runs_total{{{labels},outcome="failure"}}',
                "values": "0+0.5x168"},
               {"series": f'cloudplan_stage_runs_total{{{labels},outcome="success"}}',
                "values": "0+999.5x168"}],
               "promql_expr_test": [
                   {"expr": 'slo:period_error_budget_remaining:ratio{sli="availability"}',
                    "eval_time": "7d", "exp_samples": [{
                        "labels": "slo:period_error_budget_remaining:ratio{pipeline=\"one\","
                                  "sli=\"availability\",sloth_id=\"one-ingest-availability\","
                                  "sloth_service=\"one\",sloth_slo=\"ingest-availability\","
                                  "stage=\"ingest\"}", "value": 0.5}]}]}]}
    (slo_dir / "tests" / "budget.yaml").write_text(yaml.safe_dump(doc))
    result = _promtool("test", "rules", "tests/budget.yaml", cwd=slo_dir)
    assert result.returncode == 0, result.stdout + result.stderr


# --- detection times, pinned by promtool --------------------------------------------


def test_model_detection_times() -> None:
    """T(b) = min f'·L'/b over conditions with f' < b (30 days, in minutes)."""
    policy = BurnRatePolicy()
    minutes = {b: (t / 60 if (t := detection_time_s(policy, "page", b)) else None)
               for b in (14.4 * 1.05, 14.4 * 0.95, 6 * 1.05, 6 * 0.95)}
    assert minutes[14.4 * 1.05] == pytest.approx(60 / 1.05)
    assert minutes[14.4 * 0.95] == pytest.approx(6 * 360 / 13.68)  # the 6h pair, later
    assert minutes[6 * 1.05] == pytest.approx(360 / 1.05)
    assert minutes[6 * 0.95] is None


@pytest.mark.slow
@pytest.mark.parametrize("period", sorted(PERIODS))
def test_detection_times_hold_in_promtool(period: int, catalog: Catalog,
                                          tmp_path: Path) -> None:
    """The shipped tests pass: at 1.05× each threshold the alert fires when the workbook
    model says (within two intervals), at 0.95× it does not (or only through a slower
    pair, when that one predicts), and a 1× burn stays silent for days."""
    promtool()
    inp = one_stage_input(catalog)
    settings = RunOpsSettings(burn_rate=BurnRatePolicy(period_days=period))
    _, artifacts = render(hand_plan(inp), inp, settings=settings)
    tests = [a for a in artifacts if a.kind == "prometheus-rule-tests"]
    assert {Path(a.path).name for a in tests} == {
        "ingest.page-1m.test.yaml", "ingest.page-5m.test.yaml",
        "ingest.ticket-30m.test.yaml", "ingest.ticket-1h.test.yaml"}
    cases = sum(len(yaml.safe_load(a.content)["tests"]) for a in tests)
    assert cases == 8 + (1 if period == 30 else 2)  # 2 per threshold + 1x per severity
    _check_and_test(_write(artifacts, tmp_path))


@pytest.mark.slow
def test_shipped_tests_fail_against_window_shrinking_rules(catalog: Catalog,
                                                           tmp_path: Path) -> None:
    """The old composer kept the factors and shrank the windows (7 days: 14m/1m10s at
    14.4×); the pinned tests reject such rules."""
    promtool()
    inp = one_stage_input(catalog)
    right = RunOpsSettings(burn_rate=BurnRatePolicy(period_days=7))
    _, expected = render(hand_plan(inp), inp, settings=right)
    shrunk = tuple(
        BurnWindow(severity=w.severity, long=_scaled(w.long_s), short=_scaled(w.short_s),
                   factor=w.factor * 30 / 7)  # so that the 7-day factor stays 14.4, 6, ...
        for w in BurnRatePolicy().windows)
    old = RunOpsSettings(burn_rate=BurnRatePolicy(period_days=7, windows=shrunk))
    _, broken = render(hand_plan(inp), inp, settings=old)
    slo_dir = _write([*(a for a in broken if a.kind == "prometheus-rules"),
                      *(a for a in expected if a.kind == "prometheus-rule-tests")], tmp_path)
    page = _promtool("test", "rules", "tests/ingest.page-1m.test.yaml", cwd=slo_dir)
    assert page.returncode != 0
    assert "CloudplanAvailabilityBudgetBurnPage" in page.stdout + page.stderr


def _scaled(seconds: int) -> str:
    from airflow_cloudplan.runops.settings import format_duration

    return format_duration(max(60, round(seconds * 7 / 30)))


@pytest.mark.slow
def test_golden_plan_rules_pass_promtool(
    golden_plan: PlanResult, golden_input: PlanningInput, tmp_path: Path
) -> None:
    """All rule files check; the shipped tests of serve (requests: availability and p95)
    and ingest (runs: availability and deadline) — every SLI family — pass."""
    promtool()
    _, artifacts = render(golden_plan, golden_input, plan_version="v-test")
    _check_and_test(_write(artifacts, tmp_path), stages={"serve", "ingest"})


@pytest.mark.slow
@pytest.mark.parametrize("example", ["ml_pipeline", "regulated_pipeline"])
def test_example_spec_rules_pass_promtool(example: str, catalog: Catalog,
                                          tmp_path: Path) -> None:
    """Every rule file of the examples passes ``promtool check rules`` (their tests come
    from the same generator the golden and detection tests run)."""
    promtool()
    inp = example_input(example, catalog)
    _, artifacts = render(hand_plan(inp), inp)
    _check_and_test(_write(artifacts, tmp_path), stages=set())


# --- errors -------------------------------------------------------------------------


def test_unreachable_burn_factor_is_reported_with_a_fix(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    # train's availability target is 0.95: a 25× factor needs an error ratio of 1.25
    settings = RunOpsSettings(burn_rate=BurnRatePolicy(windows=(
        BurnWindow(severity="page", long="1h", short="5m", factor=25.0),)))
    with pytest.raises(ComposeError) as info:
        render(golden_plan, golden_input, settings=settings)
    rendered = info.value.render()
    assert "slo.train" in rendered and "can never fire" in rendered
    assert "raise the target above 0.9600" in rendered


def test_le_matcher_accepts_both_client_formats() -> None:
    assert le_matcher(1800.0) == "1800|1800\\\\.0"
    assert le_matcher(0.25) == "0\\\\.25"


def test_each_stage_has_availability_and_latency_alerts(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    _, artifacts = render(golden_plan, golden_input)
    rules = _rules(artifacts, "serve")
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) == {"CloudplanAvailabilityBudgetBurnPage",
                           "CloudplanAvailabilityBudgetBurnTicket",
                           "CloudplanLatencyBudgetBurnPage", "CloudplanLatencyBudgetBurnTicket"}
    page = alerts["CloudplanAvailabilityBudgetBurnPage"]["expr"]
    assert "ratio_rate1h" in page and "ratio_rate5m" in page and "> (14.4 * 0.001)" in page
    assert "ratio_rate6h" in page and "ratio_rate30m" in page and "> (6 * 0.001)" in page
    # online availability reads the requests counter the operators record (status codes)
    text = str(rules)
    assert 'cloudplan_requests_total{pipeline="golden_ml",stage="serve",code=~"5..|429"}' in text
    assert "cloudplan_request_duration_seconds_count" in text
