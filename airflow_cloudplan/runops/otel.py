"""OpenTelemetry: per-stage SDK file configuration and one Collector configuration.

Each stage gets a declarative SDK configuration (``file_format`` 1.0, the format the
``opentelemetry-configuration`` package loads) with only the providers for the signals
its criticality and mode require (the paper's "avoid over-instrumentation"): a stage that
needs logs only gets no tracer or meter provider. Resource attributes say which pipeline,
stage, plan version, placement and sensitivity class emitted the telemetry. Exporters
speak OTLP/HTTP to the Collector next to the stage (``RunOpsSettings.collector_endpoint``,
overridable by the standard ``OTEL_EXPORTER_OTLP_*_ENDPOINT`` variables; ``https`` and the
Collector's CA when the deployment declares certificates).

The Collector configuration (an agent next to each stage) is closed by default:

* every listener (OTLP receivers, the Prometheus exporter, ``health_check``) binds
  ``policy.observability.telemetry.listen_host`` — ``localhost`` unless set; another host
  is refused without TLS and client certificates, since anyone who reaches an OTLP port
  can inject ``outcome="failure"`` series that page (or hide) an SLO;
* with ``telemetry.tls`` every listener serves TLS, requiring client certificates when
  ``client_ca_file`` is given;
* traces and logs go to the backends of ``telemetry.backends``, chosen per sensitivity
  class: a class's telemetry goes only to a backend in one of its allowed jurisdictions
  (and regions). Several routes become one pipeline per backend with a ``filter``
  processor that keeps only its classes (by the ``cloudplan.sensitivity`` resource
  attribute; telemetry without it matches no route). Without backends, the endpoints are
  ``${env:CLOUDPLAN_{TRACES,LOGS}_BACKEND_ENDPOINT}`` (the Collector refuses to start
  while one is unset), which only classes without residency rules may use. Metrics stay
  in the Collector's Prometheus endpoint (aggregates labelled by pipeline, stage and
  outcome; no record-level data).

:func:`check_collector_config` proves every pipeline names declared components and that
no listener is open to the network without TLS (and, for receivers, client certificates).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_cloudplan.errors import ComposeError, Problem
from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.policy import TelemetryBackend, TelemetryDeployment
from airflow_cloudplan.model.workload import Criticality, ExecutionMode
from airflow_cloudplan.runops import metrics
from airflow_cloudplan.runops.base import Artifact, Emitter, dump_yaml
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.coverage import observability_coverage

OTEL_FILE_FORMAT = "1.0"
SENSITIVITY_ATTRIBUTE = "cloudplan.sensitivity"
UNCLASSIFIED = "unclassified"
OTLP_GRPC_PORT, OTLP_HTTP_PORT, PROMETHEUS_PORT, HEALTH_PORT = 4317, 4318, 8889, 13133

_BATCH_BOUNDARIES_S = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)
_ONLINE_BOUNDARIES_S = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)
_ENDPOINT_VARS = {
    Signal.TRACES: ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/v1/traces"),
    Signal.METRICS: ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "/v1/metrics"),
    Signal.LOGS: ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "/v1/logs"),
}
_EXPORTED = (Signal.TRACES, Signal.LOGS)
"""Signals the Collector sends to backends (metrics stay in its Prometheus endpoint)."""
_DEFAULT_ENDPOINT_VAR = "CLOUDPLAN_{signal}_BACKEND_ENDPOINT"
_ENV_REF = re.compile(r"^\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?P<default>[^}]+))?\}$")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


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
        SENSITIVITY_ATTRIBUTE: sensitivity_label(p),
    }


def sensitivity_label(p: StagePlacement) -> str:
    """The stage's sensitivity class name (``unclassified`` when it touches none)."""
    return p.sensitivity.name if p.sensitivity is not None else UNCLASSIFIED


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


def collector_endpoint(ctx: ComposeContext) -> str:
    """Where stages send OTLP/HTTP: the setting, on ``https`` when the Collector has TLS."""
    endpoint = ctx.settings.collector_endpoint.rstrip("/")
    if telemetry(ctx).tls is not None and endpoint.startswith("http://"):
        endpoint = "https://" + endpoint.removeprefix("http://")
    return endpoint


