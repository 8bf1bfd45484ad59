"""SLO monitors: Prometheus recording/alerting rules and OpenSLO v1 documents per stage.

**Which SLOs.** Every stage has an availability SLI (share of runs — online: requests —
that succeed, target ``slo.availability``) and, when it states a threshold, a latency SLI
(share of requests under ``p95_ms``, target ``online_latency_target``; or share of runs
finishing within ``deadline_minutes``, target ``slo.availability``). SLIs are measured
from metrics, so a stage gets SLO rules only if its telemetry configuration exports
metrics. A stage that exports none and *states* an SLO in its spec is a compose error
(the alert could never fire); one that states none keeps no SLO (its default 0.99
availability is not monitored) and the manifest says so.

**Rules** (Sloth-compatible names and labels, so Sloth's and Pyrra-style dashboards work):

* ``slo:sli_error:ratio_rate<w>`` for every window w of the burn-rate policy and for the
  SLO period (e.g. ``ratio_rate28d``: the error ratio of the period, from the counters);
* ``slo:objective:ratio``, ``slo:error_budget:ratio``, ``slo:time_period:days``,
  ``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio``,
  ``slo:period_error_budget_remaining:ratio`` and the info series ``cloudplan_slo_info``;
* one alert per severity: the Google SRE workbook's multi-window, multi-burn-rate scheme.
  A condition holds when both its long and short window burn faster than its factor::

      ratio_rate<long> > f_P × (1 − target)  and  ratio_rate<short> > f_P × (1 − target)

  Windows are the workbook's (5m/30m/1h/2h/6h/1d/3d) for every period P; the factors
  scale as f_P = f_30d × P/30 (:class:`~airflow_cloudplan.runops.settings.BurnWindow`).

Series and labels come from the metric contract (:mod:`airflow_cloudplan.runops.metrics`);
:func:`check_alerts_backed` proves, from the generated files, that every alert reads a
series the stage's telemetry configuration exports.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.workload import ExecutionMode, Stage
from airflow_cloudplan.runops import metrics
from airflow_cloudplan.runops.base import Artifact, Emitter, dump_yaml
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.otel import sdk_path, slo_threshold_s
from airflow_cloudplan.runops.settings import BurnRatePolicy, format_duration

RECORD_PREFIX = "slo:sli_error:ratio_rate"
INFO_METRIC = "cloudplan_slo_info"
DNS_LABEL_MAX = 63
OPENSLO_DESCRIPTION_MAX = 1050
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def go_float(value: float) -> str:
    """A float as Go's Prometheus client writes an ``le`` label (``1800``, ``0.25``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def le_matcher(value: float) -> str:
    """A regex matching the ``le`` label of a bucket as any client may format it."""
    text = go_float(value)
    return f"{text}|{text}\\\\.0" if float(value).is_integer() else text.replace(".", "\\\\.")


def dns_label(text: str) -> str:
    """``text`` as an RFC 1123 DNS label (OpenSLO ``metadata.name``), at most 63 characters.

    Lower-cased; every run of characters outside ``[a-z0-9]`` becomes one ``-``; leading
    and trailing ``-`` are dropped. A longer result keeps its first 54 characters and
    appends ``-`` and the first 8 hex digits of the sha256 of ``text``, so two long names
    that share a prefix stay distinct and the same input always gives the same name.
    """
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
    if len(label) <= DNS_LABEL_MAX:
        return label
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{label[:DNS_LABEL_MAX - 9].rstrip('-')}-{digest}"


