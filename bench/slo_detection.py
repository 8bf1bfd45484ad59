"""When do the burn-rate alerts fire? Measured by promtool, next to the workbook's model.

Usage: ``python bench/slo_detection.py [--periods 7 28 30] [--target 0.999]``

For a one-stage pipeline (availability SLO at ``--target``) and each SLO period, the
composer's rule file is fed the scenarios of ``runops.slo_tests`` — no errors for the
longest window that matters, then a step to 1.05× or 0.95× of a burn-rate threshold, and
a constant 1× burn — and promtool evaluates the alert at every interval after the step.
The first evaluation that fires is the *measured* detection time. It is printed next to
the model's time (min f'·L'/b over the pairs with f' < b) as a ratio, and next to the
same measurement for the rules the composer used to emit (windows shrunk by P/30, factors
kept: the baseline), for periods other than 30 days. Two more rows step to a fixed 10× and
20× burn, sampled every 30 s. Needs ``promtool`` on PATH.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_cloudplan.catalog import load_catalog  # noqa: E402
from airflow_cloudplan.model import PlanningInput, PlanResult  # noqa: E402
from airflow_cloudplan.report.units import fmt_latency  # noqa: E402
from airflow_cloudplan.runops import BurnRatePolicy, BurnWindow, RunOpsSettings  # noqa: E402
from airflow_cloudplan.runops.context import ComposeContext  # noqa: E402
from airflow_cloudplan.runops.settings import format_duration  # noqa: E402
from airflow_cloudplan.runops.slo import rule_groups, slos_of  # noqa: E402
from airflow_cloudplan.runops.slo_tests import (  # noqa: E402
    Check,
    Scenario,
    detection_time_s,
    promtool_case,
    scenarios,
)

_FIRED = re.compile(r"alertname: (\S+), time: (\S+),")


def _input(target: float) -> tuple[PlanningInput, PlanResult]:
    # the composer's tests' one-stage pipeline and hand-made plan
    from tests.runops.conftest import hand_plan, one_stage_input

    inp = one_stage_input(load_catalog(), target)
    return inp, hand_plan(inp)


def _shrunk(period: int) -> BurnRatePolicy:
    """The old composer's rules: windows × P/30 (at least a minute), 30-day factors."""
    windows = tuple(
        BurnWindow(severity=w.severity,
                   long=format_duration(max(60, round(w.long_s * period / 30))),
                   short=format_duration(max(60, round(w.short_s * period / 30))),
                   factor=w.factor * 30 / period)
        for w in BurnRatePolicy().windows)
    return BurnRatePolicy(period_days=period, windows=windows)


def _parse_duration(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdwy])", text):
        total += float(number) * {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400,
                                  "w": 604800, "y": 31536000}[unit]
    return total


def _first_firing(rules: dict[str, Any], case: dict[str, Any], alert: str,
                  span: tuple[int, int, int], workdir: Path) -> float | None:
    """Seconds after ``start`` of the first evaluation at which ``alert`` fires.

    ``span`` is (start, end, step) in seconds: every evaluation in (start, end] is
    asserted silent, and promtool reports each one that fires.
    """
    start, end, step = span
    case = {**case, "alert_rule_test": [
        {"eval_time": format_duration(t), "alertname": alert, "exp_alerts": []}
        for t in range(start + step, end + 1, step)]}
    folder = Path(tempfile.mkdtemp(dir=workdir))
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules))
    (folder / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"], "evaluation_interval": format_duration(step),
        "tests": [case]}))
    done = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=folder,
                          capture_output=True, text=True, timeout=1800, check=False)
    times = [_parse_duration(t) for name, t in _FIRED.findall(done.stdout + done.stderr)
             if name == alert]
    return min(times) - start if times else None


def _measure(ctx: ComposeContext, sc: Scenario, workdir: Path) -> float | None:
    p = ctx.placements[0]
    slo = slos_of(ctx, p)[0]
    case = promtool_case(ctx, slo, sc)
    if case is None:
        return None
    start = sc.segments[0][0] * sc.step_s if len(sc.segments) > 1 else 0
    end = max(c.at_s for c in sc.checks)
    return _first_firing(rule_groups(ctx, p), case, slo.alert_name(sc.severity),
                         (start, end, sc.step_s), workdir)


def _fast_burn(policy: BurnRatePolicy, burn: float, step_s: int = 30) -> Scenario:
    """A fixed burn rate after a clean 6 hours, sampled and evaluated every 30 s."""
    baseline = max(w.long_s for w in policy.of_severity("page"))
    end = 2 * baseline + 3600  # every page window full of the new ratio, plus an hour
    return Scenario("page", f"{burn:g}x burn, 30 s samples", step_s,
                    ((baseline // step_s, 0.0), (1, burn)), (Check("page", end, True),))


def _fmt(seconds: float | None) -> str:
    return "never" if seconds is None else fmt_latency(seconds * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, nargs="+", default=[7, 28, 30])
    parser.add_argument("--target", type=float, default=0.999)
    args = parser.parse_args(argv)
    if shutil.which("promtool") is None:
        print("promtool is not installed (apt-get install prometheus)", file=sys.stderr)
        return 2
    inp, plan = _input(args.target)
    workdir = Path(tempfile.mkdtemp(prefix="slo-detection-"))
    try:
        print(f"{'period':>6}  {'scenario':<44} {'model':>9} {'measured':>9} {'ratio':>6}"
              f"  {'old rules (baseline)':>20}")
        for period in args.periods:
            policy = BurnRatePolicy(period_days=period)
            new = ComposeContext(plan, inp, "bench", RunOpsSettings(burn_rate=policy))
            old = ComposeContext(plan, inp, "bench", RunOpsSettings(burn_rate=_shrunk(period)))
            plan_rows = [*scenarios(policy), _fast_burn(policy, 10.0), _fast_burn(policy, 20.0)]
            with ThreadPoolExecutor(max_workers=2) as pool:
                ours = list(pool.map(_measure, [new] * len(plan_rows), plan_rows,
                                     [workdir] * len(plan_rows)))
                theirs = list(pool.map(_measure, [old] * len(plan_rows), plan_rows,
                                       [workdir] * len(plan_rows)))
            for sc, got, base in zip(plan_rows, ours, theirs, strict=True):
                step = len(sc.segments) > 1
                model = detection_time_s(policy, sc.severity, sc.segments[-1][1]) if step \
                    else None
                ratio = f"{got / model:.3f}" if got is not None and model else "-"
                baseline = "(same rules)" if period == 30 else _fmt(base)
                shown = _fmt(model) if step else "-"
                print(f"{period:>5}d  {sc.severity + ' ' + sc.label:<44.44} {shown:>9} "
                      f"{_fmt(got):>9} {ratio:>6}  {baseline:>20}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