def _exporter(ctx: ComposeContext, signal: Signal) -> dict[str, Any]:
    var, suffix = _ENDPOINT_VARS[signal]
    default = collector_endpoint(ctx) + suffix
    exporter: dict[str, Any] = {"endpoint": f"${{{var}:-{default}}}", "encoding": "protobuf"}
    tls = telemetry(ctx).tls
    if tls is not None:
        files = {"ca_file": tls.ca_file, "cert_file": tls.client_cert_file,
                 "key_file": tls.client_key_file}
        if any(files.values()):
            exporter["tls"] = {k: v for k, v in files.items() if v}
    return {"otlp_http": exporter}


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
            metrics.REQUEST_DURATION.name
            if p.stage.mode == ExecutionMode.ONLINE
            else metrics.STAGE_DURATION.name
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


def telemetry(ctx: ComposeContext) -> TelemetryDeployment:
    """The deployment block of the observability policy."""
    return ctx.inp.policy.observability.telemetry


@dataclass(frozen=True)
class Route:
    """Where one signal of some sensitivity classes is exported."""

    signal: Signal
    backend: TelemetryBackend
    classes: tuple[str, ...]
    stages: tuple[str, ...]

    @property
    def exporter(self) -> str:
        """The Collector exporter id."""
        return f"otlphttp/{self.backend.name}"


def _default_backends() -> tuple[TelemetryBackend, ...]:
    """Backends from environment variables, of unknown jurisdiction (``""``)."""
    return tuple(
        TelemetryBackend(
            name=str(sig), jurisdiction="", signals=frozenset({sig}),
            endpoint=f"${{env:{_DEFAULT_ENDPOINT_VAR.format(signal=str(sig).upper())}}}")
        for sig in _EXPORTED)


def _allows(p: StagePlacement, b: TelemetryBackend) -> bool:
    cls = p.sensitivity
    if cls is None:
        return True
    if cls.allowed_jurisdictions is not None and b.jurisdiction not in cls.allowed_jurisdictions:
        return False
    return cls.allowed_regions is None or b.region in cls.allowed_regions


def _residency_rule(p: StagePlacement) -> str:
    cls = p.sensitivity
    if cls is None:
        return "no residency rule"
    parts = []
    if cls.allowed_jurisdictions is not None:
        parts.append(f"jurisdictions {', '.join(cls.allowed_jurisdictions)}")
    if cls.allowed_regions is not None:
        parts.append(f"regions {', '.join(cls.allowed_regions)}")
    return f"class {cls.name}: " + ("; ".join(parts) or "no residency rule")


def telemetry_routes(ctx: ComposeContext) -> list[Route]:
    """Traces and logs of every stage, routed to the first allowed backend (declared order).

    Raises :class:`ComposeError` naming each class and signal without an allowed backend.
    """
    deployment = telemetry(ctx)
    backends = deployment.backends or _default_backends()
    problems: list[Problem] = []
    chosen: dict[tuple[Signal, str], tuple[TelemetryBackend, list[str], list[str]]] = {}
    for signal in _EXPORTED:
        for p in ctx.placements:
            if signal not in p.emitted_signals:
                continue
            backend = next((b for b in backends if signal in b.signals and _allows(p, b)), None)
            if backend is None:
                declared = ", ".join(f"{b.name} ({b.jurisdiction or 'unknown jurisdiction'})"
                                     for b in backends if signal in b.signals) or "none"
                problems.append(Problem(
                    message=f"stage '{p.name}' emits {signal} under {_residency_rule(p)}, but no "
                    f"telemetry backend in an allowed place accepts {signal} (declared: "
                    f"{declared})", path="policy.observability.telemetry.backends",
                    hint=f"declare a backend with signals [{signal}] in an allowed jurisdiction"
                    " (and region), e.g. {name: eu-otlp, jurisdiction: eu, endpoint: "
                    "'https://otlp.example.eu:4318'}"))
                continue
            _, classes, stages = chosen.setdefault((signal, backend.name), (backend, [], []))
            label = sensitivity_label(p)
            if label not in classes:
                classes.append(label)
            stages.append(p.name)
    for b in backends:
        problems += [Problem(message=m, path=f"policy.observability.telemetry.backends.{b.name}",
                             hint=h) for m, h in endpoint_problems(b.endpoint)]
    if problems:
        raise ComposeError("telemetry cannot be exported within the residency rules", problems)
    return [Route(sig, b, tuple(sorted(c)), tuple(st))
            for (sig, _), (b, c, st) in sorted(chosen.items(), key=lambda kv: kv[0])]


