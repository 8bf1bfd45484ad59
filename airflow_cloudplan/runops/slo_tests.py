"""Behavioural ``promtool test rules`` files shipped next to the SLO rules.

For every SLO of a stage three scenarios of synthetic series (one sample a minute):

* **fast burn** — the error ratio is far above the fastest page threshold: every page
  alert of the SLO fires once its long window and ``for`` have passed;
* **slow burn** — the error ratio is above a ticket threshold but below every page
  threshold: the ticket alert fires and the page alert stays silent;
* **healthy** — half the slowest burn threshold: no alert of the SLO fires.

CI runs ``promtool test rules`` on these files, so the shipped rules carry their own proof.
"""

from __future__ import annotations

from typing import Any

from airflow_cloudplan.runops.base import Artifact, Emitter, dump_yaml
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.settings import format_duration
from airflow_cloudplan.runops.slo import SLOSpec, alert_annotations, go_float, slos_of

EVENTS_PER_MINUTE = 1000.0


def _series(slo: SLOSpec, ratio: float, minutes: int) -> list[dict[str, str]]:
    """Counter series with ``EVENTS_PER_MINUTE`` events a minute, ``ratio`` of them bad."""
    labels = slo.labels
    bad = round(EVENTS_PER_MINUTE * ratio, 6)
    good = round(EVENTS_PER_MINUTE - bad, 6)
    out = []
    if slo.bad is not None:
        metric = slo.total.split("{", 1)[0]
        out.append({"series": f'{metric}{{{labels},outcome="failure"}}',
                    "values": f"0+{go_float(bad)}x{minutes}"})
        out.append({"series": f'{metric}{{{labels},outcome="success"}}',
                    "values": f"0+{go_float(good)}x{minutes}"})
    else:
        if slo.bucket_metric is None or slo.threshold_s is None:
            raise ValueError(f"latency SLO of {slo.stage} has no bucket threshold")
        count = slo.total.split("{", 1)[0]
        out.append({"series": f"{count}{{{labels}}}",
                    "values": f"0+{go_float(EVENTS_PER_MINUTE)}x{minutes}"})
        out.append({"series": f'{slo.bucket_metric}{{{labels},le="{go_float(slo.threshold_s)}"}}',
                    "values": f"0+{go_float(good)}x{minutes}"})
    return out


def _alert(slo: SLOSpec, ctx: ComposeContext, severity: str) -> dict[str, Any]:
    return {
        "exp_labels": {
            "pipeline": slo.pipeline, "stage": slo.stage, "sli": slo.sli,
            "severity": severity, "slo_target": go_float(slo.target),
        },
        "exp_annotations": alert_annotations(ctx, slo, severity),
    }


def _case(ctx: ComposeContext, slo: SLOSpec, ratio: float, at_s: int,
          firing: dict[str, bool]) -> dict[str, Any]:
    minutes = at_s // 60 + 5
    alert_tests = []
    for severity, fires in sorted(firing.items()):
        exp = [_alert(slo, ctx, severity)] if fires else []
        alert_tests.append({"eval_time": format_duration(at_s),
                            "alertname": slo.alert_name(severity), "exp_alerts": exp})
    return {"interval": "1m", "input_series": _series(slo, ratio, minutes),
            "alert_rule_test": alert_tests}


def promtool_tests(ctx: ComposeContext, p: StagePlacement) -> dict[str, Any]:
    """The ``promtool test rules`` document for one stage's rule file."""
    policy = ctx.settings.burn_rate
    scaled = policy.scaled()
    page = [(w, lg, sh) for w, lg, sh in scaled if w.severity == "page"]
    ticket = [(w, lg, sh) for w, lg, sh in scaled if w.severity == "ticket"]
    tests = []
    for slo in slos_of(p, ctx.pipeline_name, ctx.settings.online_latency_target):
        budget = slo.budget
        severities = {w.severity for w, _, _ in scaled}
        if page:
            top = max(w.factor for w, _, _ in page)
            ratio = min(1.0, 2 * top * budget)
            at = max(lg for _, lg, _ in page) + 60 * 10
            tests.append(_case(ctx, slo, ratio, at, {"page": True}))
        if ticket:
            lowest_page = min((w.factor for w, _, _ in page), default=float("inf"))
            eligible = [w.factor for w, _, _ in ticket if w.factor < lowest_page]
            if eligible:
                high = min(lowest_page, 1 / budget)
                ratio = (max(eligible) + high) / 2 * budget if high != float("inf") else (
                    2 * max(eligible) * budget)
                ratio = min(ratio, 1.0)
                shortest = min(sh for _, _, sh in ticket)
                at = shortest + 60 * 30
                tests.append(_case(ctx, slo, ratio, at,
                                   {s: s == "ticket" for s in severities}))
        lowest = min(w.factor for w, _, _ in scaled)
        # The ratio is constant, so every window sees it once the longest short window has
        # data; evaluating later (3 days) would only cost promtool time.
        at = max(sh for _, _, sh in scaled) + 60 * 10
        tests.append(_case(ctx, slo, 0.5 * lowest * budget, at,
                           dict.fromkeys(severities, False)))
    return {
        "rule_files": [f"../rules/{p.name}.rules.yaml"],
        "evaluation_interval": "1m",
        "tests": tests,
    }


class SLOTestEmitter(Emitter):
    """``slo/tests/<stage>.test.yaml``: behavioural tests of the stage's alerts."""

    name = "slo-tests"

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """One promtool test file per stage."""
        return [
            Artifact(
                path=f"slo/tests/{p.name}.test.yaml",
                content=dump_yaml(promtool_tests(ctx, p),
                                  f"promtool test rules for stage {p.name}: fast burn pages, "
                                  "slow burn tickets, healthy is silent."),
                kind="prometheus-rule-tests", stage=p.name,
            )
            for p in ctx.placements
        ]
