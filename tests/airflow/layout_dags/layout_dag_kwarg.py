"""``dag = DAG(...)`` with every task attached by ``dag=dag`` (no ``with`` block)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator
from airflow.sdk import DAG


def count_rows(ds: str, rows: int, ti=None) -> dict[str, object]:
    return {"day": ds, "rows": rows, "task": ti.task_id}


dag = DAG(
    "layout_dag_kwarg",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    default_args={"retries": 0, "owner": "data-eng"},
    doc_md="A DAG whose tasks are attached with `dag=dag`.",
)

start = EmptyOperator(task_id="start", dag=dag)
export = BashOperator(
    task_id="export",
    bash_command="echo exported {{ ds }} {{ params.table }}",
    params={"table": "events"},
    doc_md="Export the day's events.",
    dag=dag,
)
rows = PythonOperator(
    task_id="count_rows",
    python_callable=count_rows,
    op_kwargs={"rows": 42},
    dag=dag,
)
gate = ShortCircuitOperator(
    task_id="only_weekdays",
    python_callable=lambda: False,
    ignore_downstream_trigger_rules=False,
    dag=dag,
)
publish = BashOperator(task_id="publish", bash_command="echo publish", dag=dag)
done = EmptyOperator(task_id="done", trigger_rule="none_failed", dag=dag)

start >> export >> rows >> gate >> publish >> done
