"""OpenTelemetry: per-stage SDK file configuration and one Collector configuration.

Each stage gets a declarative SDK configuration (``file_format`` 1.0, the format the
``opentelemetry-configuration`` package loads) with only the providers for the signals
its criticality and mode require (the paper's "avoid over-instrumentation"): a stage that
needs logs only gets no tracer or meter provider. Resource attributes say which pipeline,
stage, plan version and placement emitted the telemetry. Exporters speak OTLP/HTTP to an
endpoint taken from the standard ``OTEL_EXPORTER_OTLP_*_ENDPOINT`` variables at load time.

The Collector configuration receives OTLP, batches, and exports traces and logs over OTLP
and metrics as a Prometheus scrape endpoint (the SLO rules read those series).
:func:`check_collector_config` proves every pipeline names declared components.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.workload import Criticality, ExecutionMode
from airflow_cloudplan.runops import metrics
from airflow_cloudplan.runops.base import Artifact, Emitter, dump_yaml
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.coverage import observability_coverage

OTEL_FILE_FORMAT = "1.0"

_BATCH_BOUNDARIES_S = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)
_ONLINE_BOUNDARIES_S = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)
_ENDPOINT_VARS = {
    Signal.TRACES: ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/v1/traces"),
    Signal.METRICS: ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "/v1/metrics"),
    Signal.LOGS: ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "/v1/logs"),
}


def sdk_path(stage: str) -> str:
    """Where a stage's SDK configuration is written, relative to the artifacts directory."""
    return f"otel/sdk/{stage}.yaml"


def resource_attributes(ctx: ComposeContext, p: StagePlacement) -> dict[str, str]:
    """The resource attributes a stage's telemetry carries (also used by Airflow settings)."""
    return {
        "service.name": f"{ctx.pipeline_name}.{p.name}",
        "service.namespace": ctx.pipeline_name,
        "cloud.provider": p.region.provider,
        "cloud.region": p.option.region,
        "cloud.availability_zone": p.option.zone,
        "host.type": p.option.instance_type,
        "cloudplan.pipeline": ctx.pipeline_name,
        "cloudplan.stage": p.name,
        "cloudplan.plan_version": ctx.plan_version,
        "cloudplan.tier": p.option.tier,
        "cloudplan.tier_kind": str(p.tier.kind),
        "cloudplan.criticality": str(p.stage.criticality),
    }


def slo_threshold_s(p: StagePlacement) -> float | None:
    """The latency threshold of the stage's latency SLI in seconds, if it has one."""
    slo = p.stage.slo
    if p.stage.mode == ExecutionMode.ONLINE and slo.p95_ms is not None:
        return slo.p95_ms / 1000.0
    if p.stage.mode != ExecutionMode.ONLINE and slo.deadline_minutes is not None:
        return slo.deadline_minutes * 60.0
    return None


def histogram_boundaries(p: StagePlacement) -> list[float]:
    """Bucket boundaries of the stage's duration histogram, including its SLO threshold.

    The latency SLI counts requests/runs under the threshold from the ``le`` bucket equal
    to it, so the threshold must be a boundary.
    """
    base = _ONLINE_BOUNDARIES_S if p.stage.mode == ExecutionMode.ONLINE else _BATCH_BOUNDARIES_S
    bounds = {float(b) for b in base}
    threshold = slo_threshold_s(p)
    if threshold is not None:
        bounds.add(threshold)
    return sorted(bounds)


def _exporter(ctx: ComposeContext, signal: Signal) -> dict[str, Any]:
    var, suffix = _ENDPOINT_VARS[signal]
    default = ctx.settings.collector_endpoint.rstrip("/") + suffix
    return {"otlp_http": {"endpoint": f"${{{var}:-{default}}}", "encoding": "protobuf"}}