def is_dns_label(text: str) -> bool:
    """True for an RFC 1123 label of at most 63 characters."""
    return len(text) <= DNS_LABEL_MAX and _DNS_LABEL.match(text) is not None


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
    owner: str | None = None

    @property
    def budget(self) -> float:
        """The error budget as a ratio (12 significant digits: 1 − 0.999 = 0.001)."""
        return float(f"{1.0 - self.target:.12g}")

    @property
    def labels(self) -> str:
        """The label matchers of this stage's series."""
        return f'pipeline="{self.pipeline}",stage="{self.stage}"'

    @property
    def selector(self) -> str:
        """The matchers of this SLO's recorded series."""
        return f'{{{self.labels},sli="{self.sli}"}}'

    @property
    def sloth_labels(self) -> dict[str, str]:
        """Sloth's identifying labels (its dashboards select on them)."""
        return {"sloth_id": f"{self.pipeline}-{self.stage}-{self.sli}",
                "sloth_service": self.pipeline, "sloth_slo": f"{self.stage}-{self.sli}"}

    @property
    def record_labels(self) -> dict[str, str]:
        """Static labels of every recorded series of this SLO."""
        return {"sli": self.sli, **self.sloth_labels}

    @property
    def series_labels(self) -> dict[str, str]:
        """Every label of a recorded series (the aggregation keeps pipeline and stage)."""
        return {"pipeline": self.pipeline, "stage": self.stage, **self.record_labels}

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

    def test_series(self) -> list[tuple[str, str]]:
        """(role, series) of the counters a test feeds, labelled as the operators record them.

        Availability: ``bad`` and ``good`` events (the SLI's total is their sum);
        latency: ``total`` events and ``good`` ones (the bucket at the threshold).
        """
        metric = self.total.split("{", 1)[0]
        if self.bad is not None:
            if metric == metrics.REQUESTS_TOTAL:
                return [("bad", f'{metric}{{{self.labels},code="500"}}'),
                        ("good", f'{metric}{{{self.labels},code="200"}}')]
            return [("bad", f'{metric}{{{self.labels},outcome="{metrics.OUTCOME_FAILURE}"}}'),
                    ("good", f'{metric}{{{self.labels},outcome="{metrics.OUTCOME_SUCCESS}"}}')]
        if self.bucket_metric is None or self.threshold_s is None:
            raise ValueError(f"latency SLO of {self.stage} has no bucket threshold")
        le = go_float(self.threshold_s)
        return [("total", f"{metric}{{{self.labels}}}"),
                ("good", f'{self.bucket_metric}{{{self.labels},le="{le}"}}')]


def slo_stated(stage: Stage) -> bool:
    """Whether the spec states an SLO for the stage (a threshold or an availability)."""
    slo = stage.slo
    stated = "slo" in stage.model_fields_set and "availability" in slo.model_fields_set
    return stated or slo.p95_ms is not None or slo.deadline_minutes is not None


def measured(p: StagePlacement) -> bool:
    """Whether the stage's telemetry configuration exports metrics (what SLIs read)."""
    return Signal.METRICS in p.emitted_signals


def declared_slos(p: StagePlacement, pipeline: str,
                  online_latency_target: float) -> list[SLOSpec]:
    """The availability SLO and, when the stage states a threshold, the latency SLO."""
    labels = f'pipeline="{pipeline}",stage="{p.name}"'
    online = p.stage.mode == ExecutionMode.ONLINE
    if online:
        count, bucket = metrics.REQUEST_DURATION_COUNT, metrics.REQUEST_DURATION_BUCKET
        avail_total = f"{metrics.REQUESTS_TOTAL}{{{labels}}}"
        avail_bad = f'{metrics.REQUESTS_TOTAL}{{{labels},code=~"{metrics.SERVER_ERROR_CODES}"}}'
    else:
        count, bucket = metrics.STAGE_DURATION_COUNT, metrics.STAGE_DURATION_BUCKET
        avail_total = f"{metrics.STAGE_RUNS_TOTAL}{{{labels}}}"
        avail_bad = f'{metrics.STAGE_RUNS_TOTAL}{{{labels},outcome="{metrics.OUTCOME_FAILURE}"}}'
    unit = "requests" if online else "runs"
    owner = p.stage.owner
    out = [SLOSpec(
        pipeline=pipeline, stage=p.name, sli="availability", target=p.stage.slo.availability,
        total=avail_total, bad=avail_bad, good=None, owner=owner,
        description=f"share of {unit} of {p.name} that succeed",
    )]
    threshold = slo_threshold_s(p)
    if threshold is not None:
        target = online_latency_target if online else p.stage.slo.availability
        out.append(SLOSpec(
            pipeline=pipeline, stage=p.name, sli="latency", target=target,
            total=f"{count}{{{labels}}}", bad=None,
            good=f'{bucket}{{{labels},le=~"{le_matcher(threshold)}"}}', owner=owner,
            description=f"share of {unit} of {p.name} that finish within {go_float(threshold)} s",
            threshold_s=threshold, bucket_metric=bucket,
        ))
    return out


def slos_of(ctx: ComposeContext, p: StagePlacement) -> list[SLOSpec]:
    """The SLOs of a stage that its telemetry can measure (none without metrics)."""
    if not measured(p):
        return []
    return declared_slos(p, ctx.pipeline_name, ctx.settings.online_latency_target)