def endpoint_problems(endpoint: str) -> list[tuple[str, str]]:
    """What is wrong with a backend endpoint: https, loopback http, or ``${env:...}``."""
    ref = _ENV_REF.match(endpoint)
    if ref is not None:
        default = ref.group("default")
        return endpoint_problems(default) if default else []
    if endpoint.startswith("${"):
        return [(f"endpoint {endpoint!r} is not ${{env:NAME}} or ${{env:NAME:-URL}}",
                 "write the Collector's environment reference as ${env:NAME:-https://...}")]
    if endpoint.startswith("https://"):
        return []
    if endpoint.startswith("http://") and is_loopback(_host_of(endpoint.removeprefix("http://"))):
        return []
    return [(f"endpoint {endpoint!r} would send telemetry unencrypted or is not a URL",
             "use an https:// endpoint (http:// only to localhost)")]


def _host_of(address: str) -> str:
    host = address.split("/", 1)[0]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """Whether a listen/connect host is the local machine only."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("$") else f"{host}:{port}"


def _server_tls(deployment: TelemetryDeployment, *, client_certs: bool) -> dict[str, Any]:
    tls = deployment.tls
    if tls is None:
        return {}
    out = {"cert_file": tls.cert_file, "key_file": tls.key_file}
    if client_certs and tls.client_ca_file:
        out["client_ca_file"] = tls.client_ca_file
    return {"tls": out}


def _route_pipelines(routes: list[Route]) -> tuple[dict[str, Any], dict[str, Any],
                                                    dict[str, Any]]:
    """Exporters, filter processors and pipelines of the traces/logs routes."""
    exporters: dict[str, Any] = {}
    filters: dict[str, Any] = {}
    pipelines: dict[str, Any] = {}
    for r in routes:
        exporter: dict[str, Any] = {"endpoint": r.backend.endpoint}
        if r.backend.ca_file:
            exporter["tls"] = {"ca_file": r.backend.ca_file}
        exporters[r.exporter] = exporter
        same_signal = [x for x in routes if x.signal == r.signal]
        if len(same_signal) == 1:
            pipelines[str(r.signal)] = {"receivers": ["otlp"],
                                        "processors": ["memory_limiter", "batch"],
                                        "exporters": [r.exporter]}
            continue
        keep = " and ".join(f'resource.attributes["{SENSITIVITY_ATTRIBUTE}"] != "{c}"'
                            for c in r.classes)
        fid = f"filter/{r.signal}-{r.backend.name}"
        section = {"traces": {"span": [keep]}} if r.signal == Signal.TRACES else {
            "logs": {"log_record": [keep]}}
        filters[fid] = {"error_mode": "ignore", **section}
        pipelines[f"{r.signal}/{r.backend.name}"] = {
            "receivers": ["otlp"], "processors": ["memory_limiter", fid, "batch"],
            "exporters": [r.exporter]}
    return exporters, filters, pipelines


def collector_config(ctx: ComposeContext) -> dict[str, Any]:
    """The Collector configuration (see the module docstring)."""
    deployment = telemetry(ctx)
    host = deployment.listen_host
    used = set().union(*(p.emitted_signals for p in ctx.placements))
    exporters, filters, pipelines = _route_pipelines(telemetry_routes(ctx))
    if Signal.METRICS in used:
        exporters["prometheus"] = {
            "endpoint": _listen(host, PROMETHEUS_PORT),
            "resource_to_telemetry_conversion": {"enabled": True},
            **_server_tls(deployment, client_certs=False),
        }
        pipelines["metrics"] = {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"],
                                "exporters": ["prometheus"]}
    receiver_tls = _server_tls(deployment, client_certs=True)
    return {
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": _listen(host, OTLP_GRPC_PORT), **receiver_tls},
            "http": {"endpoint": _listen(host, OTLP_HTTP_PORT), **receiver_tls},
        }}},
        "processors": {
            "memory_limiter": {
                "check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25,
            },
            "batch": {"send_batch_size": 8192, "timeout": "5s"},
            **filters,
        },
        "exporters": exporters,
        "extensions": {"health_check": {"endpoint": _listen(host, HEALTH_PORT),
                                        **_server_tls(deployment, client_certs=False)}},
        "service": {"extensions": ["health_check"], "pipelines": pipelines},
    }


def required_environment(config: dict[str, Any]) -> list[str]:
    """Environment variables a Collector configuration reads without a default."""
    names = set()
    for text in re.findall(r"\$\{env:[^}]+\}", repr(config)):
        ref = _ENV_REF.match(text)
        if ref is not None and ref.group("default") is None:
            names.add(ref.group("name"))
    return sorted(names)


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


def _listeners(config: dict[str, Any]) -> list[tuple[str, str | None, Any, bool]]:
    """(where, endpoint, settings, is a receiver) of every component that listens."""
    out: list[tuple[str, str | None, Any, bool]] = []
    for name, rec in (config.get("receivers") or {}).items():
        for proto, raw in ((rec or {}).get("protocols") or {}).items():
            settings = raw or {}
            out.append((f"receivers.{name}.protocols.{proto}", settings.get("endpoint"),
                        settings, True))
    for name, exp in (config.get("exporters") or {}).items():
        if name.split("/")[0] == "prometheus":
            out.append((f"exporters.{name}", (exp or {}).get("endpoint"), exp or {}, False))
    for name, ext in (config.get("extensions") or {}).items():
        out.append((f"extensions.{name}", (ext or {}).get("endpoint"), ext or {}, False))
    return out


def check_exposure(config: dict[str, Any]) -> list[Problem]:
    """No listener open to the network without TLS; receivers also need client certs.

    A listener without an explicit host takes the Collector version's default (0.0.0.0
    before v0.104), so it counts as open. Exporters to backends must use TLS.
    """
    problems = []
    for where, endpoint, settings, receiver in _listeners(config):
        host = _host_of(endpoint) if endpoint else ""
        if host and is_loopback(host):
            continue
        tls = settings.get("tls") or {}
        shown = endpoint or "(the Collector's default host)"
        if not (tls.get("cert_file") and tls.get("key_file")):
            problems.append(Problem(
                message=f"listens on {shown} without TLS: anyone who reaches it can "
                + ("inject telemetry (e.g. outcome=\"failure\" series that page an SLO)"
                   if receiver else "read or probe it"),
                path=where, hint="listen on localhost, or declare "
                "policy.observability.telemetry.tls certificates"))
        elif receiver and not tls.get("client_ca_file"):
            problems.append(Problem(
                message=f"accepts telemetry on {shown} from any client (no client_ca_file)",
                path=where, hint="set policy.observability.telemetry.tls.client_ca_file so "
                "only holders of a client certificate can send"))
    for name, exp in (config.get("exporters") or {}).items():
        if name.split("/")[0] in ("otlphttp", "otlp") and isinstance(exp, dict):
            problems += [Problem(message=m, path=f"exporters.{name}", hint=h)
                         for m, h in endpoint_problems(str(exp.get("endpoint", "")))]
    return problems


def check_collector_config(config: dict[str, Any]) -> list[Problem]:
    """Consistency and exposure of a Collector configuration.

    Every pipeline id names a signal; every pipeline has receivers and exporters; every
    component a pipeline (or ``service.extensions``) names is declared in its section;
    every declared component id is well formed and used somewhere; and
    :func:`check_exposure` holds.
    """
    problems: list[Problem] = check_exposure(config)
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
    checks: ClassVar[dict[str, tuple[str, ...]]] = {
        "otel-collector": ("otel.collector-consistent-and-closed",),
        "otel-sdk": ("otel.required-signals",),
    }

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
        config = collector_config(ctx)
        header = "OpenTelemetry Collector configuration (an agent next to each stage)."
        needed = required_environment(config)
        if needed:
            header += ("\nSet before starting the Collector (it refuses to start while one is "
                       "unset): " + ", ".join(needed) + ".")
        out.append(Artifact(path="otel/collector.yaml", content=dump_yaml(config, header),
                            kind="otel-collector", evidence="otel:collector"))
        return out

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        """Collector consistency and exposure; every stage emits what its policy requires."""
        problems = [
            self.problem(f"collector config: {p.render()}",
                         "fix policy.observability.telemetry (or the collector template)",
                         file="otel/collector.yaml")
            for p in check_collector_config(collector_config(ctx))
        ]
        coverage = observability_coverage(ctx)
        if coverage.coverage < ctx.inp.policy.observability.min_coverage:
            for stage, missing in sorted(coverage.missing.items()):
                problems.append(self.problem(
                    f"tier cannot emit required signal(s) {', '.join(missing)}; coverage "
                    f"{coverage.coverage:.0%} is below the policy's "
                    f"{ctx.inp.policy.observability.min_coverage:.0%}",
                    "re-plan: the solver's coverage constraint should have excluded this plan",
                    stage=stage, file=sdk_path(stage),
                ))
        return problems
