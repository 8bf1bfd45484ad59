"""Pending reviews of a plan version: the ``review`` tasks of ``cloudplan_replan`` that wait.

The review page links a version to the approval step where a person decides. The api-server
(where this app runs) has the metadata DB; the lookup reads Airflow's human-in-the-loop
table (``hitl_detail``) joined to its task instance, read-only, and matches the approval
body, which names every proposed version by its 12-digit prefix (see
``airflow_cloudplan.replan.summary_markdown``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

PLANNER_DAG_ID = "cloudplan_replan"
REVIEW_TASK_ID = "review"


@dataclass(frozen=True)
class PendingReview:
    """One approval step waiting for a person."""

    run_id: str
    map_index: int
    subject: str

    def path(self) -> str:
        """The Airflow UI path of the step's "required actions" view."""
        from urllib.parse import quote

        mi = f"/mapped/{self.map_index}" if self.map_index >= 0 else ""
        return (f"/dags/{PLANNER_DAG_ID}/runs/{quote(self.run_id, safe='')}/tasks/"
                f"{REVIEW_TASK_ID}{mi}/required_actions")


def pending_reviews(version: str) -> list[PendingReview] | None:
    """Unanswered review steps proposing ``version``; None when the DB cannot be read."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    query = (
        select(TaskInstance.run_id, TaskInstance.map_index, HITLDetail.subject,
               HITLDetail.body)
        .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
        .where(TaskInstance.dag_id == PLANNER_DAG_ID, TaskInstance.task_id == REVIEW_TASK_ID,
               HITLDetail.responded_at.is_(None))
        .order_by(TaskInstance.run_id)
    )
    try:
        with create_session() as session:
            rows = session.execute(query).all()
    except SQLAlchemyError as exc:  # the page still works without the link
        log.warning("cloudplan UI: cannot look up pending reviews: %s", exc)
        return None
    return [PendingReview(run_id=r.run_id, map_index=r.map_index, subject=r.subject)
            for r in rows if version[:12] in (r.body or "")]
