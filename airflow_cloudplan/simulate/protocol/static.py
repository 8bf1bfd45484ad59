"""Table-4 figures that are properties of a plan, not of its operation.

* **gate violations** — every rule of the governance, observability and SLO gates the
  plan breaks (``gates.check_plan``), plus the pipeline's deadline and budget;
* **observability coverage** — % of stages whose tier emits every signal their
  criticality requires (``gates.observability_coverage``);
* **audit evidence completeness** — the share of required governance artifacts the RunOps
  composer generates and hashes for the plan (``runops.manifest``);
* **SLO readiness** — the share of the plan's SLOs (availability, and latency or deadline
  where stated) that are ready to be operated: the stage's tier emits the metrics their
  SLI is computed from, and the bundle holds their burn-rate rules and a runbook for every
  alert severity.

The composer is run tolerantly (every emitter, problems collected) so a plan that breaks
rules still gets its figures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from airflow_cloudplan.model.catalog import Frozen, Signal
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import EvaluatedPlan, PlanResult, SolverStats

_FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)


class PlanReadiness(Frozen):
    """The static Table-4 figures of one plan."""

    gate_violations: tuple[str, ...] = Field(description="gate:rule_id[stage] per violation")
    observability_coverage_pct: float
    evidence_completeness: float
    evidence_missing: tuple[str, ...] = ()
    slo_readiness: float
    slos: int
    compose_problems: int = 0


def plan_readiness(inp: PlanningInput, plan: EvaluatedPlan, *,
                   base_dir: Path | None = None) -> PlanReadiness:
    """Gate violations, coverage, evidence completeness and SLO readiness of ``plan``."""
    from airflow_cloudplan.gates import check_plan, observability_coverage
    from airflow_cloudplan.optimize.baselines import coupling_violations
    from airflow_cloudplan.runops.compose import default_emitters
    from airflow_cloudplan.runops.context import ComposeContext
    from airflow_cloudplan.runops.manifest import build_manifest
    from airflow_cloudplan.runops.settings import RunOpsSettings
    from airflow_cloudplan.runops.slo import slos_of

    violations = list(check_plan(inp, plan.assignment, base_dir=base_dir))
    violations += coupling_violations(inp, plan.objectives.latency_ms,
                                      plan.objectives.cost_usd_month)
    labels = tuple(f"{v.gate}:{v.rule_id}" + (f"[{v.stage}]" if v.stage else "")
                   for v in violations)
    coverage = observability_coverage(inp, plan.assignment)["all"]
    single = PlanResult(pipeline=inp.pipeline.name, spec_sha256="", created_at=_FIXED_TIME,
                        catalog_version=inp.catalog.version, weights=inp.policy.weights,
                        frontier=(plan,), recommended=0,
                        solver=SolverStats(solver="evaluation", wall_time_s=0.0))
    settings = RunOpsSettings()
    ctx = ComposeContext(single, inp, "evaluation", settings)
    artifacts = []
    problems = 0
    for emitter in default_emitters():
        result = emitter.run(ctx)
        artifacts.extend(result.artifacts)
        problems += len(result.problems)
    manifest = build_manifest(ctx, artifacts)
    evidence = {a.evidence for a in artifacts if a.evidence}
    severities = sorted({w.severity for w in settings.burn_rate.windows})
    ready = total = 0
    for p in ctx.placements:
        metrics = Signal.METRICS in p.emitted_signals
        for slo in slos_of(ctx, p):
            total += 1
            runbooks = all(f"runbook:{p.name}:{slo.alert_name(s)}" in evidence
                           for s in severities)
            ready += int(metrics and f"slo:{p.name}" in evidence and runbooks)
    return PlanReadiness(
        gate_violations=labels, observability_coverage_pct=coverage,
        evidence_completeness=manifest.evidence_completeness.ratio,
        evidence_missing=manifest.evidence_completeness.missing,
        slo_readiness=ready / total if total else 1.0, slos=total, compose_problems=problems)


__all__ = ["PlanReadiness", "plan_readiness"]
