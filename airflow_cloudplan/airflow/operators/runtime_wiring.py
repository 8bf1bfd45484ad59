"""Turn Airflow's world (config, connections, context) into the core's plain objects.

Kept apart from the operator classes so the operators module stays cheap to import: this
module is imported only inside ``execute``.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_cloudplan.airflow.hooks import StageCredentialsHook
from airflow_cloudplan.airflow.settings import location_option
from airflow_cloudplan.model.plan import PlanResult
from airflow_cloudplan.runtime.access import AccessPlan, DataAccess, RunRef
from airflow_cloudplan.runtime.active_plan import (
    StageRuntimeSettings,
    stage_settings,
    with_task_otel,
)
from airflow_cloudplan.runtime.audit import open_audit_store
from airflow_cloudplan.runtime.declaration import StageDeclaration
from airflow_cloudplan.runtime.storage import StoreRouter, is_s3

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_cloudplan.airflow.operators.spec import StageSpec


@dataclass(frozen=True)
class StageWiring:
    """Everything ``run_stage`` needs that comes from Airflow."""

    settings: StageRuntimeSettings
    data: DataAccess


_plans_by_version: dict[str, PlanResult] = {}


def load_stored_plan(version: str) -> PlanResult:
    """The full plan of an active version, from ``[cloudplan] plan_store`` (memoised)."""
    if version not in _plans_by_version:
        from airflow_cloudplan.store import open_store

        store_uri = location_option("plan_store")
        _plans_by_version[version] = open_store(store_uri).get(version)
    return _plans_by_version[version]


def _run_ref(context: Context, task_id: str, dag_id: str) -> RunRef:
    ti: Any = context["ti"]
    return RunRef(
        dag_id=dag_id,
        task_id=task_id,
        run_id=str(getattr(ti, "run_id", None) or context.get("run_id") or "manual"),
        try_number=int(getattr(ti, "try_number", 1) or 1),
    )


def planned_otel(task: Any) -> dict[str, str] | None:
    """``task.cloudplan_otel`` as the cluster policy set it when the DAG was parsed.

    A mapped task's expanded copy is built from the mapped operator, which is where the
    policy put it.
    """
    otel = getattr(task, "cloudplan_otel", None)
    if otel is None and getattr(task, "dag", None) is not None:
        origin = task.dag.task_dict.get(task.task_id)
        otel = getattr(origin, "cloudplan_otel", None)
    return dict(otel) if otel else None


def stage_runtime(task: Any, spec: StageSpec, decl: StageDeclaration, context: Context,
                  aws_conn_id: str) -> StageWiring:
    """Read the active plan, open the audit store, build the stage's data-access layer."""
    dag_id = task.dag_id
    plan_cache = location_option("plan_cache")
    cache_file = plan_cache if isinstance(plan_cache, Path) else None
    settings = stage_settings(
        cache_file, pipeline=decl.pipeline, stage=decl.stage, dag_id=dag_id,
        task_id=task.task_id, plan_loader=load_stored_plan,
    )
    otel = planned_otel(task)
    if otel:
        settings = with_task_otel(settings, otel, cache_file or Path("task.cloudplan_otel"))
    # Data access runs as the stage's planned role (the connection's credentials assume it);
    # the audit store is written with the connection's own identity, which the stage role
    # is deliberately not granted.
    hook = StageCredentialsHook(
        aws_conn_id, role_arn=settings.role_arn,
        session_name=f"cloudplan-{decl.pipeline}-{decl.stage}",
    )
    uses_s3 = any(is_s3(d.uri) for d in (*decl.reads, *decl.writes))
    audit_uri = str(location_option("audit_store"))
    audit = open_audit_store(
        audit_uri, s3_client_factory=StageCredentialsHook(aws_conn_id).s3_client_factory())
    identity = spec.identity or (hook.identity() if uses_s3
                                 else f"local:{getpass.getuser()}")
    access = AccessPlan(
        strategy=settings.access,
        region=settings.partition,
        cache_root=str(location_option("cache_root")),
        cache_ttl_s=spec.cache_ttl_s,
        replica_root=str(location_option("replica_root")),
        copies=dict(settings.data_copies),
    )
    data = DataAccess(
        decl,
        _run_ref(context, task.task_id, dag_id),
        identity=identity,
        audit=audit,
        plan=access,
        stores=StoreRouter(hook.s3_client_factory()),
    )
    return StageWiring(settings=settings, data=data)
