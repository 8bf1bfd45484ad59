"""Behavioural ``promtool test rules`` files that pin *when* each alert fires.

For every SLO of a stage and every burn-rate condition (severity s, long window L, short
window S, factor f for the SLO period), two scenarios: the stage runs without errors for
the longest window of s, then its error ratio steps to ``b × (1 − target)`` with
b = 1.05·f (just above the threshold) and b = 0.95·f (just below). After the step the
error ratio over a window W grows as b·t/W until t = W, so a condition (L', S', f') with
f' < b holds from t = f'·L'/b on (its short window crossed earlier, at f'·S'/b), and the
alert of severity s fires at

    T(b) = min over conditions of s with f' < b of  f'·L'/b   (+ the alert's ``for``)

and never when no f' < b. Each scenario asserts the alert silent just before T and firing
just after it (or silent once every window holds only the new ratio, when it never
fires). One more scenario runs at exactly the budget's even spend (1×) for longer than
the longest window and asserts every alert whose factors are all above 1 silent
throughout — and, honestly, that an alert with a factor below 1 (the workbook's slow
ticket for periods under 30 days spends 10 % of the budget in 3 days, which a 1× burn
does) fires. A factor of exactly 1 is left unasserted at 1×: the ratio then equals the
threshold and ``>`` is decided by rounding.

CI runs ``promtool test rules`` on these files, so the shipped rules carry their own proof.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airflow_cloudplan.runops.base import Artifact, Emitter, dump_yaml
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.settings import (
    BurnRatePolicy,
    BurnWindow,
    format_duration,
    parse_duration,
)
from airflow_cloudplan.runops.slo import SLOSpec, alert_annotations, go_float, slos_of

EVENTS_PER_STEP = 1000.0
ABOVE, BELOW, HEALTHY = 1.05, 0.95, 1.0
_MINUTE = 60
_STEPS = (60, 300, 600, 900, 1800, 3600)
"""Sample/evaluation intervals a test file may use (each a divisor of the next windows)."""


def detection_time_s(policy: BurnRatePolicy, severity: str, burn: float) -> float | None:
    """Seconds from a step to burn rate ``burn`` until the severity's alert holds.

    The workbook's model: no errors before the step, every window full of traffic.
    ``None`` when no condition of the severity has a factor below ``burn``. The alert's
    ``for`` is not included.
    """
    times = [policy.factor(w) * w.long_s / burn for w in policy.of_severity(severity)
             if policy.factor(w) < burn]
    return min(times) if times else None


def step_for(windows: list[BurnWindow]) -> int:
    """The interval a scenario samples and evaluates at: a quarter of its shortest window.

    Rounded down to one of ``_STEPS`` (at least a minute), so every window that decides
    the scenario holds at least four intervals, while multi-day ticket scenarios run at
    half an hour instead of a minute (promtool's cost is samples in the windows × number
    of evaluations).
    """
    quarter = min(w.short_s for w in windows) // 4
    return max([s for s in _STEPS if s <= quarter], default=_STEPS[0])


@dataclass(frozen=True)
class Check:
    """One assertion: at ``at_s`` the alert of ``severity`` is (not) firing."""

    severity: str
    at_s: int
    firing: bool


@dataclass(frozen=True)
class Scenario:
    """A step (or a constant burn) fed to promtool and what must happen when."""

    severity: str
    label: str
    step_s: int
    segments: tuple[tuple[int, float], ...]
    """(intervals, burn rate) from time 0."""
    checks: tuple[Check, ...]


def _floor(seconds: float, unit: int = _MINUTE) -> int:
    return math.floor(seconds / unit) * unit


def _ceil(seconds: float, unit: int = _MINUTE) -> int:
    return math.ceil(seconds / unit) * unit


def step_scenario(policy: BurnRatePolicy, own: BurnWindow, mult: float) -> Scenario:
    """No errors for the longest window that matters, then a burn of ``mult`` × own factor.

    Asserts the alert silent just before the model's time and firing just after it (or,
    when no condition's factor is below the burn, silent once every window of the
    deciding condition holds only the new ratio). The tolerance is two intervals or 2 %
    of the time, whichever is larger: rate() sees a new sample once an interval, and
    Prometheus versions differ in whether a window's first sample is included.
    """
    severity, burn = own.severity, mult * policy.factor(own)
    relevant = [w for w in policy.of_severity(severity) if policy.factor(w) < burn]
    step = step_for(relevant or [own])
    baseline = _ceil(max(w.long_s for w in [*relevant, own]), step)
    hold = parse_duration(d) if (d := policy.for_of(severity)) else 0
    when = detection_time_s(policy, severity, burn)
    checks = []
    if when is None:
        checks.append(Check(severity, baseline + _ceil(own.long_s + 2 * step + hold), False))
    else:
        tol = max(2 * step, 0.02 * when)
        if (before := _floor(when - tol)) > 0:
            checks.append(Check(severity, baseline + before, False))
        checks.append(Check(severity, baseline + _ceil(when + tol + hold), True))
    label = f"{own.long}/{own.short} at {mult:g}x its factor {go_float(policy.factor(own))}"
    return Scenario(severity, label, step, ((baseline // step, 0.0), (1, burn)), tuple(checks))


def healthy_scenario(policy: BurnRatePolicy, severity: str) -> Scenario | None:
    """A constant 1× burn for the longest window plus an hour (days, for tickets).

    Every window then holds only the 1× ratio, so what holds at the end holds for good:
    silence where every factor is above 1; firing where one is below 1. A factor of
    exactly 1 is not asserted (the ratio equals the threshold; ``>`` is up to rounding).
    """
    windows = list(policy.of_severity(severity))
    factors = [policy.factor(w) for w in windows]
    longest = max(w.long_s for w in windows)
    step = step_for(windows)
    end = _ceil(longest + 3600, step)
    checks: tuple[Check, ...]
    if any(f < HEALTHY for f in factors):
        checks = (Check(severity, end, True),)
    elif all(f > HEALTHY for f in factors):
        checks = tuple(Check(severity, m, False)
                       for m in sorted({_ceil(longest, step), end}))
    else:
        return None
    return Scenario(severity, "a 1x burn (the budget lasts exactly the period)", step,
                    ((1, HEALTHY),), checks)


def scenarios(policy: BurnRatePolicy) -> list[Scenario]:
    """Every scenario of the policy: 1.05× and 0.95× of each factor, and 1×."""
    out = [step_scenario(policy, w, m) for w in policy.windows for m in (ABOVE, BELOW)]
    out += [h for s in policy.severities() if (h := healthy_scenario(policy, s)) is not None]
    return out


def _values(per_step: list[tuple[int, float]]) -> str:
    """A counter in promtool's expanding notation: (steps, increment) segments from 0."""
    parts, value = ["0"], 0.0
    for steps, inc in per_step:
        if steps <= 0:
            continue
        parts.append(f"{go_float(round(value + inc, 6))}+{go_float(round(inc, 6))}x{steps - 1}")
        value += inc * steps
    return " ".join(parts)


