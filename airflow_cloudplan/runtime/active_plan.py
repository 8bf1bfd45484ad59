"""Per-stage runtime settings from the active plan (or safe defaults when there is none).

The plan store copies the active plan to a local file (``[cloudplan] plan_cache``); the
operator reads it at run time, never the network. The file holds a
:class:`~airflow_cloudplan.model.plan.PlanResult` (or a JSON list of them, one per
pipeline). For a task the plan manages, the settings come from

* ``airflow.tasks[*].otel`` — the composer's per-stage instrumentation: ``signals``
  (comma-separated ``logs,metrics,traces``), ``trace_sampling`` (alias
  ``sampling_ratio``/``sampler_arg``), ``detail`` (``minimal``|``full``),
  ``plan_version``, and any ``attr.<name>`` to add as a span attribute;
* the recommended plan's option for the stage — placement (region, zone, tier,
  instance type, option id) and the data-access strategy.

Without a plan the defaults are *safe minimal* telemetry: logs, metrics and a span that
follows Airflow's own sampling decision, no object keys in telemetry, direct access.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from airflow_cloudplan.errors import PlanStoreError, Problem
from airflow_cloudplan.model.catalog import Frozen, Signal
from airflow_cloudplan.model.plan import AccessStrategy, PlanResult, StageOption

MINIMAL_SIGNALS = frozenset({Signal.LOGS, Signal.METRICS, Signal.TRACES})


class StageRuntimeSettings(Frozen):
    """How one stage run is instrumented and reaches its data."""

    signals: frozenset[Signal] = MINIMAL_SIGNALS
    trace_sampling: float = Field(default=1.0, ge=0, le=1)
    detail: str = Field(default="minimal", pattern="^(minimal|full)$")
    plan_version: str | None = None
    placement: dict[str, str] = Field(default_factory=dict)
    access: AccessStrategy = AccessStrategy.DIRECT
    partition: str | None = Field(
        default=None, description="locality partition (the stage's region) for partitioned access"
    )
    span_attributes: dict[str, str] = Field(default_factory=dict)
    source: str = Field(default="default", description="'default' or the plan file read")


_cache: dict[Path, tuple[tuple[int, int], tuple[PlanResult, ...]]] = {}


def _load_plans(path: Path) -> tuple[PlanResult, ...]:
    """Parse the plan file once per (mtime, size): a task reads it on every run."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _cache.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        items = raw if isinstance(raw, list) else [raw]
        plans = tuple(PlanResult.model_validate(p) for p in items)
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise PlanStoreError(
            "the active plan file is not a valid plan",
            [
                Problem(
                    message=first,
                    file=str(path),
                    hint="re-apply the plan (it rewrites this file) or delete the file to run "
                    "with default telemetry",
                )
            ],
        ) from exc
    _cache[path] = (stamp, plans)
    return plans


def plan_version_of(plan: PlanResult) -> str:
    """A readable, stable version label: creation time plus the spec hash prefix."""
    return f"{plan.created_at:%Y%m%dT%H%M%SZ}-{plan.spec_sha256[:8]}"


def _parse_signals(text: str, path: Path) -> frozenset[Signal]:
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    known = {s.value for s in Signal}
    bad = [n for n in names if n not in known]
    if bad:
        raise PlanStoreError(
            "the active plan names unknown telemetry signals",
            [Problem(message=f"unknown signals {bad}", file=str(path), path="otel.signals",
                     hint=f"use a comma-separated subset of {sorted(known)}")],
        )
    return frozenset(Signal(n) for n in names)


def stage_settings(
    plan_cache: Path | None, *, pipeline: str, stage: str, dag_id: str, task_id: str
) -> StageRuntimeSettings:
    """The settings of one stage run: from the active plan if it manages it, else defaults."""
    if plan_cache is None or not plan_cache.is_file():
        return StageRuntimeSettings()
    for plan in _load_plans(plan_cache):
        if plan.pipeline != pipeline:
            continue
        otel: dict[str, str] = {}
        if plan.airflow:
            for t in plan.airflow.tasks:
                if (t.dag_id, t.task_id) == (dag_id, task_id) or t.stage == stage:
                    otel = dict(t.otel)
                    stage = t.stage
                    break
        option = plan.recommendation.assignment.get(stage)
        placement: dict[str, str] = {}
        if option is not None:
            placement = {
                "region": option.region,
                "zone": option.zone,
                "tier": option.tier,
                "instance_type": option.instance_type,
                "option": option.id,
            }
        ratio = otel.get("trace_sampling") or otel.get("sampling_ratio") or otel.get("sampler_arg")
        try:
            return _settings_from(plan, plan_cache, otel, option, placement, ratio)
        except (ValueError, ValidationError) as exc:
            raise PlanStoreError(
                "the active plan has invalid telemetry settings for a stage",
                [Problem(message=str(exc).splitlines()[0], file=str(plan_cache),
                         path=f"airflow.tasks[stage={stage}].otel",
                         hint="fix the composer's per-stage settings and re-apply the plan")],
            ) from exc
    return StageRuntimeSettings()


def _settings_from(  # noqa: PLR0917 - private helper, one call site
    plan: PlanResult,
    plan_cache: Path,
    otel: dict[str, str],
    option: StageOption | None,
    placement: dict[str, str],
    ratio: str | None,
) -> StageRuntimeSettings:
    return StageRuntimeSettings(
            signals=_parse_signals(otel["signals"], plan_cache) if "signals" in otel
            else MINIMAL_SIGNALS,
            trace_sampling=float(ratio) if ratio is not None else 1.0,
            detail=otel.get("detail", "minimal"),
            plan_version=otel.get("plan_version") or plan_version_of(plan),
            placement=placement,
            access=option.access if option else AccessStrategy.DIRECT,
            partition=option.region if option else None,
            span_attributes={
                k.removeprefix("attr."): v for k, v in otel.items() if k.startswith("attr.")
            },
            source=str(plan_cache),
        )
