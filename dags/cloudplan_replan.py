"""Nightly re-planning of every pipeline spec, with human review before apply.

The DAG is built by cloudplan's factory (``airflow_cloudplan.airflow.dags.replan_dag``):
a deployment needs only these lines in its DAGs folder, and may pass its own ``dag_id``,
``schedule`` or ``review_timeout``. The file imports nothing heavy: all work happens
inside the tasks.
"""

from airflow_cloudplan.airflow.dags import replan_dag

replan_dag()
