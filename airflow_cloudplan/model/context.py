"""The inputs every planning step shares: what to plan, under which rules, with what facts."""

from __future__ import annotations

from airflow_cloudplan.model.catalog import Catalog, Frozen
from airflow_cloudplan.model.policy import Policy
from airflow_cloudplan.model.workload import Pipeline, ProfileSet, StageProfile


class PlanningInput(Frozen):
    """Pipeline + policy + catalog (+ measured profiles): the input of gates and optimizer."""

    pipeline: Pipeline
    policy: Policy
    catalog: Catalog
    profiles: ProfileSet | None = None

    def profile_of(self, stage_name: str) -> StageProfile | None:
        """The measured profile of a stage, if it is bound to an Airflow task and measured."""
        stage = self.pipeline.stage_by_name[stage_name]
        if self.profiles is None or stage.airflow is None:
            return None
        return self.profiles.for_task(stage.airflow.dag_id, stage.airflow.task_id)
