"""OTel SDK configs load with opentelemetry-configuration and carry the plan's facts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_cloudplan.model import Pipeline, PlanningInput, PlanResult
from airflow_cloudplan.runops import check_collector_config, render
from airflow_cloudplan.runops.context import ComposeContext
from airflow_cloudplan.runops.otel import collector_config
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
