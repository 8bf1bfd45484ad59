"""Per-stage runtime settings from the active plan (or safe defaults when there is none).

Apply writes the active plans' parse-time cache to a local file (``[cloudplan]
plan_cache``, an :class:`~airflow_cloudplan.store.cache.ActivePlanCache`: per pipeline,
the active version and its Airflow settings); the operator reads it at run time. A bare
:class:`~airflow_cloudplan.model.plan.PlanResult` (or a JSON list of them) is accepted too,
for runs outside a plan store. For a task the plan manages, the settings come from

* ``airflow.tasks[*].otel`` — the composer's per-stage instrumentation: ``signals``
  (comma-separated ``logs,metrics,traces``), ``trace_sampling`` (alias
  ``sampling_ratio``/``sampler_arg``), ``detail`` (``minimal``|``full``),
  ``plan_version``, and any ``attr.<name>`` to add as a span attribute;
* the recommended plan's option for the stage — placement (region, zone, tier,
  instance type, option id) and the data-access strategy — read from the plan store by
  the active version (the cache does not carry the assignment).

The plan version reported everywhere is the store's content address of the plan.

Without a plan the defaults are *safe minimal* telemetry: logs, metrics and a span that
follows Airflow's own sampling decision, no object keys in telemetry, direct access.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from airflow_cloudplan.errors import PlanStoreError, Problem
from airflow_cloudplan.model.catalog import Frozen, Signal
from airflow_cloudplan.model.plan import (
    AccessStrategy,
    AirflowSettings,
    AirflowTaskSettings,
    PlanResult,
    StageOption,
)
from airflow_cloudplan.store.base import plan_version
from airflow_cloudplan.store.cache import ActivePlanCache

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
    role_arn: str | None = Field(default=None, description="the role data access runs as")
    data_copies: dict[str, str] = Field(
        default_factory=dict,
        description="dataset -> the plan's cache/replica/partition URI (dataflow.locations)",
    )
    source: str = Field(default="default", description="'default' or the plan file read")


PlanLoader = Callable[[str], PlanResult]
"""Loads a stored plan by version (the Airflow layer passes the plan store's ``get``)."""

_cache: dict[Path, tuple[tuple[int, int], ActivePlanCache | tuple[PlanResult, ...]]] = {}


def _load(path: Path) -> ActivePlanCache | tuple[PlanResult, ...]:
    """Parse the file once per (mtime, size): a task reads it on every run."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _cache.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    doc: ActivePlanCache | tuple[PlanResult, ...]
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "pipelines" in raw:
            doc = ActivePlanCache.model_validate(raw)
        else:
            doc = tuple(PlanResult.model_validate(p) for p in (raw if isinstance(raw, list)
                                                                else [raw]))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise PlanStoreError(
            "the active plan file is not a valid plan cache",
            [
                Problem(
                    message=first,
                    file=str(path),
                    hint="re-apply the plan (it rewrites this file) or delete the file to run "
                    "with default telemetry",
                )
            ],
        ) from exc
    _cache[path] = (stamp, doc)
    return doc


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


def _task_settings(
    settings: AirflowSettings | None, stage: str, dag_id: str, task_id: str
) -> AirflowTaskSettings | None:
    if settings is None:
        return None
    for t in settings.tasks:
        if (t.dag_id, t.task_id) == (dag_id, task_id):
            return t
    for t in settings.tasks:
        if t.stage == stage:
            return t
    return None


def stage_settings(
    plan_cache: Path | None,
    *,
    pipeline: str,
    stage: str,
    dag_id: str,
    task_id: str,
    plan_loader: PlanLoader | None = None,
) -> StageRuntimeSettings:
    """The settings of one stage run: from the active plan if it manages it, else defaults.

    ``plan_cache`` is the apply step's parse-time cache (``ActivePlanCache``: version and
    Airflow settings per pipeline) or a bare ``PlanResult``. With the cache, placement and
    access strategy come from the full plan, loaded by version through ``plan_loader``.
    """
    if plan_cache is None or not plan_cache.is_file():
        return StageRuntimeSettings()
    doc = _load(plan_cache)
    plan: PlanResult | None = None
    airflow: AirflowSettings | None
    if isinstance(doc, ActivePlanCache):
        cached = doc.pipelines.get(pipeline)
        if cached is None:
            return StageRuntimeSettings()
        version, airflow = cached.version, cached.airflow
        if plan_loader is not None:
            plan = plan_loader(version)
    else:
        plan = next((p for p in doc if p.pipeline == pipeline), None)
        if plan is None:
            return StageRuntimeSettings()
        version, airflow = plan_version(plan), plan.airflow
    task = _task_settings(airflow, stage, dag_id, task_id)
    if task is None:
        return StageRuntimeSettings()
    option = plan.recommendation.assignment.get(task.stage) if plan else None
    try:
        return _settings_from(version, plan_cache, task, option)
    except (ValueError, ValidationError) as exc:
        raise PlanStoreError(
            "the active plan has invalid telemetry settings for a stage",
            [Problem(message=str(exc).splitlines()[0], file=str(plan_cache),
                     path=f"airflow.tasks[{task.dag_id}.{task.task_id}].otel",
                     hint="fix the composer's per-stage settings and re-apply the plan")],
        ) from exc


def _settings_from(
    version: str, plan_cache: Path, task: AirflowTaskSettings, option: StageOption | None
) -> StageRuntimeSettings:
    otel = dict(task.otel)
    placement: dict[str, str] = {}
    if option is not None:
        placement = {
            "region": option.region,
            "zone": option.zone,
            "tier": option.tier,
            "instance_type": option.instance_type,
            "option": option.id,
        }
    base = StageRuntimeSettings(
        plan_version=version,
        placement=placement,
        access=option.access if option else AccessStrategy.DIRECT,
        partition=option.region if option else None,
        role_arn=task.role_arn,
        data_copies=dict(task.data_copies),
        source=str(plan_cache),
    )
    return with_task_otel(base, otel, plan_cache)


def with_task_otel(settings: StageRuntimeSettings, otel: dict[str, str],
                   source: Path) -> StageRuntimeSettings:
    """``settings`` with the telemetry of a task's ``otel`` settings applied.

    Used for the plan's per-task ``otel`` and for ``task.cloudplan_otel``, which the
    cluster policy sets when the worker re-parses the DAG (it wins over the file read at
    run time: it is what this task was parsed with).
    """
    ratio = otel.get("trace_sampling") or otel.get("sampling_ratio") or otel.get("sampler_arg")
    update: dict[str, Any] = {
        "span_attributes": {
            k.removeprefix("attr."): v for k, v in otel.items() if k.startswith("attr.")
        },
    }
    if "signals" in otel:
        update["signals"] = _parse_signals(otel["signals"], source)
    if ratio is not None:
        update["trace_sampling"] = float(ratio)
    if "detail" in otel:
        update["detail"] = otel["detail"]
    if otel.get("plan_version"):
        update["plan_version"] = otel["plan_version"]
    return StageRuntimeSettings.model_validate({**settings.model_dump(), **update})