def sdk_config(ctx: ComposeContext, p: StagePlacement) -> dict[str, Any]:
    """The declarative SDK configuration of one stage as plain data."""
    signals = p.emitted_signals
    attrs = resource_attributes(ctx, p)
    config: dict[str, Any] = {
        "file_format": OTEL_FILE_FORMAT,
        "resource": {"attributes": [{"name": k, "value": v} for k, v in sorted(attrs.items())]},
    }
    if Signal.TRACES in signals:
        root = (
            {"always_on": {}}
            if p.trace_ratio >= 1.0
            else {"trace_id_ratio_based": {"ratio": p.trace_ratio}}
        )
        config["tracer_provider"] = {
            "sampler": {"parent_based": {"root": root}},
            "processors": [{"batch": {"exporter": _exporter(ctx, Signal.TRACES)}}],
        }
        config["propagator"] = {"composite": [{"tracecontext": {}}, {"baggage": {}}]}
    if Signal.METRICS in signals:
        instrument = (
            metrics.REQUEST_DURATION_INSTRUMENT
            if p.stage.mode == ExecutionMode.ONLINE
            else metrics.STAGE_DURATION_INSTRUMENT
        )
        interval_ms = 15000 if p.stage.criticality == Criticality.CRITICAL else 60000
        config["meter_provider"] = {
            "readers": [
                {"periodic": {"interval": interval_ms, "exporter": _exporter(ctx, Signal.METRICS)}}
            ],
            "views": [
                {
                    "selector": {"instrument_name": instrument},
                    "stream": {
                        "aggregation": {
                            "explicit_bucket_histogram": {
                                "boundaries": histogram_boundaries(p),
                                "record_min_max": True,
                            }
                        }
                    },
                }
            ],
        }
    if Signal.LOGS in signals:
        config["logger_provider"] = {
            "processors": [{"batch": {"exporter": _exporter(ctx, Signal.LOGS)}}]
        }
    return config


def collector_config(ctx: ComposeContext) -> dict[str, Any]:
    """The Collector configuration: OTLP in; traces/logs OTLP out, metrics for Prometheus."""
    used = set().union(*(p.emitted_signals for p in ctx.placements))
    exporters: dict[str, Any] = {}
    pipelines: dict[str, Any] = {}
    processors = ["memory_limiter", "batch"]
    if Signal.TRACES in used:
        exporters["otlphttp/traces"] = {"endpoint": "${env:CLOUDPLAN_TRACES_BACKEND_ENDPOINT}"}
        pipelines["traces"] = {
            "receivers": ["otlp"], "processors": processors, "exporters": ["otlphttp/traces"],
        }
    if Signal.METRICS in used:
        exporters["prometheus"] = {
            "endpoint": "0.0.0.0:8889",
            "resource_to_telemetry_conversion": {"enabled": True},
        }
        pipelines["metrics"] = {
            "receivers": ["otlp"], "processors": processors, "exporters": ["prometheus"],
        }
    if Signal.LOGS in used:
        exporters["otlphttp/logs"] = {"endpoint": "${env:CLOUDPLAN_LOGS_BACKEND_ENDPOINT}"}
        pipelines["logs"] = {
            "receivers": ["otlp"], "processors": processors, "exporters": ["otlphttp/logs"],
        }
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": "0.0.0.0:4317"},
                    "http": {"endpoint": "0.0.0.0:4318"},
                }
            }
        },
        "processors": {
            "memory_limiter": {
                "check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25,
            },
            "batch": {"send_batch_size": 8192, "timeout": "5s"},
        },
        "exporters": exporters,
        "extensions": {"health_check": {"endpoint": "0.0.0.0:13133"}},
        "service": {"extensions": ["health_check"], "pipelines": pipelines},
    }


_COMPONENT_ID = re.compile(r"^[a-z][a-z0-9_]*(/[^/\s]+)?$")
_PIPELINE_ID = re.compile(r"^(traces|metrics|logs)(/[^/\s]+)?$")


