"""Nested task groups with the same task names in different groups (``@dag`` style)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import TaskGroup, dag, task


@task
def extract(source: str) -> str:
    return f"rows from {source}"


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def layout_nested_groups() -> None:
    start = EmptyOperator(task_id="start")
    with TaskGroup("section_1", tooltip="first section") as section_1:
        for source in ("orders", "users"):
            with TaskGroup(f"from_{source}"):
                got = extract.override(task_id="extract")(source)
                BashOperator(task_id="load", bash_command=f"echo load {source} {{{{ ds }}}}") << got
    with TaskGroup("section_2") as section_2:
        task_1 = BashOperator(task_id="task_1", bash_command="echo 1")
        with TaskGroup("inner_section_2") as inner:
            task_2 = BashOperator(task_id="task_2", bash_command="echo inner 2")
            task_3 = EmptyOperator(task_id="task_3")
            task_2 >> task_3
        task_1 >> inner
    end = EmptyOperator(task_id="end", trigger_rule="all_done")
    start >> section_1 >> section_2 >> end


layout_nested_groups()
