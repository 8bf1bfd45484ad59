from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_cloudplan.errors import PlanStoreError
from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.plan import AccessStrategy
from airflow_cloudplan.runtime.active_plan import MINIMAL_SIGNALS, stage_settings
from airflow_cloudplan.store.base import plan_version
from airflow_cloudplan.store.cache import ActivePlanCache, CachedPlan

from .plan_factory import make_plan

WHO = {"pipeline": "demo", "stage": "transform", "dag_id": "dag", "task_id": "transform"}


def test_no_plan_means_safe_minimal_defaults(tmp_path: Path) -> None:
    s = stage_settings(tmp_path / "absent.json", **WHO)
    assert s.signals == MINIMAL_SIGNALS and s.detail == "minimal"
    assert s.access is AccessStrategy.DIRECT and s.plan_version is None and s.source == "default"
    assert stage_settings(None, **WHO) == s


def test_plan_settings_for_a_managed_task(tmp_path: Path) -> None:
    plan = make_plan(otel={"signals": "traces, metrics", "trace_sampling": "0.25",
                           "detail": "full", "attr.team": "ml"})
    path = tmp_path / "active-plan.json"
    path.write_text(plan.model_dump_json())
    s = stage_settings(path, **WHO)
    assert s.signals == frozenset({Signal.TRACES, Signal.METRICS})
    assert s.trace_sampling == 0.25 and s.detail == "full"
    assert s.plan_version == plan_version(plan)
    assert s.access is AccessStrategy.REGIONAL_CACHE and s.partition == "eu-west-1"
    assert s.placement["instance_type"] == "m7i.large" and s.span_attributes == {"team": "ml"}


def test_the_apply_cache_with_the_full_plan_loaded_by_version(tmp_path: Path) -> None:
    plan = make_plan(otel={"trace_sampling": "0.5"})
    version = plan_version(plan)
    cache = ActivePlanCache(generated_at=plan.created_at, pipelines={
        "demo": CachedPlan(version=version, airflow=plan.airflow)})
    path = tmp_path / "active-plan.json"
    path.write_text(cache.model_dump_json())
    asked: list[str] = []

    def loader(v: str):
        asked.append(v)
        return plan

    s = stage_settings(path, **WHO, plan_loader=loader)
    assert asked == [version] and s.plan_version == version and s.trace_sampling == 0.5
    assert s.access is AccessStrategy.REGIONAL_CACHE and s.placement["region"] == "eu-west-1"
    # Without a loader the cache still gives version and telemetry, access stays direct.
    bare = stage_settings(path, **WHO)
    assert bare.plan_version == version and bare.access is AccessStrategy.DIRECT
    other = {**WHO, "pipeline": "other"}
    assert stage_settings(path, **other, plan_loader=loader).source == "default"


def test_other_pipelines_plans_are_ignored_and_lists_are_read(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    path.write_text(json.dumps([json.loads(make_plan(pipeline="other").model_dump_json())]))
    assert stage_settings(path, **WHO).source == "default"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not a valid plan"),
        ('{"pipeline": "demo"}', "not a valid plan"),
        ('{"pipelines": {"demo": {}}}', "not a valid plan cache"),
        (make_plan(otel={"signals": "logs,profiles"}).model_dump_json(), "unknown signals"),
        (make_plan(otel={"trace_sampling": "2"}).model_dump_json(), "invalid telemetry"),
    ],
)
def test_a_broken_plan_fails_with_the_file_named(tmp_path: Path, content: str,
                                                 needle: str) -> None:
    path = tmp_path / "active-plan.json"
    path.write_text(content)
    with pytest.raises(PlanStoreError, match=needle) as err:
        stage_settings(path, **WHO)
    assert str(path) in str(err.value)
