from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.workload import StageRunMetrics
from airflow_cloudplan.runtime.access import DataAccess
from airflow_cloudplan.runtime.active_plan import StageRuntimeSettings
from airflow_cloudplan.runtime.declaration import StageDeclaration
from airflow_cloudplan.runtime.stage import StageContext, run_stage


def _metric_points(reader: Any) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def _seed(tmp_path: Path) -> None:
    p = tmp_path / "data" / "raw" / "in.csv"
    p.parent.mkdir(parents=True)
    p.write_text("a\n1\n2\n3\n")


def test_a_successful_run_is_traced_measured_published_and_logged(
    tmp_path: Path, otel: tuple[Any, Any], declaration: StageDeclaration,
    data_access: DataAccess, caplog: pytest.LogCaptureFixture,
) -> None:
    exporter, reader = otel
    _seed(tmp_path)
    published: list[StageRunMetrics] = []

    def work(ctx: StageContext) -> int:
        frame = ctx.data.read_frame("raw", "in.csv")
        ctx.data.write_frame("clean", "data.csv", frame * 2)
        ctx.metrics.record("quality", 0.9)
        return int(frame["a"].sum())

    settings = StageRuntimeSettings(plan_version="v7", placement={"region": "eu-west-1"},
                                    detail="full")
    with caplog.at_level(logging.INFO, logger="airflow_cloudplan.stage"):
        run = run_stage(work, declaration=declaration, settings=settings, data=data_access,
                        publish=published.append)
    assert run.result == 6
    assert published == [run.metrics]
    m = run.metrics
    assert (m.pipeline, m.stage, m.kind.value, m.errors) == ("demo", "transform", "transform", 0)
    assert (m.rows_read, m.rows_written, m.read_ops, m.write_ops) == (3, 3, 1, 1)
    assert m.duration_s > 0 and m.peak_memory_mb > 0 and m.plan_version == "v7"
    assert StageRunMetrics.model_validate(m.model_dump(mode="json")) == m

    (span,) = exporter.get_finished_spans()
    assert span.name == "cloudplan.stage.transform"
    attrs = dict(span.attributes)
    assert attrs["cloudplan.pipeline"] == "demo" and attrs["cloudplan.plan.version"] == "v7"
    assert attrs["cloudplan.placement.region"] == "eu-west-1"
    assert attrs["cloudplan.sensitivity"] == "confidential"
    assert attrs["cloudplan.io.rows_read"] == 3 and attrs["cloudplan.extra.quality"] == 0.9
    assert [e.name for e in span.events] == ["data.read", "data.write"]  # detail=full

    points = _metric_points(reader)
    runs = [p for p in points["cloudplan.stage.runs"]
            if p.attributes == {"pipeline": "demo", "stage": "transform", "outcome": "success"}]
    assert runs and runs[0].value >= 1
    assert "cloudplan.stage.duration" in points and "cloudplan.stage.rows_written" in points

    (line,) = [r for r in caplog.records if r.name == "airflow_cloudplan.stage"]
    trace_id = format(span.context.trace_id, "032x")
    assert f"trace_id={trace_id}" in line.getMessage()
    assert line.cloudplan["request_id"] == attrs["cloudplan.request_id"]


def test_a_failing_run_still_publishes_its_metrics_and_re_raises(
    otel: tuple[Any, Any], declaration: StageDeclaration, data_access: DataAccess
) -> None:
    exporter, reader = otel
    published: list[StageRunMetrics] = []

    def work(ctx: StageContext) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_stage(work, declaration=declaration, settings=StageRuntimeSettings(),
                  data=data_access, publish=published.append)
    assert [p.errors for p in published] == [1]
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["cloudplan.outcome"] == "failure"
    failures = [p for p in _metric_points(reader)["cloudplan.stage.runs"]
                if p.attributes.get("outcome") == "failure"]
    assert failures


def test_plan_can_turn_traces_off_or_sample_them_out(
    otel: tuple[Any, Any], declaration: StageDeclaration, data_access: DataAccess
) -> None:
    exporter, _ = otel
    for settings in (StageRuntimeSettings(signals=frozenset({Signal.LOGS})),
                     StageRuntimeSettings(trace_sampling=0.0)):
        run_stage(lambda ctx: None, declaration=declaration, settings=settings,
                  data=data_access, publish=lambda m: None)
    assert exporter.get_finished_spans() == ()


def test_serving_requests_become_slo_metrics(
    otel: tuple[Any, Any], declaration: StageDeclaration, data_access: DataAccess
) -> None:
    _, reader = otel

    def work(ctx: StageContext) -> float | None:
        for i in range(20):
            ctx.metrics.observe_request(0.001 * (i + 1), 200)
        with pytest.raises(ValueError), ctx.metrics.request():
            raise ValueError("bad input")
        return ctx.metrics.p95_request_ms()

    run = run_stage(work, declaration=declaration, settings=StageRuntimeSettings(),
                    data=data_access, publish=lambda m: None)
    # 21 samples (1..20 ms and a near-0 ms error): nearest rank ceil(0.95·21) = 20th → 19 ms
    assert run.result == pytest.approx(19.0)
    codes = {p.attributes["code"]: p.value for p in _metric_points(reader)["cloudplan.requests"]
             if p.attributes["stage"] == "transform"}
    assert codes["200"] >= 20 and codes["500"] >= 1
    assert "cloudplan.request.duration" in _metric_points(reader)
