"""OTel SDK configs load with opentelemetry-configuration and carry the plan's facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_cloudplan.errors import ComposeError
from airflow_cloudplan.model import Pipeline, PlanningInput, PlanResult
from airflow_cloudplan.model.policy import CollectorTLS, TelemetryBackend
from airflow_cloudplan.runops import check_collector_config, render
from airflow_cloudplan.runops.context import ComposeContext
from airflow_cloudplan.runops.otel import collector_config, endpoint_problems, telemetry_routes
from airflow_cloudplan.runops.settings import RunOpsSettings


@pytest.fixture(scope="module")
def sdk_files(golden_plan: PlanResult, golden_input: PlanningInput,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _, artifacts = render(golden_plan, golden_input, plan_version="v-test")
    root = tmp_path_factory.mktemp("otel")
    out = {}
    for a in artifacts:
        if a.kind == "otel-sdk":
            path = root / Path(a.path).name
            path.write_bytes(a.content)
            out[a.stage or ""] = path
    return out


def _resource(config):  # type: ignore[no-untyped-def]
    from opentelemetry.configuration._resource import create_resource

    return dict(create_resource(config.resource).attributes)


def test_every_stage_config_loads_and_names_its_placement(
    sdk_files: dict[str, Path], golden_plan: PlanResult
) -> None:
    from opentelemetry.configuration import load_config_file

    assert set(sdk_files) == {"ingest", "features", "train", "serve", "monitor"}
    for stage, path in sdk_files.items():
        config = load_config_file(path)
        attrs = _resource(config)
        option = golden_plan.recommendation.assignment[stage]
        assert attrs["cloudplan.stage"] == stage
        assert attrs["cloudplan.pipeline"] == "golden_ml"
        assert attrs["cloudplan.plan_version"] == "v-test"
        assert attrs["cloud.region"] == option.region
        assert attrs["cloudplan.tier"] == option.tier


def test_only_required_signals_are_configured(sdk_files: dict[str, Path]) -> None:
    from opentelemetry.configuration import load_config_file

    # best effort: logs only; standard: logs + metrics; critical: all three
    monitor = load_config_file(sdk_files["monitor"])
    assert monitor.logger_provider is not None
    assert monitor.tracer_provider is None and monitor.meter_provider is None
    features = load_config_file(sdk_files["features"])
    assert features.meter_provider is not None and features.tracer_provider is None
    serve = load_config_file(sdk_files["serve"])
    assert None not in (serve.tracer_provider, serve.meter_provider, serve.logger_provider)


def test_sampler_is_full_for_critical_stages(
    sdk_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.configuration import load_config_file
    from opentelemetry.configuration._tracer_provider import create_tracer_provider

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector.test:4318/v1/traces")
    provider = create_tracer_provider(load_config_file(sdk_files["serve"]).tracer_provider)
    try:
        assert "AlwaysOnSampler" in provider.sampler.get_description()
        exporter = provider._active_span_processor._span_processors[0]._batch_processor._exporter
        assert exporter._endpoint == "http://collector.test:4318/v1/traces"
    finally:
        provider.shutdown()


def test_online_sampling_follows_the_critical_path(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    from airflow_cloudplan.model.workload import Criticality, ExecutionMode

    standard = {"criticality": Criticality.STANDARD, "mode": ExecutionMode.ONLINE}
    stages = tuple(
        s.model_copy(update=standard) if s.name in ("serve", "monitor") else s
        for s in golden_input.pipeline.stages
    )
    # rebuild (not model_copy): Pipeline caches stage_by_name
    pipeline = Pipeline.model_validate({**golden_input.pipeline.model_dump(), "stages": stages})
    inp = PlanningInput(pipeline=pipeline, policy=golden_input.policy,
                        catalog=golden_input.catalog)
    ctx = ComposeContext(golden_plan, inp, "v", RunOpsSettings())
    by_name = {p.name: p for p in ctx.placements}
    # serve ends the longest path (ingest → features → train → serve): sampled fully;
    # monitor hangs off features on a short branch: the policy's standard ratio
    assert by_name["serve"].on_critical_path and by_name["serve"].trace_ratio == 1.0
    assert not by_name["monitor"].on_critical_path
    assert by_name["monitor"].trace_ratio == 0.1


def test_latency_threshold_is_a_histogram_boundary(sdk_files: dict[str, Path]) -> None:
    serve = yaml.safe_load(sdk_files["serve"].read_text())
    view = serve["meter_provider"]["views"][0]
    assert view["selector"]["instrument_name"] == "cloudplan.request.duration"
    assert 0.25 in view["stream"]["aggregation"]["explicit_bucket_histogram"]["boundaries"]


def test_generated_collector_config_is_consistent(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    config = collector_config(ComposeContext(golden_plan, golden_input, "v", RunOpsSettings()))
    assert check_collector_config(config) == []
    assert set(config["service"]["pipelines"]) == {"traces", "metrics", "logs"}


def test_collector_check_reports_every_inconsistency() -> None:
    config = {
        "receivers": {"otlp": {}},
        "processors": {"batch": {}, "unused_proc": {}},
        "exporters": {"prometheus": {}},
        "service": {"extensions": ["pprof"], "pipelines": {
            "metrics": {"receivers": ["otlp"], "processors": ["batch"],
                        "exporters": ["prometheus", "otlphttp"]},
            "spans": {"receivers": ["kafka"], "exporters": []},
        }},
    }
    rendered = [p.render() for p in check_collector_config(config)]
    assert any("undeclared exporter 'otlphttp'" in r for r in rendered)
    assert any("undeclared receiver 'kafka'" in r for r in rendered)
    assert any("pipeline id 'spans'" in r for r in rendered)
    assert any("no exporters" in r for r in rendered)
    assert any("undeclared extension 'pprof'" in r for r in rendered)
    assert any("'unused_proc' is unused" in r for r in rendered)


# --- the Collector is closed by default; telemetry stays where its class allows --------


def _with_telemetry(inp: PlanningInput, **telemetry: Any) -> PlanningInput:
    obs = inp.policy.observability
    deployment = obs.telemetry.model_copy(update=telemetry)
    policy = inp.policy.model_copy(update={"observability": obs.model_copy(
        update={"telemetry": deployment})})
    return PlanningInput(pipeline=inp.pipeline, policy=policy, catalog=inp.catalog)


def _collector(plan: PlanResult, inp: PlanningInput) -> dict[str, Any]:
    _, artifacts = render(plan, inp, plan_version="v")
    return yaml.safe_load(next(a for a in artifacts if a.path == "otel/collector.yaml").content)


def _endpoints(config: dict[str, Any]) -> list[str]:
    out = [p["endpoint"] for p in config["receivers"]["otlp"]["protocols"].values()]
    out.append(config["exporters"]["prometheus"]["endpoint"])
    out.append(config["extensions"]["health_check"]["endpoint"])
    return out


def test_collector_listens_on_localhost_by_default(golden_plan: PlanResult,
                                                   golden_input: PlanningInput) -> None:
    config = _collector(golden_plan, golden_input)
    assert _endpoints(config) == ["localhost:4317", "localhost:4318", "localhost:8889",
                                  "localhost:13133"]
    assert "0.0.0.0" not in yaml.safe_dump(config)


def test_an_open_listener_needs_tls_and_client_certificates(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    open_inp = _with_telemetry(golden_input, listen_host="0.0.0.0")
    with pytest.raises(ComposeError) as info:
        render(golden_plan, open_inp)
    text = info.value.render()
    assert "receivers.otlp.protocols.grpc: listens on 0.0.0.0:4317 without TLS" in text
    assert "inject telemetry" in text and "outcome=\"failure\"" in text
    server_only = _with_telemetry(golden_input, listen_host="${env:MY_POD_IP}", tls=CollectorTLS(
        cert_file="/tls/c.crt", key_file="/tls/c.key"))
    with pytest.raises(ComposeError, match="from any client"):
        render(golden_plan, server_only)
    mutual = _with_telemetry(golden_input, listen_host="${env:MY_POD_IP}", tls=CollectorTLS(
        cert_file="/tls/c.crt", key_file="/tls/c.key", ca_file="/tls/ca.crt",
        client_ca_file="/tls/clients.crt", client_cert_file="/tls/s.crt",
        client_key_file="/tls/s.key"))
    config = _collector(golden_plan, mutual)
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]
    assert grpc == {"endpoint": "${env:MY_POD_IP}:4317", "tls": {
        "cert_file": "/tls/c.crt", "key_file": "/tls/c.key", "client_ca_file": "/tls/clients.crt"}}
    assert config["exporters"]["prometheus"]["tls"] == {"cert_file": "/tls/c.crt",
                                                        "key_file": "/tls/c.key"}
    assert check_collector_config(config) == []


def test_declared_certificates_reach_the_stages_sdk_config(
    golden_plan: PlanResult, golden_input: PlanningInput, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.configuration import load_config_file

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    inp = _with_telemetry(golden_input, tls=CollectorTLS(
        cert_file="/tls/c.crt", key_file="/tls/c.key", ca_file="/tls/ca.crt",
        client_ca_file="/tls/clients.crt", client_cert_file="/tls/s.crt",
        client_key_file="/tls/s.key"))
    _, artifacts = render(golden_plan, inp, plan_version="v")
    serve = next(a for a in artifacts if a.path == "otel/sdk/serve.yaml")
    (tmp_path / "serve.yaml").write_bytes(serve.content)
    config = load_config_file(tmp_path / "serve.yaml")
    exporter = config.tracer_provider.processors[0].batch.exporter.otlp_http
    assert exporter.endpoint == "https://localhost:4318/v1/traces"
    assert (exporter.tls.ca_file, exporter.tls.cert_file, exporter.tls.key_file) == (
        "/tls/ca.crt", "/tls/s.crt", "/tls/s.key")


def test_each_class_exports_only_to_a_backend_it_allows(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    """monitor reads only internal metrics (no edge hands it anything else): it may use the
    first, US backend; every confidential stage (EU only) goes to the EU backend. Two
    routes, filtered by class. (Reading the model would not do: by lineage the model
    carries the confidential features it was trained on.)"""
    stages = tuple(s.model_copy(update={"reads": ("metrics",)}) if s.name == "monitor" else s
                   for s in golden_input.pipeline.stages)
    data = golden_input.pipeline.model_dump(mode="json")
    data["datasets"].append({"name": "metrics", "uri": "s3://golden-metrics/m/", "size_gb": 1,
                             "home_region": "eu-west-1", "sensitivity": "internal"})
    data["edges"] = [e for e in data["edges"] if e["dst"] != "monitor"]
    pipeline = Pipeline.model_validate({**data, "stages": stages})
    inp = PlanningInput(pipeline=pipeline, policy=golden_input.policy,
                        catalog=golden_input.catalog)
    routes = {(str(r.signal), r.backend.name): (r.classes, r.stages)
              for r in telemetry_routes(ComposeContext(golden_plan, inp, "v", RunOpsSettings()))}
    assert routes[("logs", "us-otlp")] == (("internal",), ("monitor",))
    assert routes[("logs", "eu-otlp")][0] == ("confidential",)
    assert "monitor" not in routes[("logs", "eu-otlp")][1]
    config = _collector(golden_plan, inp)
    pipelines = config["service"]["pipelines"]
    assert pipelines["logs/eu-otlp"]["processors"] == ["memory_limiter", "filter/logs-eu-otlp",
                                                       "batch"]
    assert config["processors"]["filter/logs-eu-otlp"]["logs"]["log_record"] == [
        'resource.attributes["cloudplan.sensitivity"] != "confidential"']
    assert config["processors"]["filter/logs-us-otlp"]["logs"]["log_record"] == [
        'resource.attributes["cloudplan.sensitivity"] != "internal"']
    # traces: only confidential stages emit them, so one unfiltered pipeline to the EU
    assert pipelines["traces"]["exporters"] == ["otlphttp/eu-otlp"]
    assert check_collector_config(config) == []


def test_no_allowed_backend_is_a_compose_error_with_the_fix(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    us_only = _with_telemetry(golden_input, backends=(TelemetryBackend(
        name="us-otlp", jurisdiction="us", endpoint="https://otlp.us.example.com:4318"),))
    with pytest.raises(ComposeError) as info:
        render(golden_plan, us_only)
    text = info.value.render()
    assert ("stage 'serve' emits traces under class confidential: jurisdictions eu, but no "
            "telemetry backend in an allowed place accepts traces (declared: us-otlp (us))") in text
    assert "declare a backend with signals [traces] in an allowed jurisdiction" in text


def test_regulated_example_exports_only_inside_the_eu(catalog: Any) -> None:
    from tests.runops.conftest import example_input, hand_plan

    inp = example_input("regulated_pipeline", catalog)
    config = _collector(hand_plan(inp), inp)
    exporters = {k for k in config["exporters"] if k.startswith("otlphttp/")}
    assert exporters == {"otlphttp/eu-observability"}  # group-us is listed first, unused
    assert config["receivers"]["otlp"]["protocols"]["http"]["tls"]["client_ca_file"]
    assert check_collector_config(config) == []


@pytest.mark.parametrize(("endpoint", "ok"), [
    ("https://otlp.example.com:4318", True),
    ("http://localhost:4318", True),
    ("http://127.0.0.1:4318", True),
    ("http://otlp.example.com:4318", False),
    ("${env:EU_OTLP}", True),
    ("${env:EU_OTLP:-https://otlp.example.eu}", True),
    ("${env:EU_OTLP:-http://otlp.example.eu}", False),
    ("${env:eu-otlp}", False),
    ("otlp.example.com:4318", False),
])
def test_backend_endpoints(endpoint: str, ok: bool) -> None:
    assert (endpoint_problems(endpoint) == []) is ok


def test_without_backends_the_env_endpoints_are_listed_and_required(
    golden_plan: PlanResult, golden_input: PlanningInput, catalog: Any
) -> None:
    from tests.runops.conftest import example_input, hand_plan

    inp = example_input("ml_pipeline", catalog)  # no class restricts residency
    _, artifacts = render(hand_plan(inp), inp, plan_version="v")
    collector = next(a for a in artifacts if a.path == "otel/collector.yaml").content.decode()
    assert "${env:CLOUDPLAN_TRACES_BACKEND_ENDPOINT}" in collector
    assert ("Set before starting the Collector (it refuses to start while one is unset): "
            "CLOUDPLAN_LOGS_BACKEND_ENDPOINT, CLOUDPLAN_TRACES_BACKEND_ENDPOINT.") in collector
    # a class with residency rules cannot use endpoints of unknown jurisdiction
    bare = _with_telemetry(golden_input, backends=())
    with pytest.raises(ComposeError, match="unknown jurisdiction"):
        render(golden_plan, bare)


def test_exposure_check_reads_any_config() -> None:
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"},
                                             "http": {"endpoint": ":4318"}}}},
        "exporters": {"otlphttp/x": {"endpoint": "http://backend.example:4318"},
                      "prometheus": {"endpoint": "localhost:8889"}},
        "extensions": {"health_check": {"endpoint": "127.0.0.1:13133"}},
        "service": {"extensions": ["health_check"], "pipelines": {
            "traces": {"receivers": ["otlp"], "exporters": ["otlphttp/x"]},
            "metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]}}},
    }
    rendered = [p.render() for p in check_collector_config(config)]
    assert any("protocols.grpc: listens on 0.0.0.0:4317 without TLS" in r for r in rendered)
    assert any("protocols.http: listens on :4318 without TLS" in r for r in rendered)
    assert any("exporters.otlphttp/x" in r and "unencrypted" in r for r in rendered)
    assert not any("prometheus" in r or "health_check" in r for r in rendered)
