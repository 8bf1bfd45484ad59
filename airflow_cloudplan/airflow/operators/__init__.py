"""Stage operators: run each stage of an existing DAG instrumented, audited and measured.

Three ways to adopt them (docs/operators.md):

* **wrap an operator you have** — :func:`as_stage` (in place; the task keeps its id,
  group, edges, trigger rule, templates, callbacks, …);
* **wrap a callable** — :class:`StageOperator` or a per-kind operator
  (:class:`TransformOperator`, …) with ``python_callable=``;
* **decorate a TaskFlow function** — ``@task.stage(...)`` / :func:`stage_task`.

Importing this package costs only Airflow's SDK (already loaded by any DAG file) and
pydantic models; boto3, pandas, the OTel SDK and Great Expectations are imported when a
stage runs, and only if it needs them.
"""

from airflow_cloudplan.airflow.operators.base import StageOperator
from airflow_cloudplan.airflow.operators.decorator import StageDecoratedOperator, stage_task
from airflow_cloudplan.airflow.operators.stages import (
    BatchInferenceOperator,
    FeaturesOperator,
    IngestOperator,
    MonitorOperator,
    ServeOperator,
    TrainOperator,
    TransformOperator,
    ValidateOperator,
)
from airflow_cloudplan.airflow.operators.wrap import StagedOperator, as_stage, is_stage
from airflow_cloudplan.model.workload import STAGE_METRICS_XCOM_KEY

__all__ = [
    "STAGE_METRICS_XCOM_KEY",
    "BatchInferenceOperator",
    "FeaturesOperator",
    "IngestOperator",
    "MonitorOperator",
    "ServeOperator",
    "StageDecoratedOperator",
    "StageOperator",
    "StagedOperator",
    "TrainOperator",
    "TransformOperator",
    "ValidateOperator",
    "as_stage",
    "is_stage",
    "stage_task",
]
