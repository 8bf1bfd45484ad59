"""Dynamic task mapping: classic ``.partial().expand()``, TaskFlow ``.expand`` and a map over
an upstream's XCom, plus a reduce step."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task


@task
def files() -> list[str]:
    return ["a.csv", "b.csv", "c.csv"]


@task
def size(name: str, factor: int) -> int:
    return len(name) * factor


@task
def total(sizes: list[int]) -> int:
    return sum(sizes)


with DAG("layout_mapping", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    names = files()
    echo = BashOperator.partial(task_id="echo", do_xcom_push=True).expand(
        bash_command=["echo one", "echo two"])
    sizes = size.partial(factor=10).expand(name=names)
    total(sizes) << echo
