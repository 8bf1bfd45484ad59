"""The nightly planning DAG as a factory: no file to copy into your DAGs folder.

A DAG file of two lines gives a deployment the planning DAG, with the schedule, id and
review timeout it wants::

    from airflow_cloudplan.airflow.dags import replan_dag

    replan_dag()                                   # cloudplan_replan at 02:00, as shipped
    # replan_dag(dag_id="cloudplan_replan_eu", schedule="0 3 * * 1-5")

profile (metadata DB over SQL) → plan (candidates, gates, exact Pareto frontier,
recommendation, baselines, RunOps artifacts, plan store) → review (Airflow's
human-in-the-loop ApprovalOperator) → apply (pools, active plan, cluster policy) and
verify. A rejected review skips apply and is recorded; nothing changes.

Importing this module costs what a DAG file pays anyway (``airflow.sdk`` and the HITL
operator); every task imports its work inside the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

DAG_ID = "cloudplan_replan"
REVIEW_TIMEOUT = timedelta(hours=20)


def replan_dag(dag_id: str = DAG_ID, *, schedule: Any = "0 2 * * *",
               start_date: datetime = datetime(2026, 1, 1),
               review_timeout: timedelta = REVIEW_TIMEOUT,
               tags: Sequence[str] = ("cloudplan",),
               default_args: Mapping[str, Any] | None = None,
               **dag_kwargs: Any) -> Any:
    """Build (and register, when called in a DAG file) the planning DAG.

    ``schedule`` is any Airflow schedule (cron, timetable, ``None`` for manual runs);
    ``review_timeout`` bounds how long a review waits for a person; ``dag_kwargs`` go to
    the DAG (e.g. ``doc_md``, ``owner_links``). One run at a time, no catch-up: a missed
    night is re-planned by the next one. The review step's task id is ``review``: the
    review UI links to it. Returns the DAG.
    """
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import dag, get_current_context, task

    @dag(dag_id=dag_id, schedule=schedule, start_date=start_date,
         catchup=dag_kwargs.pop("catchup", False),
         max_active_runs=dag_kwargs.pop("max_active_runs", 1), tags=list(tags),
         doc_md=dag_kwargs.pop("doc_md", __doc__),
         default_args={"retries": 0, **(default_args or {})}, **dag_kwargs)
    def cloudplan_replan() -> None:
        @task
        def profile() -> str | None:
            from airflow_cloudplan.airflow.replan_tasks import profile_history

            return profile_history(get_current_context()["run_id"])

        @task
        def plan(profiles_path: str | None) -> list[dict[str, Any]]:
            from airflow_cloudplan.airflow.replan_tasks import plan_all

            return plan_all(profiles_path)

        @task.short_circuit
        def anything_to_review(proposals: list[dict[str, Any]]) -> bool:
            return any(p["proposed"] for p in proposals)

        @task
        def summary(proposals: list[dict[str, Any]]) -> str:
            from airflow_cloudplan.airflow.replan_tasks import review_text

            return review_text(proposals)

        review = ApprovalOperator(
            task_id="review",
            subject="cloudplan: apply the new deployment plan(s)?",
            body="{{ ti.xcom_pull(task_ids='summary') }}",
            response_timeout=review_timeout,
        )

        @task
        def apply(proposals: list[dict[str, Any]]) -> list[dict[str, Any]]:
            from airflow_cloudplan.airflow.replan_tasks import apply_proposals

            return apply_proposals(proposals, actor=f"{dag_id} review")

        @task(trigger_rule="all_done")
        def record_rejection(proposals: list[dict[str, Any]]) -> None:
            # A rejection skips the review's direct downstream (apply) and pushes no
            # return value; what it leaves is the skip list under SkipMixin's XCom key.
            skipped = get_current_context()["ti"].xcom_pull(task_ids="review",
                                                            key="skipmixin_key") or {}
            if "apply" in (skipped.get("skipped") or ()):
                from airflow_cloudplan.airflow.replan_tasks import record_rejection as record

                record(proposals, actor="reviewer in the Airflow UI")

        # Called in the DAG, the tasks return XCom references (typed loosely here).
        profiled: Any = profile()
        proposals: Any = plan(profiled)
        text: Any = summary(proposals)
        anything_to_review(proposals) >> text >> review
        review >> apply(proposals) >> record_rejection(proposals)

    return cloudplan_replan()
