"""SLO gate (C3): prune options whose modelled latency cannot meet the stage's own SLO.

The latency model is the optimizer's (``optimize.latency.stage_latency_ms``: p95 for online
stages, completion time of one run for batch/training stages), so gate and solver agree on
what an option's latency is. The end-to-end deadline couples stages and stays in the MILP;
only an option that alone exceeds the pipeline deadline is pruned here (the longest path is
at least as long as any stage on it).

Stages with no SLO and no pipeline deadline are not evaluated at all, so the model is only
imported when some stage states an objective.
"""

from __future__ import annotations

from airflow_cloudplan.gates.context import GateContext, Rule
from airflow_cloudplan.model.plan import StageOption, Violation
from airflow_cloudplan.model.workload import ExecutionMode

GATE = "slo"


def _latency_ms(ctx: GateContext, stage: str, option: StageOption) -> float:
    from airflow_cloudplan.optimize.latency import stage_latency_ms

    return float(stage_latency_ms(ctx.inp, stage, option))


def stage_slo(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``slo.p95`` / ``slo.deadline`` / ``slo.pipeline_deadline`` / ``slo.tier_timeout``."""
    s = ctx.inp.pipeline.stage_by_name[stage]
    online = s.mode != ExecutionMode.BATCH  # online and streaming: p95 per request
    pipeline_deadline = ctx.inp.pipeline.deadline_minutes
    try:
        timeout_s = ctx.inp.catalog.tier(option.tier).capabilities.max_request_timeout_s
    except KeyError:
        timeout_s = None
    checks: list[tuple[str, str, float]] = []
    if online and s.slo.p95_ms is not None:
        checks.append(("slo.p95", f"stages[{stage}].slo.p95_ms", s.slo.p95_ms))
    if not online:
        if s.slo.deadline_minutes is not None:
            checks.append(("slo.deadline", f"stages[{stage}].slo.deadline_minutes",
                           s.slo.deadline_minutes * 60_000.0))
        if pipeline_deadline is not None:
            checks.append(("slo.pipeline_deadline", "pipeline.deadline_minutes",
                           pipeline_deadline * 60_000.0))
        if timeout_s is not None:
            checks.append(("slo.tier_timeout",
                           f"catalog.tiers[{option.tier}].max_request_timeout_s",
                           timeout_s * 1000.0))
    if not checks:
        return []
    latency = _latency_ms(ctx, stage, option)
    return [
        Violation(
            gate=GATE, rule_id=rule_id, stage=stage, field=field,
            measured=f"{latency:.0f} ms", allowed=f"{limit:.0f} ms",
            message=(f"modelled {'p95' if online else 'completion time'} {latency:.0f} ms "
                     f"exceeds {limit:.0f} ms"),
        )
        for rule_id, field, limit in checks
        if latency > limit
    ]


RULES: tuple[Rule, ...] = (stage_slo,)