def _input_series(slo: SLOSpec, segments: list[tuple[int, float]]) -> list[dict[str, str]]:
    """Counters for ``segments`` of (steps, error ratio), ``EVENTS_PER_STEP`` events a step."""
    roles = {role: name for role, name in slo.test_series()}
    series = []
    for role, name in sorted(roles.items()):
        if role == "total":
            incs = [(n, EVENTS_PER_STEP) for n, _ in segments]
        elif role == "bad":
            incs = [(n, EVENTS_PER_STEP * r) for n, r in segments]
        else:
            incs = [(n, EVENTS_PER_STEP * (1 - r)) for n, r in segments]
        series.append({"series": name, "values": _values(incs)})
    return series


def _expected(ctx: ComposeContext, slo: SLOSpec, severity: str) -> dict[str, Any]:
    return {
        "exp_labels": {**slo.series_labels, "severity": severity,
                       "slo_target": go_float(slo.target)},
        "exp_annotations": alert_annotations(ctx, slo, severity),
    }


def promtool_case(ctx: ComposeContext, slo: SLOSpec, sc: Scenario) -> dict[str, Any] | None:
    """One promtool test group; ``None`` when an error ratio would exceed 1."""
    if any(burn * slo.budget >= 1 for _, burn in sc.segments):
        return None
    end = max(c.at_s for c in sc.checks)
    segments = list(sc.segments)
    need = end // sc.step_s + 1 - sum(n for n, _ in segments)
    if need > 0:
        segments[-1] = (segments[-1][0] + need, segments[-1][1])
    ratios = [(n, burn * slo.budget) for n, burn in segments]
    return {
        "interval": format_duration(sc.step_s),
        "input_series": _input_series(slo, ratios),
        "alert_rule_test": [
            {"eval_time": format_duration(c.at_s), "alertname": slo.alert_name(c.severity),
             "exp_alerts": [_expected(ctx, slo, c.severity)] if c.firing else []}
            for c in sorted(sc.checks, key=lambda c: c.at_s)
        ],
    }


