"""What the review pages show, computed from the plan store (no Airflow, no HTML here).

Each function returns plain data for one page; the templates only lay it out. Keeping
the decisions here (which plan is compared with which, what a version's status is) makes
them testable without a browser and keeps the templates free of logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.model.plan import EvaluatedPlan, PlanResult, Violation
from airflow_cloudplan.report import frontier_svg
from airflow_cloudplan.report.units import fmt_cost, fmt_delta, fmt_latency, fmt_risk
from airflow_cloudplan.store import PlanStore
from airflow_cloudplan.store.base import HistoryEvent
from airflow_cloudplan.store.diff import FieldChange, PlanDiff, diff_plans

MAX_ARTIFACT_BYTES = 2_000_000


@dataclass(frozen=True)
class ObjectiveRow:
    """One row of the summary table: a plan's (C, L, R) and how it compares."""

    key: str
    label: str
    cost: str
    latency: str
    risk: str
    cost_delta: str
    latency_delta: str
    risk_delta: str
    violations: int
    note: str = ""


@dataclass(frozen=True)
class VersionRow:
    """A stored version in the pipeline overview."""

    version: str
    created_at: str
    cost: str
    latency: str
    risk: str
    points: int
    status: str
    active: bool


@dataclass(frozen=True)
class PipelineOverview:
    """A pipeline: its active plan, its versions and its history."""

    name: str
    active_version: str | None
    activated_at: str | None
    activated_by: str | None
    versions: list[VersionRow]
    history: list[HistoryEvent]


@dataclass(frozen=True)
class PlanPage:
    """Everything the plan review page shows."""

    version: str
    plan: PlanResult
    status: str
    is_active: bool
    compared_version: str | None
    compared_label: str
    rows: list[ObjectiveRow]
    frontier_svg: str
    diff: PlanDiff
    changes_by_stage: list[tuple[str, list[FieldChange]]]
    gate_stages: list[dict[str, Any]]
    gate_names: list[str]
    baseline_violations: list[tuple[str, str, list[Violation]]]
    recommendation_violations: list[Violation]
    artifacts: list[str]
    history: list[HistoryEvent]
    frontier_rows: list[dict[str, Any]] = field(default_factory=list)


def version_status(history: list[HistoryEvent], version: str, active: str | None) -> str:
    """``active``, or the latest event about this version (``stored``, ``rejected`` …)."""
    if version == active:
        return "active"
    last = [e.event for e in history if e.version == version]
    return last[-1].replace("_", " ") if last else "stored"


def overview(store: PlanStore) -> list[PipelineOverview]:
    """Every pipeline of the store, newest versions first, history newest first."""
    by_pipeline: dict[str, list[Any]] = {}
    for info in store.versions():
        by_pipeline.setdefault(info.pipeline, []).append(info)
    out = []
    for name in sorted(set(by_pipeline) | set(store.pipelines())):
        pointer = store.active(name)
        active = pointer.version if pointer else None
        history = store.history(name)
        rows = [VersionRow(version=i.version, created_at=f"{i.created_at:%Y-%m-%d %H:%M} UTC",
                           cost=fmt_cost(i.cost_usd_month), latency=fmt_latency(i.latency_ms),
                           risk=fmt_risk(i.risk), points=i.frontier_points,
                           status=version_status(history, i.version, active),
                           active=i.version == active)
                for i in by_pipeline.get(name, [])]
        out.append(PipelineOverview(
            name=name, active_version=active,
            activated_at=f"{pointer.activated_at:%Y-%m-%d %H:%M} UTC" if pointer else None,
            activated_by=pointer.actor if pointer else None,
            versions=rows, history=list(reversed(history))))
    return out