def threshold_expr(factor: float, budget: float) -> str:
    """``(f_P * budget)``: the error ratio a condition must exceed (Sloth's notation)."""
    return f"({go_float(factor)} * {go_float(budget)})"


def _window_recordings(ctx: ComposeContext, slo: SLOSpec) -> list[dict[str, Any]]:
    """``slo:sli_error:ratio_rate<w>`` for every window the alerts read."""
    return [{"record": f"{RECORD_PREFIX}{format_duration(seconds)}",
             "expr": slo.error_ratio(format_duration(seconds)),
             "labels": dict(slo.record_labels)}
            for seconds in ctx.settings.burn_rate.window_lengths()]


def _budget_recordings(ctx: ComposeContext, slo: SLOSpec) -> list[dict[str, Any]]:
    """The period's error ratio, the SLO's metadata and its remaining budget."""
    policy = ctx.settings.burn_rate
    labels = dict(slo.series_labels)
    shortest = format_duration(policy.window_lengths()[0])
    period = f"{RECORD_PREFIX}{policy.period}{slo.selector}"
    budget = go_float(slo.budget)
    info = {**labels, "objective": go_float(slo.target), "period": policy.period}
    if slo.owner:
        info["owner"] = slo.owner
    return [
        {"record": f"{RECORD_PREFIX}{policy.period}", "expr": slo.error_ratio(policy.period),
         "labels": dict(slo.record_labels)},
        {"record": "slo:objective:ratio", "expr": f"vector({go_float(slo.target)})",
         "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector({budget})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({policy.period_days})",
         "labels": labels},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"{RECORD_PREFIX}{shortest}{slo.selector} / {budget}", "labels": labels},
        {"record": "slo:period_burn_rate:ratio", "expr": f"{period} / {budget}",
         "labels": labels},
        {"record": "slo:period_error_budget_remaining:ratio",
         "expr": f"1 - slo:period_burn_rate:ratio{slo.selector}", "labels": labels},
        {"record": INFO_METRIC, "expr": "vector(1)", "labels": info},
    ]


def _alert(ctx: ComposeContext, slo: SLOSpec, severity: str) -> dict[str, Any]:
    policy = ctx.settings.burn_rate
    conditions = []
    for w in policy.of_severity(severity):
        limit = threshold_expr(policy.factor(w), slo.budget)
        conditions.append(
            f"(\n  {RECORD_PREFIX}{w.long}{slo.selector} > {limit}\n  and\n"
            f"  {RECORD_PREFIX}{w.short}{slo.selector} > {limit}\n)"
        )
    rule: dict[str, Any] = {
        "alert": slo.alert_name(severity),
        "expr": "\nor\n".join(conditions),
        "labels": {"severity": severity, "slo_target": go_float(slo.target)},
        "annotations": alert_annotations(ctx, slo, severity),
    }
    duration = policy.for_of(severity)
    if duration is not None:
        rule["for"] = duration
    return rule


def rule_groups(ctx: ComposeContext, p: StagePlacement) -> dict[str, Any]:
    """The alerting rule file of one stage: one group per SLO (window ratios, then alerts).

    Rules of a group are evaluated in order, so each alert reads recordings of the same
    evaluation.
    """
    groups = []
    for slo in slos_of(ctx, p):
        rules = _window_recordings(ctx, slo)
        rules += [_alert(ctx, slo, s) for s in ctx.settings.burn_rate.severities()]
        groups.append({"name": f"cloudplan-{ctx.pipeline_name}-{p.name}-{slo.sli}",
                       "rules": rules})
    return {"groups": groups}


def budget_groups(ctx: ComposeContext, p: StagePlacement) -> dict[str, Any]:
    """The budget rule file of one stage (dashboards): period ratio, metadata, remaining.

    Kept apart from the alerts: the period ratio reads a whole period of samples, so it
    may be evaluated less often, and the alerts' promtool tests need not evaluate it.
    """
    return {"groups": [
        {"name": f"cloudplan-{ctx.pipeline_name}-{p.name}-{slo.sli}-budget",
         "rules": _budget_recordings(ctx, slo)}
        for slo in slos_of(ctx, p)]}


def rules_path(stage: str) -> str:
    """The alerting rule file of a stage."""
    return f"slo/rules/{stage}.rules.yaml"


def budget_rules_path(stage: str) -> str:
    """The budget rule file of a stage."""
    return f"slo/rules/{stage}.budget.rules.yaml"