def test_path(stage: str, severity: str, step_s: int) -> str:
    """Where the promtool tests of a stage's alerts of one severity and interval go."""
    return f"slo/tests/{stage}.{severity}-{format_duration(step_s)}.test.yaml"


def promtool_tests(ctx: ComposeContext, p: StagePlacement) -> dict[str, tuple[str, dict[str, Any]]]:
    """The ``promtool test rules`` files of a stage: path → (header, document).

    One file per severity and evaluation interval (promtool evaluates a whole file at
    one interval): scenarios of every SLO of the stage, in the policy's order.
    """
    policy = ctx.settings.burn_rate
    files: dict[str, tuple[list[str], list[dict[str, Any]], list[str], int]] = {}
    for sc in scenarios(policy):
        path = test_path(p.name, sc.severity, sc.step_s)
        labels, tests, skipped, _ = files.setdefault(path, ([], [], [], sc.step_s))
        labels.append(sc.label)
        for slo in slos_of(ctx, p):
            case = promtool_case(ctx, slo, sc)
            if case is None:
                skipped.append(f"{slo.sli}: {sc.label} (error ratio above 1)")
            else:
                tests.append(case)
    out = {}
    for path, (labels, tests, skipped, step) in files.items():
        header = (f"promtool test rules for stage {p.name} ({policy.period} SLO period), "
                  f"evaluated every {format_duration(step)}. Scenarios, for each SLO: "
                  + "; ".join(labels) + ". See airflow_cloudplan/runops/slo_tests.py.")
        if skipped:
            header += "\nNot testable: " + "; ".join(skipped) + "."
        out[path] = (header, {"rule_files": [f"../rules/{p.name}.rules.yaml"],
                              "evaluation_interval": format_duration(step),
                              "tests": tests})
    return out


class SLOTestEmitter(Emitter):
    """``slo/tests/<stage>.test.yaml``: behavioural tests of the stage's alerts."""

    name = "slo-tests"

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """The promtool test files of every stage that has SLO rules."""
        return [
            Artifact(path=path, content=dump_yaml(doc, header),
                     kind="prometheus-rule-tests", stage=p.name)
            for p in ctx.placements if slos_of(ctx, p)
            for path, (header, doc) in promtool_tests(ctx, p).items()
            if doc["tests"]
        ]


def detection_markdown(policy: BurnRatePolicy) -> str:
    """The model's detection times as Markdown (tested to appear in docs/runops.md)."""
    from airflow_cloudplan.report.units import fmt_latency

    rows = ["| condition | fires after a step to 1.05× its factor | to 0.95× its factor |",
            "|---|---|---|"]
    for w in policy.windows:
        cells = []
        for mult in (ABOVE, BELOW):
            burn = mult * policy.factor(w)
            when = detection_time_s(policy, w.severity, burn)
            if when is None:
                cells.append("never")
                continue
            by = min((x for x in policy.of_severity(w.severity) if policy.factor(x) < burn),
                     key=lambda x: policy.factor(x) * x.long_s)
            via = "" if by == w else f" (through {by.long} / {by.short})"
            cells.append(f"{fmt_latency(when * 1000)}{via}")
        rows.append(f"| {w.severity} {w.long} / {w.short} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)
