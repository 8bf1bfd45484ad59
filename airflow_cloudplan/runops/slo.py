"""SLO monitors: Prometheus recording/alerting rules and OpenSLO v1 documents per stage.

Every stage has an availability SLI (share of runs or requests that succeed, target
``slo.availability``) and, when it states a threshold, a latency SLI (share of requests
under ``p95_ms``, target ``online_latency_target``; or share of runs finishing within
``deadline_minutes``, target ``slo.availability``). Each SLI gets recording rules for its
error ratio over every window the burn-rate policy uses and one alert per severity: the
Google SRE workbook's multi-window, multi-burn-rate scheme, where a condition holds when
both its long and its short window burn the error budget faster than ``factor``::

    error_ratio[long] > factor × (1 − target)  and  error_ratio[short] > factor × (1 − target)

The metric names are the operators' contract (:mod:`airflow_cloudplan.runops.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model.workload import ExecutionMode
from airflow_cloudplan.runops import metrics
from airflow_cloudplan.runops.base import Artifact, Emitter, dump_yaml
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.otel import slo_threshold_s
from airflow_cloudplan.runops.settings import format_duration

RECORD_PREFIX = "cloudplan_slo:error_ratio:rate"


def go_float(value: float) -> str:
    """A float as Go's Prometheus client writes an ``le`` label (``1800``, ``0.25``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def le_matcher(value: float) -> str:
    """A regex matching the ``le`` label of a bucket as any client may format it."""
    text = go_float(value)
    return f"{text}|{text}\\\\.0" if float(value).is_integer() else text.replace(".", "\\\\.")


@dataclass(frozen=True)
class SLOSpec:
    """One SLO of one stage with the PromQL selectors of its SLI."""

    pipeline: str
    stage: str
    sli: str
    target: float
    total: str
    bad: str | None
    good: str | None
    description: str
    threshold_s: float | None = None
    bucket_metric: str | None = None

    @property
    def budget(self) -> float:
        """The error budget as a ratio."""
        return 1.0 - self.target

    @property
    def labels(self) -> str:
        """The label matchers of this stage's series."""
        return f'pipeline="{self.pipeline}",stage="{self.stage}"'

    def alert_name(self, severity: str) -> str:
        """The alert's name, e.g. ``CloudplanAvailabilityBudgetBurnPage``."""
        return f"Cloudplan{self.sli.capitalize()}BudgetBurn{severity.capitalize()}"

    def error_ratio(self, window: str) -> str:
        """PromQL for the SLI's error ratio over a window."""
        by = "sum by (pipeline, stage)"
        total = f"{by} (rate({self.total}[{window}]))"
        if self.bad is not None:
            bad = f"{by} (rate({self.bad}[{window}]))"
            return f"({bad} or (0 * {total}))\n/\n{total}"
        return f"1 - (\n  {by} (rate({self.good}[{window}]))\n  /\n  {total}\n)"


def slos_of(p: StagePlacement, pipeline: str, online_latency_target: float) -> list[SLOSpec]:
    """The availability SLO and, when the stage states a threshold, the latency SLO."""
    labels = f'pipeline="{pipeline}",stage="{p.name}"'
    online = p.stage.mode == ExecutionMode.ONLINE
    if online:
        total_metric, bucket = metrics.REQUEST_DURATION_COUNT, metrics.REQUEST_DURATION_BUCKET
        avail_total = total_metric
    else:
        total_metric, bucket = metrics.STAGE_DURATION_COUNT, metrics.STAGE_DURATION_BUCKET
        avail_total = metrics.STAGE_RUNS_TOTAL
    unit = "requests" if online else "runs"
    out = [
        SLOSpec(
            pipeline=pipeline, stage=p.name, sli="availability",
            target=p.stage.slo.availability,
            total=f"{avail_total}{{{labels}}}",
            bad=f'{avail_total}{{{labels},outcome="{metrics.OUTCOME_FAILURE}"}}',
            good=None,
            description=f"share of {unit} of {p.name} that succeed",
        )
    ]
    threshold = slo_threshold_s(p)
    if threshold is not None:
        target = online_latency_target if online else p.stage.slo.availability
        out.append(SLOSpec(
            pipeline=pipeline, stage=p.name, sli="latency", target=target,
            total=f"{total_metric}{{{labels}}}", bad=None,
            good=f'{bucket}{{{labels},le=~"{le_matcher(threshold)}"}}',
            description=f"share of {unit} of {p.name} that finish within {go_float(threshold)} s",
            threshold_s=threshold, bucket_metric=bucket,
        ))
    return out


def _threshold(factor: float, budget: float) -> str:
    return go_float(round(factor * budget, 12))


