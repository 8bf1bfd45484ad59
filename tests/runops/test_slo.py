"""SLO rules pass promtool, and their shipped behavioural tests pass (and can fail)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from airflow_cloudplan.errors import ComposeError
from airflow_cloudplan.model import Catalog, PlanningInput, PlanResult
from airflow_cloudplan.runops import BurnRatePolicy, BurnWindow, RunOpsSettings, render
from airflow_cloudplan.runops.base import EmitterResult
from airflow_cloudplan.runops.context import ComposeContext
from airflow_cloudplan.runops.slo import SLOEmitter, le_matcher
from tests.runops.conftest import EXAMPLES, example_input, hand_plan, promtool


def _write(artifacts: list, root: Path, prefix: str = "slo/") -> Path:  # type: ignore[type-arg]
    for a in artifacts:
        if a.path.startswith(prefix):
            target = root / a.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(a.content)
    return root / "slo"


def _promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=900, check=False)


def _check_and_test(slo_dir: Path) -> None:
    rules = sorted(slo_dir.glob("rules/*.yaml"))
    tests = sorted(slo_dir.glob("tests/*.yaml"))
    assert rules and len(rules) == len(tests)
    checked = _promtool("check", "rules", *rules, cwd=slo_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", *tests, cwd=slo_dir)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(tests)


@pytest.mark.slow
def test_golden_plan_rules_pass_promtool(
    golden_plan: PlanResult, golden_input: PlanningInput, tmp_path: Path
) -> None:
    promtool()
    _, artifacts = render(golden_plan, golden_input, plan_version="v-test")
    _check_and_test(_write(artifacts, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_spec_rules_pass_promtool(example: str, catalog: Catalog, tmp_path: Path) -> None:
    promtool()
    inp = example_input(example, catalog)
    _, artifacts = render(hand_plan(inp), inp)
    _check_and_test(_write(artifacts, tmp_path))


def test_shipped_tests_fail_when_the_rules_do_not_alert(
    golden_plan: PlanResult, golden_input: PlanningInput, tmp_path: Path
) -> None:
    """The behavioural tests are not vacuous: rules with 100× factors never page."""
    promtool()
    _, expected = render(golden_plan, golden_input, plan_version="v")
    deaf = RunOpsSettings(burn_rate=BurnRatePolicy(windows=tuple(
        w.model_copy(update={"factor": w.factor * 100}) for w in BurnRatePolicy().windows)))
    # 100× factors exceed some budgets, so the SLO emitter's own check would refuse them:
    # build the rules with the check bypassed
    _, broken = render(golden_plan, golden_input, plan_version="v", settings=deaf,
                       emitters=[_UncheckedSLO()])
    slo_dir = tmp_path / "slo"
    rules = next(a for a in broken if a.path == "slo/rules/ingest.rules.yaml")
    tests = next(a for a in expected if a.path == "slo/tests/ingest.test.yaml")
    for a in (rules, tests):
        (tmp_path / a.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / a.path).write_bytes(a.content)
    result = _promtool("test", "rules", "tests/ingest.test.yaml", cwd=slo_dir)
    assert result.returncode != 0
    assert "CloudplanAvailabilityBudgetBurnPage" in result.stdout + result.stderr


class _UncheckedSLO(SLOEmitter):
    """The SLO emitter without its reachability check (to build deliberately deaf rules)."""

    name = "slo"

    def run(self, ctx: ComposeContext) -> EmitterResult:
        return EmitterResult(name=self.name, artifacts=SLOEmitter().build(ctx))


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


def test_windows_scale_with_the_budget_period(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    settings = RunOpsSettings(burn_rate=BurnRatePolicy(period_days=7))
    _, artifacts = render(golden_plan, golden_input, settings=settings)
    rules = yaml.safe_load(next(a for a in artifacts
                                if a.path == "slo/rules/serve.rules.yaml").content)
    records = {r["record"] for r in rules["groups"][0]["rules"] if "record" in r}
    # 30-day windows 5m, 30m, 1h, 2h, 6h, 1d, 3d scaled by 7/30
    assert "cloudplan_slo:error_ratio:rate1m10s" in records
    assert "cloudplan_slo:error_ratio:rate14m" in records
    assert "cloudplan_slo:error_ratio:rate16h48m" in records


def test_le_matcher_accepts_both_client_formats() -> None:
    assert le_matcher(1800.0) == "1800|1800\\\\.0"
    assert le_matcher(0.25) == "0\\\\.25"


def test_each_stage_has_availability_and_latency_alerts(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    _, artifacts = render(golden_plan, golden_input)
    serve = yaml.safe_load(next(a for a in artifacts
                                if a.path == "slo/rules/serve.rules.yaml").content)
    alerts = {r["alert"]: r for r in serve["groups"][0]["rules"] if "alert" in r}
    assert set(alerts) == {"CloudplanAvailabilityBudgetBurnPage",
                           "CloudplanAvailabilityBudgetBurnTicket",
                           "CloudplanLatencyBudgetBurnPage", "CloudplanLatencyBudgetBurnTicket"}
    page = alerts["CloudplanAvailabilityBudgetBurnPage"]["expr"]
    # 14.4 × (1 − 0.999) and 6 × (1 − 0.999), on 1h/5m and 6h/30m
    assert "rate1h" in page and "rate5m" in page and "> 0.0144" in page
    assert "rate6h" in page and "rate30m" in page and "> 0.006" in page
    assert "cloudplan_request_duration_seconds_count" in str(serve)