def alert_annotations(ctx: ComposeContext, slo: SLOSpec, severity: str) -> dict[str, str]:
    """The annotations of an SLO alert (the promtool tests expect exactly these)."""
    policy = ctx.settings.burn_rate
    pairs = "; ".join(f"{w.long}/{w.short} > {go_float(policy.factor(w))}x"
                      for w in policy.of_severity(severity))
    return {
        "summary": f"{ctx.pipeline_name}/{slo.stage}: {slo.sli} error budget burning "
        f"({severity})",
        "description": f"SLO: {slo.description}, target {go_float(slo.target)} over "
        f"{policy.period}. Both windows of a pair burn the budget faster than its factor "
        f"({pairs}).",
        "runbook_url": runbook_path(slo.stage, slo.alert_name(severity)),
    }


def runbook_path(stage: str, alert: str) -> str:
    """Where the runbook of a stage's alert is written (relative to the artifacts dir)."""
    return f"runbooks/{stage}/{alert}.md"


@dataclass(frozen=True)
class BurnRateRow:
    """One burn-rate condition and its factor for several SLO periods."""

    severity: str
    long: str
    short: str
    budget_percent: float
    factors: dict[int, float]


def burn_rate_table(policy: BurnRatePolicy,
                    periods: tuple[int, ...] = (7, 28, 30)) -> list[BurnRateRow]:
    """The conditions of ``policy`` with the factor each period uses (docs/runops.md)."""
    return [BurnRateRow(w.severity, w.long, w.short, round(100 * w.budget_share(), 6),
                        {p: w.factor_for(p) for p in periods}) for w in policy.windows]


def burn_rate_markdown(policy: BurnRatePolicy, periods: tuple[int, ...] = (7, 28, 30)) -> str:
    """The burn-rate table as Markdown (tested to appear verbatim in docs/runops.md)."""
    head = "| severity | long / short | budget spent in the long window |" + "".join(
        f" factor {p}d |" for p in periods)
    rule = "|---|---|---|" + "---|" * len(periods)
    rows = [f"| {r.severity} | {r.long} / {r.short} | {r.budget_percent:g} % |"
            + "".join(f" {r.factors[p]:.4g} |" for p in periods)
            for r in burn_rate_table(policy, periods)]
    return "\n".join([head, rule, *rows])


def service_name(ctx: ComposeContext) -> str:
    """The OpenSLO ``Service`` name of the pipeline."""
    return dns_label(ctx.pipeline_name)


def openslo_service(ctx: ComposeContext) -> dict[str, Any]:
    """The OpenSLO v1 ``Service`` document of the pipeline."""
    description = (ctx.inp.pipeline.description or f"pipeline {ctx.pipeline_name}").strip()
    return {
        "apiVersion": "openslo/v1",
        "kind": "Service",
        "metadata": {"name": service_name(ctx), "displayName": ctx.pipeline_name},
        "spec": {"description": " ".join(description.split())[:OPENSLO_DESCRIPTION_MAX]},
    }


