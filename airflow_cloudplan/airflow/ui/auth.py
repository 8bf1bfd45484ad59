"""Who may read plans: whoever may read the planning DAG's runs.

Airflow mounts plugin apps without any authentication, so every route of the review app
depends on :func:`require_plan_reader`. It resolves the caller with Airflow's own
``get_user`` (the UI's JWT cookie or a bearer token: no credential → 401, invalid → 403)
and asks the configured auth manager whether that user may GET the runs of
``cloudplan_replan`` (plans are that DAG's output, reviewed in its runs) → 403 otherwise.
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import (
    DagAccessEntity,
    DagDetails,
)
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import HTTPException, Request, status

PLANNER_DAG_ID = "cloudplan_replan"


def require_plan_reader(request: Request, user: GetUserDep) -> None:
    """Raise 403 unless the authenticated user may read the planning DAG's runs."""
    from airflow.api_fastapi.app import get_auth_manager

    allowed = get_auth_manager().is_authorized_dag(
        method="GET", access_entity=DagAccessEntity.RUN,
        details=DagDetails(id=PLANNER_DAG_ID), user=user)
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"reading plans needs read access to the runs of {PLANNER_DAG_ID}")