def rule_groups(ctx: ComposeContext, p: StagePlacement) -> dict[str, Any]:
    """The Prometheus rule file of one stage."""
    policy = ctx.settings.burn_rate
    scaled = policy.scaled()
    windows = sorted({s for _, long_s, short_s in scaled for s in (long_s, short_s)})
    rules: list[dict[str, Any]] = []
    for slo in slos_of(p, ctx.pipeline_name, ctx.settings.online_latency_target):
        for seconds in windows:
            name = format_duration(seconds)
            rules.append({
                "record": f"{RECORD_PREFIX}{name}",
                "expr": slo.error_ratio(name),
                "labels": {"sli": slo.sli},
            })
        for severity in sorted({w.severity for w, _, _ in scaled}):
            conditions = []
            for w, long_s, short_s in scaled:
                if w.severity != severity:
                    continue
                limit = _threshold(w.factor, slo.budget)
                sel = f'{{{slo.labels},sli="{slo.sli}"}}'
                conditions.append(
                    f"(\n  {RECORD_PREFIX}{format_duration(long_s)}{sel} > {limit}\n  and\n"
                    f"  {RECORD_PREFIX}{format_duration(short_s)}{sel} > {limit}\n)"
                )
            alert = slo.alert_name(severity)
            rules.append({
                "alert": alert,
                "expr": "\nor\n".join(conditions),
                "for": policy.for_of(severity),
                "labels": {"severity": severity, "sli": slo.sli,
                           "slo_target": go_float(slo.target)},
                "annotations": alert_annotations(ctx, slo, severity),
            })
    return {"groups": [{"name": f"cloudplan-{ctx.pipeline_name}-{p.name}-slo", "rules": rules}]}


def alert_annotations(ctx: ComposeContext, slo: SLOSpec, severity: str) -> dict[str, str]:
    """The annotations of an SLO alert (the promtool tests expect exactly these)."""
    return {
        "summary": f"{ctx.pipeline_name}/{slo.stage}: {slo.sli} error budget burning "
        f"({severity})",
        "description": f"SLO: {slo.description}, target {go_float(slo.target)} over "
        f"{ctx.settings.burn_rate.period_days}d. The error ratio exceeds the burn-rate "
        "thresholds.",
        "runbook_url": runbook_path(slo.stage, slo.alert_name(severity)),
    }


def runbook_path(stage: str, alert: str) -> str:
    """Where the runbook of a stage's alert is written (relative to the artifacts dir)."""
    return f"runbooks/{stage}/{alert}.md"


def openslo_document(ctx: ComposeContext, slo: SLOSpec) -> dict[str, Any]:
    """An OpenSLO v1 ``SLO`` document with an inline ratio indicator."""
    name = f"{ctx.pipeline_name}-{slo.stage}-{slo.sli}".replace("_", "-")
    metric_spec: dict[str, Any] = {"total": {"metricSource": {
        "type": "Prometheus", "spec": {"query": slo.total}}}}
    if slo.bad is not None:
        metric_spec["bad"] = {"metricSource": {"type": "Prometheus", "spec": {"query": slo.bad}}}
    else:
        metric_spec["good"] = {"metricSource": {"type": "Prometheus",
                                                "spec": {"query": slo.good}}}
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": name, "displayName": f"{slo.stage} {slo.sli}",
                     "labels": {"pipeline": [ctx.pipeline_name], "stage": [slo.stage]}},
        "spec": {
            "description": slo.description,
            "service": ctx.pipeline_name,
            "indicator": {
                "metadata": {"name": f"{name}-sli"},
                "spec": {"ratioMetric": {"counter": True, **metric_spec}},
            },
            "timeWindow": [{"duration": f"{ctx.settings.burn_rate.period_days}d",
                            "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"displayName": slo.sli, "target": slo.target}],
        },
    }


class SLOEmitter(Emitter):
    """Rule files and OpenSLO documents; rejects burn rates that could never fire."""

    name = "slo"

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """``slo/rules/<stage>.rules.yaml`` and ``slo/openslo/<stage>-<sli>.yaml``."""
        out = []
        for p in ctx.placements:
            out.append(Artifact(
                path=f"slo/rules/{p.name}.rules.yaml",
                content=dump_yaml(rule_groups(ctx, p),
                                  f"SLO burn-rate rules of stage {p.name} ({ctx.pipeline_name})."),
                kind="prometheus-rules", stage=p.name, evidence=f"slo:{p.name}",
            ))
            for slo in slos_of(p, ctx.pipeline_name, ctx.settings.online_latency_target):
                out.append(Artifact(
                    path=f"slo/openslo/{p.name}-{slo.sli}.yaml",
                    content=dump_yaml(openslo_document(ctx, slo)),
                    kind="openslo", stage=p.name,
                ))
        return out

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        """Every burn threshold must be reachable: factor × budget < 1."""
        problems = []
        for p in ctx.placements:
            for slo in slos_of(p, ctx.pipeline_name, ctx.settings.online_latency_target):
                for w in ctx.settings.burn_rate.windows:
                    if w.factor * slo.budget >= 1:
                        problems.append(self.problem(
                            f"{slo.sli} target {slo.target} leaves a budget of {slo.budget:.3g}; "
                            f"burn factor {w.factor} would need an error ratio of "
                            f"{w.factor * slo.budget:.3g} > 1, so the {w.severity} alert can "
                            "never fire",
                            f"raise the target above {1 - 1 / w.factor:.4f} or lower the factor",
                            stage=p.name,
                        ))
        return problems
