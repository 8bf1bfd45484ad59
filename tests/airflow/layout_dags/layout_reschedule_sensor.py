"""A sensor in reschedule mode ahead of the work it guards (it frees its worker slot
between pokes and succeeds on its second poke)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG


def second_poke(task_reschedule_count: int = 0) -> bool:
    return task_reschedule_count >= 1


with DAG("layout_reschedule_sensor", schedule=None, start_date=datetime(2025, 1, 1),
         catchup=False):
    wait = PythonSensor(task_id="wait_for_partition", python_callable=second_poke,
                        mode="reschedule", poke_interval=1, timeout=300)
    work = BashOperator(task_id="work", bash_command="echo partition ready")
    wait >> work
