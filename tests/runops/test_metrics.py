"""The metric contract is what the stage operators really record, named as Prometheus will."""

from __future__ import annotations

from airflow_cloudplan.model import PlanningInput, PlanResult, Signal
from airflow_cloudplan.model.workload import StageKind, StageRunMetrics
from airflow_cloudplan.runops import metrics
from airflow_cloudplan.runtime import telemetry
from airflow_cloudplan.runtime.active_plan import StageRuntimeSettings
from airflow_cloudplan.runtime.declaration import StageDeclaration
from airflow_cloudplan.runtime.outcome import Outcome
from tests.runtime.conftest import memory_otel

# The OTLP -> Prometheus names, written from the OpenTelemetry specification's
# "Prometheus and OpenMetrics compatibility" rules (dots -> underscores, unit suffix
# "s" -> "_seconds", units in braces dropped, "_total" for monotonic sums, histogram
# series "_bucket"/"_count"/"_sum"), not from runops/metrics.py.
PROMETHEUS = {
    "cloudplan.stage.runs": ("cloudplan_stage_runs_total",),
    "cloudplan.stage.duration": ("cloudplan_stage_duration_seconds_bucket",
                                 "cloudplan_stage_duration_seconds_count",
                                 "cloudplan_stage_duration_seconds_sum"),
    "cloudplan.requests": ("cloudplan_requests_total",),
    "cloudplan.request.duration": ("cloudplan_request_duration_seconds_bucket",
                                   "cloudplan_request_duration_seconds_count",
                                   "cloudplan_request_duration_seconds_sum"),
}


def _recorded() -> dict[str, tuple[str, str, set[frozenset[str]]]]:
    """name -> (kind, unit, attribute key sets) of everything recorded so far."""
    _, reader = memory_otel()
    out: dict[str, tuple[str, str, set[frozenset[str]]]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = type(m.data).__name__
                keys = {frozenset(p.attributes) for p in m.data.data_points}
                out[m.name] = (kind, m.unit or "", keys)
    return out


def test_operators_record_exactly_the_contract() -> None:
    memory_otel()
    decl = StageDeclaration(pipeline="contract", stage="serve", kind=StageKind.SERVE)
    settings = StageRuntimeSettings(signals=frozenset({Signal.METRICS}))
    run = StageRunMetrics(pipeline="contract", stage="serve", kind=StageKind.SERVE,
                          duration_s=12.5)
    # The SLO rules select on the contract's outcome labels; the operators count Outcome values.
    assert (metrics.OUTCOME_FAILURE, metrics.OUTCOME_SUCCESS) == (Outcome.FAILURE, Outcome.SUCCESS)
    telemetry.record_stage_metrics(decl, settings, run, Outcome.FAILURE)
    telemetry.record_stage_metrics(decl, settings, run, Outcome.SUCCESS)
    telemetry.record_request(decl, settings, 0.12, "500")
    telemetry.record_request(decl, settings, 0.08, "200")
    recorded = _recorded()
    kinds = {"counter": "Sum", "histogram": "Histogram"}
    for inst in metrics.CONTRACT:
        assert inst.name in recorded, inst.name
        kind, unit, keys = recorded[inst.name]
        assert kind == kinds[inst.kind], inst.name
        assert unit == inst.unit, inst.name
        assert keys == {frozenset(inst.attributes)}, (inst.name, keys)
        assert inst.series == PROMETHEUS[inst.name]


def test_every_sli_selector_reads_contract_series_and_labels(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    """Series names and label matchers of every SLI exist in what the operators record."""
    import re

    from airflow_cloudplan.runops.context import ComposeContext
    from airflow_cloudplan.runops.settings import RunOpsSettings
    from airflow_cloudplan.runops.slo import declared_slos

    ctx = ComposeContext(golden_plan, golden_input, "v", RunOpsSettings())
    seen = set()
    for p in ctx.placements:
        for slo in declared_slos(p, ctx.pipeline_name, 0.95):
            for selector in filter(None, (slo.total, slo.bad, slo.good)):
                name, matchers = selector.rstrip("}").split("{", 1)
                inst = metrics.instrument_of(name)
                assert inst is not None, name
                keys = set(re.findall(r"(\w+)=~?\"", matchers))
                extra = {"le"} if name.endswith("_bucket") else set()
                assert keys <= set(inst.attributes) | extra, (selector, inst.attributes)
                seen.add(inst.name)
    assert seen == {i.name for i in metrics.CONTRACT}