def openslo_document(ctx: ComposeContext, slo: SLOSpec) -> dict[str, Any]:
    """An OpenSLO v1 ``SLO`` document with an inline ratio indicator."""
    name = dns_label(f"{ctx.pipeline_name}-{slo.stage}-{slo.sli}")
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
        "metadata": {"name": name, "displayName": f"{ctx.pipeline_name} {slo.stage} {slo.sli}",
                     "labels": {"pipeline": [ctx.pipeline_name], "stage": [slo.stage]}},
        "spec": {
            "description": slo.description[:OPENSLO_DESCRIPTION_MAX],
            "service": service_name(ctx),
            "indicator": {
                "metadata": {
                    "name": dns_label(f"{ctx.pipeline_name}-{slo.stage}-{slo.sli}-sli")},
                "spec": {"ratioMetric": {"counter": True, **metric_spec}},
            },
            "timeWindow": [{"duration": ctx.settings.burn_rate.period, "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"displayName": slo.sli, "target": slo.target}],
        },
    }


class SLOEmitter(Emitter):
    """Rule files and OpenSLO documents; rejects SLOs that could never alert."""

    name = "slo"
    checks: ClassVar[dict[str, tuple[str, ...]]] = {
        "prometheus-rules": ("slo.reachable-thresholds", "slo.stated-slo-measured"),
        "openslo": ("slo.unique-openslo-names",),
    }

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """``slo/rules/<stage>.rules.yaml``, ``slo/openslo/<stage>-<sli>.yaml``, the service."""
        out = []
        for p in ctx.placements:
            slos = slos_of(ctx, p)
            if not slos:
                continue
            out.append(Artifact(
                path=rules_path(p.name),
                content=dump_yaml(rule_groups(ctx, p),
                                  f"SLO burn-rate rules of stage {p.name} ({ctx.pipeline_name})."),
                kind="prometheus-rules", stage=p.name, evidence=f"slo:{p.name}",
            ))
            out.append(Artifact(
                path=budget_rules_path(p.name),
                content=dump_yaml(budget_groups(ctx, p),
                                  f"Error-budget rules of stage {p.name} ({ctx.pipeline_name}): "
                                  f"needs {ctx.settings.burn_rate.period} of retention."),
                kind="prometheus-rules", stage=p.name, evidence=f"slo:{p.name}",
            ))
            for slo in slos:
                out.append(Artifact(
                    path=f"slo/openslo/{p.name}-{slo.sli}.yaml",
                    content=dump_yaml(openslo_document(ctx, slo)),
                    kind="openslo", stage=p.name,
                ))
        if out:
            out.append(Artifact(path="slo/openslo/service.yaml",
                                content=dump_yaml(openslo_service(ctx)), kind="openslo"))
        return out

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        """Reachable thresholds (f_P × budget < 1), stated SLOs measured, unique names."""
        policy = ctx.settings.burn_rate
        problems = []
        names: dict[str, str] = {}
        for a in artifacts:
            if a.kind == "openslo":
                name = yaml.safe_load(a.content)["metadata"]["name"]
                if name in names:
                    problems.append(self.problem(
                        f"OpenSLO documents {names[name]} and {a.path} get the same name "
                        f"{name!r} (names differing only in '_'/'-' or case collide)",
                        "rename one of the stages", file=a.path))
                names[name] = a.path
        for p in ctx.placements:
            if not measured(p) and slo_stated(p.stage):
                problems.append(unmeasured_slo_problem(ctx, p))
            for slo in slos_of(ctx, p):
                for w in policy.windows:
                    f = policy.factor(w)
                    if f * slo.budget >= 1:
                        problems.append(self.problem(
                            f"{slo.sli} target {slo.target} leaves a budget of {slo.budget:.3g}; "
                            f"burn factor {f:g} ({policy.period}) would need an error ratio of "
                            f"{f * slo.budget:.3g} > 1, so the {w.severity} alert can "
                            "never fire",
                            f"raise the target above {1 - 1 / f:.4f} or lower the factor",
                            stage=p.name, file=rules_path(p.name),
                        ))
        return problems


def unmeasured_slo_problem(ctx: ComposeContext, p: StagePlacement) -> Problem:
    """A stage states an SLO but its telemetry exports no metrics to measure it."""
    slos = declared_slos(p, ctx.pipeline_name, ctx.settings.online_latency_target)
    series = sorted({s.total.split("{", 1)[0] for s in slos})
    crit = p.stage.criticality
    if Signal.METRICS in p.signals:
        why = (f"its tier '{p.option.tier}' cannot emit metrics", "re-plan with "
               "policy.observability.min_coverage: 1.0 (metrics then prune such tiers) or "
               "move the stage to a tier that emits metrics")
    else:
        why = (f"the observability policy requires only "
               f"{', '.join(sorted(p.signals)) or 'no signals'} for {crit} stages",
               f"add metrics to policy.observability.requirements.{crit}.signals, raise the "
               f"stage's criticality, or remove its slo block")
    return Problem(
        message=f"stage '{p.name}' states an SLO ({', '.join(s.sli for s in slos)}) but its "
        f"telemetry exports no metrics signal ({why[0]}), so alerts on "
        f"{', '.join(series)} could never fire",
        path=f"slo.{p.name}", hint=why[1])


# --- the backing check: read the generated files, not the model -----------------------

_SERIES = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_LE = re.compile(r'le=~?"([^"]*)"')


def _raw_series(expr: str) -> list[tuple[str, str]]:
    """(metric, matchers) of every selector with matchers in a PromQL expression."""
    return [(m.group(1), m.group(2)) for m in _SERIES.finditer(expr)]


def _load(artifacts: dict[str, bytes], path: str) -> Any:
    content = artifacts.get(path)
    return yaml.safe_load(content) if content is not None else None


def _stage_exports(sdk: Any, instrument: str) -> tuple[bool, list[float] | None]:
    """Whether an SDK config exports metrics, and the explicit boundaries of ``instrument``."""
    if not isinstance(sdk, dict):
        return False, None
    provider = sdk.get("meter_provider") or {}
    readers = [r for r in provider.get("readers") or [] if isinstance(r, dict)]
    exporting = any((r.get("periodic") or {}).get("exporter") for r in readers)
    bounds = None
    for view in provider.get("views") or []:
        if (view.get("selector") or {}).get("instrument_name") == instrument:
            agg = ((view.get("stream") or {}).get("aggregation") or {})
            bounds = (agg.get("explicit_bucket_histogram") or {}).get("boundaries")
    return exporting, bounds


def _collector_serves_prometheus(collector: Any) -> bool:
    if not isinstance(collector, dict):
        return False
    pipelines = ((collector.get("service") or {}).get("pipelines") or {})
    return any(pid.split("/")[0] == "metrics" and "otlp" in (p.get("receivers") or [])
               and any(e.split("/")[0] == "prometheus" for e in p.get("exporters") or [])
               for pid, p in pipelines.items() if isinstance(p, dict))


def check_alerts_backed(artifacts: list[Artifact]) -> list[Problem]:
    """Every alert reads only series the stage's generated telemetry config exports.

    Reads the generated rule files, SDK configurations and Collector configuration: each
    alert's recorded series resolve (through their recording rules) to raw series; each
    raw series must come from an instrument of the metric contract; the stage's SDK
    configuration must export metrics (a periodic reader with an exporter), a bucket
    selector's ``le`` must be a boundary of the instrument's view, and the Collector
    must route OTLP metrics to its Prometheus exporter.
    """
    files = {a.path: a.content for a in artifacts}
    collector_ok = _collector_serves_prometheus(_load(files, "otel/collector.yaml"))
    problems: list[Problem] = []
    for a in artifacts:
        if a.kind != "prometheus-rules" or a.stage is None:
            continue
        sdk = _load(files, sdk_path(a.stage))
        for group in (yaml.safe_load(a.content) or {}).get("groups", []):
            records = {r["record"]: r["expr"] for r in group["rules"] if "record" in r}
            for rule in (r for r in group["rules"] if "alert" in r):
                problems += _check_alert(a, rule, records, sdk, collector_ok)
    return problems


def _check_alert(a: Artifact, rule: dict[str, Any], records: dict[str, str],
                 sdk: Any, collector_ok: bool) -> list[Problem]:
    stage = a.stage or ""
    found: dict[str, tuple[str, str]] = {}

    def fail(message: str, hint: str) -> None:
        found.setdefault(message, (message, hint))

    raw: list[tuple[str, str]] = []
    for metric, _ in _raw_series(rule["expr"]):
        if metric in records:
            raw += _raw_series(records[metric])
        else:
            fail(f"reads {metric}, which no rule of its group records",
                 "record every series an alert reads in the same group")
    for metric, matchers in raw:
        inst = metrics.instrument_of(metric)
        if inst is None:
            fail(f"reads {metric}, which is not in the metric contract (runops/metrics.py)",
                 "read only series the stage operators emit")
            continue
        exporting, bounds = _stage_exports(sdk, inst.name)
        if not exporting:
            fail(f"reads {metric} (instrument {inst.name}) but {sdk_path(stage)} configures "
                 "no metrics exporter (missing signal: metrics)",
                 "require metrics for the stage in the observability policy, or drop its SLO")
            continue
        le = _LE.search(matchers)
        if le is not None and metric.endswith("_bucket"):
            wanted = float(le.group(1).split("|")[0].replace("\\", ""))
            if bounds is None or wanted not in [float(b) for b in bounds]:
                fail(f"counts {metric} under le={go_float(wanted)}, which is not a histogram "
                     f"boundary of {inst.name} in {sdk_path(stage)}",
                     "add the SLO threshold to the view's explicit_bucket_histogram boundaries")
    if raw and not collector_ok:
        fail("needs metrics in Prometheus but otel/collector.yaml routes no OTLP metrics to "
             "a prometheus exporter", "add a metrics pipeline otlp -> prometheus")
    return [Problem(message=f"stage '{stage}': {m}", file=a.path, path=rule["alert"], hint=h)
            for m, h in found.values()]
