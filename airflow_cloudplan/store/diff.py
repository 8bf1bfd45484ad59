"""What changes between two plans: per-stage option fields, objectives, Airflow settings."""

from __future__ import annotations

from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.model.plan import PlanResult

OPTION_FIELDS = ("region", "zone", "tier", "instance_type", "replicas_min", "replicas_max",
                 "scaling", "access", "isolation", "spot")
TASK_FIELDS = ("pool", "pool_slots", "queue", "executor", "priority_weight")


class FieldChange(Frozen):
    """One field of one stage (or task) that differs."""

    stage: str
    field: str
    before: str | None
    after: str | None


class PlanDiff(Frozen):
    """The difference between an old plan (or none) and a new plan's recommendations."""

    pipeline: str
    old_version: str | None
    new_version: str
    changes: tuple[FieldChange, ...]
    objectives_before: dict[str, float] | None
    objectives_after: dict[str, float]

    def changed_stages(self) -> list[str]:
        """Stages with at least one change, in order of first appearance."""
        return list(dict.fromkeys(c.stage for c in self.changes))

    def relative_delta(self) -> dict[str, float | None]:
        """(after − before) / before per objective (None when there is no 'before')."""
        out: dict[str, float | None] = {}
        for k, after in self.objectives_after.items():
            before = (self.objectives_before or {}).get(k)
            out[k] = None if not before else (after - before) / before
        return out

    def render_text(self) -> str:
        """A plain-text table for terminals and approval bodies (units as in the UI)."""
        # Imported here: the report package draws diffs and imports this module.
        from airflow_cloudplan.report.units import OBJECTIVE_LABELS, fmt_delta, fmt_objective

        old = (self.old_version or "none")[:12]
        lines = [f"plan {self.pipeline}: {old} -> {self.new_version[:12]}"]
        for k, after in self.objectives_after.items():
            before = (self.objectives_before or {}).get(k)
            label = OBJECTIVE_LABELS.get(k, k)
            lines.append(f"  {label:<16} {fmt_objective(k, before):>14} -> "
                         f"{fmt_objective(k, after):>14}  ({fmt_delta(before, after)})")
        if not self.changes:
            lines.append("  no placement changes")
        for c in self.changes:
            lines.append(f"  {c.stage:<18} {c.field:<14} {c.before or '-':<28} -> {c.after or '-'}")
        return "\n".join(lines)


def _objectives(plan: PlanResult) -> dict[str, float]:
    o = plan.recommendation.objectives
    return {"cost_usd_month": o.cost_usd_month, "latency_ms": o.latency_ms, "risk": o.risk}


def diff_plans(old: PlanResult | None, new: PlanResult, *, old_version: str | None,
               new_version: str) -> PlanDiff:
    """Compare the recommended assignments (and Airflow settings) of two plans."""
    changes: list[FieldChange] = []
    before = old.recommendation.assignment if old else {}
    for stage, opt in new.recommendation.assignment.items():
        prev = before.get(stage)
        for f in OPTION_FIELDS:
            a = str(getattr(opt, f))
            b = str(getattr(prev, f)) if prev else None
            if a != b:
                changes.append(FieldChange(stage=stage, field=f, before=b, after=a))
    old_tasks = {t.stage: t for t in (old.airflow.tasks if old and old.airflow else ())}
    for task in new.airflow.tasks if new.airflow else ():
        prev_t = old_tasks.get(task.stage)
        for f in TASK_FIELDS:
            a = str(getattr(task, f))
            b = str(getattr(prev_t, f)) if prev_t else None
            if a != b:
                changes.append(
                    FieldChange(stage=task.stage, field=f"airflow.{f}", before=b, after=a)
                )
    return PlanDiff(pipeline=new.pipeline, old_version=old_version, new_version=new_version,
                    changes=tuple(changes), objectives_before=_objectives(old) if old else None,
                    objectives_after=_objectives(new))