def _row(key: str, label: str, plan: EvaluatedPlan, ref: EvaluatedPlan | None,
         note: str = "") -> ObjectiveRow:
    o, r = plan.objectives, ref.objectives if ref else None
    return ObjectiveRow(
        key=key, label=label, cost=fmt_cost(o.cost_usd_month), latency=fmt_latency(o.latency_ms),
        risk=fmt_risk(o.risk),
        cost_delta=fmt_delta(r.cost_usd_month if r else None, o.cost_usd_month),
        latency_delta=fmt_delta(r.latency_ms if r else None, o.latency_ms),
        risk_delta=fmt_delta(r.risk if r else None, o.risk),
        violations=len(plan.violations), note=note)


def _compared(store: PlanStore, version: str,
              plan: PlanResult) -> tuple[str | None, PlanResult | None, str]:
    """Which stored version this one is compared with, and how to call it."""
    pointer = store.active(plan.pipeline)
    if pointer is None:
        return None, None, "no plan is active yet"
    if pointer.version != version:
        return pointer.version, store.get(pointer.version), "active plan"
    if pointer.previous:
        return pointer.previous, store.get(pointer.previous), "previously active plan"
    return None, None, "this plan is active; no plan was active before it"


def plan_page(store: PlanStore, version: str) -> PlanPage:
    """The review page of one stored version (prefixes accepted)."""
    full = store.resolve(version)
    plan = store.get(full)
    history = store.history(plan.pipeline)
    pointer = store.active(plan.pipeline)
    other_version, other, label = _compared(store, full, plan)
    ref = other.recommendation if other else None
    rows = [_row("recommended", "recommended", plan.recommendation, ref)]
    if other is not None:
        rows.append(_row("compared", label, other.recommendation, ref,
                         note="scores as stored with that plan"))
    rows += [_row(f"baseline-{b.name}", f"baseline: {b.name}", b.plan, ref, note=b.description)
             for b in plan.baselines]
    diff = diff_plans(other, plan, old_version=other_version, new_version=full)
    grouped: dict[str, list[FieldChange]] = {}
    for c in diff.changes:
        grouped.setdefault(c.stage, []).append(c)
    gate_names = list(dict.fromkeys(g for s in plan.gate_report.stages for g in s.options_after))
    gate_stages = [{"stage": s.stage, "before": s.options_before,
                    "after": [s.options_after.get(g) for g in gate_names],
                    "reasons": sorted(s.reasons.items(), key=lambda kv: (-kv[1], kv[0])),
                    "relaxation": s.smallest_relaxation}
                   for s in plan.gate_report.stages]
    frontier_rows = [{"index": i, "cost": fmt_cost(p.objectives.cost_usd_month),
                      "latency": fmt_latency(p.objectives.latency_ms),
                      "risk": fmt_risk(p.objectives.risk), "proven": p.proven_optimal,
                      "status": p.solver_status, "recommended": i == plan.recommended}
                     for i, p in enumerate(plan.frontier)]
    return PlanPage(
        version=full, plan=plan,
        status=version_status(history, full, pointer.version if pointer else None),
        is_active=bool(pointer and pointer.version == full),
        compared_version=other_version, compared_label=label, rows=rows,
        frontier_svg=frontier_svg(plan, ref), diff=diff,
        changes_by_stage=list(grouped.items()), gate_stages=gate_stages, gate_names=gate_names,
        baseline_violations=[(b.name, b.description, list(b.plan.violations))
                             for b in plan.baselines],
        recommendation_violations=list(plan.recommendation.violations),
        artifacts=store.artifacts(full),
        history=[e for e in reversed(history) if e.version == full],
        frontier_rows=frontier_rows,
    )


def artifact_text(store: PlanStore, version: str, path: str) -> tuple[str, str, bool] | None:
    """(full version, text, truncated) of one artifact; None when the version has no such file.

    Only paths the store lists for the version are read, so a crafted path can never reach
    outside the version's artifacts. Bytes that are not UTF-8 are shown replaced.
    """
    full = store.resolve(version)
    if path not in store.artifacts(full):
        return None
    data = store.artifact(full, path) or b""
    truncated = len(data) > MAX_ARTIFACT_BYTES
    return full, data[:MAX_ARTIFACT_BYTES].decode("utf-8", errors="replace"), truncated
