"""Nightly re-planning of every pipeline spec, with human review before apply.

profile (metadata DB over SQL) → plan (candidates, gates, exact Pareto frontier,
recommendation, baselines, RunOps artifacts, plan store) → review (Airflow's
human-in-the-loop ApprovalOperator) → apply (pools, active plan, cluster policy) and
verify. A rejected review skips apply and is recorded; nothing changes.

The file imports nothing heavy: all work happens inside the tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag, get_current_context, task


@dag(
    dag_id="cloudplan_replan",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cloudplan"],
    doc_md=__doc__,
    default_args={"retries": 0},
)
def cloudplan_replan() -> None:
    """Re-plan all pipelines nightly; apply after approval."""

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
        response_timeout=timedelta(hours=20),
    )

    @task
    def apply(proposals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from airflow_cloudplan.airflow.replan_tasks import apply_proposals

        return apply_proposals(proposals, actor="cloudplan_replan review")

    @task(trigger_rule="all_done")
    def record_rejection(proposals: list[dict[str, Any]]) -> None:
        # A rejection skips the review's direct downstream (apply) and pushes no return
        # value; what it leaves is the skip list under SkipMixin's XCom key.
        skipped = get_current_context()["ti"].xcom_pull(task_ids="review",
                                                        key="skipmixin_key") or {}
        if "apply" in (skipped.get("skipped") or ()):
            from airflow_cloudplan.airflow.replan_tasks import record_rejection as record

            record(proposals, actor="reviewer in the Airflow UI")

    proposals = plan(profile())
    text = summary(proposals)
    anything_to_review(proposals) >> text >> review
    review >> apply(proposals) >> record_rejection(proposals)


cloudplan_replan()