def _check_pipeline(pid: str, pipeline: Any, declared: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if not _PIPELINE_ID.match(pid):
        problems.append(Problem(
            message=f"pipeline id {pid!r} is not traces|metrics|logs[/name]",
            path=f"service.pipelines.{pid}", hint="name pipelines by their signal",
        ))
    if not isinstance(pipeline, dict):
        return [*problems, Problem(message="pipeline must be a mapping",
                                   path=f"service.pipelines.{pid}", hint="use keys receivers/"
                                   "processors/exporters")]
    for section in ("receivers", "processors", "exporters"):
        names = pipeline.get(section) or []
        if section != "processors" and not names:
            problems.append(Problem(
                message=f"pipeline has no {section}", path=f"service.pipelines.{pid}.{section}",
                hint=f"list at least one declared {section[:-1]}",
            ))
        for name in names:
            if name not in declared[section]:
                problems.append(Problem(
                    message=f"names undeclared {section[:-1]} {name!r}",
                    path=f"service.pipelines.{pid}.{section}",
                    hint=f"declare {name!r} under top-level '{section}' or remove it",
                ))
    return problems


def check_collector_config(config: dict[str, Any]) -> list[Problem]:
    """Internal consistency of a Collector configuration.

    Every pipeline id names a signal; every pipeline has receivers and exporters; every
    component a pipeline (or ``service.extensions``) names is declared in its section;
    every declared component id is well formed and used somewhere.
    """
    problems: list[Problem] = []
    sections = ("receivers", "processors", "exporters", "extensions")
    declared = {s: dict(config.get(s) or {}) for s in sections}
    service = config.get("service") or {}
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append(Problem(message="no pipelines", path="service.pipelines",
                                hint="add at least one traces/metrics/logs pipeline"))
    used: dict[str, set[str]] = {s: set() for s in sections}
    for pid, pipeline in sorted(pipelines.items()):
        problems.extend(_check_pipeline(pid, pipeline, declared))
        if isinstance(pipeline, dict):
            for section in ("receivers", "processors", "exporters"):
                used[section].update(pipeline.get(section) or [])
    for name in service.get("extensions") or []:
        used["extensions"].add(name)
        if name not in declared["extensions"]:
            problems.append(Problem(message=f"names undeclared extension {name!r}",
                                    path="service.extensions",
                                    hint=f"declare {name!r} under top-level 'extensions'"))
    for section in sections:
        for name in sorted(declared[section]):
            if not _COMPONENT_ID.match(name):
                problems.append(Problem(message=f"malformed component id {name!r}",
                                        path=f"{section}.{name}", hint="use type[/name]"))
            if name not in used[section]:
                problems.append(Problem(message=f"declared {section[:-1]} {name!r} is unused",
                                        path=f"{section}.{name}",
                                        hint="remove it or add it to a pipeline"))
    return problems


class OtelEmitter(Emitter):
    """Per-stage SDK configurations and the Collector configuration."""

    name = "otel"

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """One SDK config per stage plus ``otel/collector.yaml``."""
        out = []
        for p in ctx.placements:
            header = (
                f"OpenTelemetry SDK configuration of stage {p.name} ({ctx.pipeline_name}).\n"
                f"Signals: {', '.join(sorted(p.emitted_signals)) or 'none'}; "
                f"trace sampling ratio {p.trace_ratio:g}.\nLoad with OTEL_CONFIG_FILE."
            )
            out.append(Artifact(
                path=sdk_path(p.name), content=dump_yaml(sdk_config(ctx, p), header),
                kind="otel-sdk", stage=p.name, evidence=f"otel:{p.name}",
            ))
        out.append(Artifact(
            path="otel/collector.yaml",
            content=dump_yaml(collector_config(ctx), "OpenTelemetry Collector configuration."),
            kind="otel-collector", evidence="otel:collector",
        ))
        return out

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        """Collector consistency; every stage emits every signal its policy requires."""
        problems = [
            self.problem(f"collector config: {p.render()}", "fix the collector template")
            for p in check_collector_config(collector_config(ctx))
        ]
        coverage = observability_coverage(ctx)
        if coverage.coverage < ctx.inp.policy.observability.min_coverage:
            for stage, missing in sorted(coverage.missing.items()):
                problems.append(self.problem(
                    f"tier cannot emit required signal(s) {', '.join(missing)}; coverage "
                    f"{coverage.coverage:.0%} is below the policy's "
                    f"{ctx.inp.policy.observability.min_coverage:.0%}",
                    "re-plan: the observability gate should have pruned this option",
                    stage=stage,
                ))
        return problems
