"""Stage operators: drop them into existing DAGs to run each stage instrumented.

Importing this package costs only Airflow's ``BaseOperator`` (already loaded by any DAG
file) and pydantic models; boto3, pandas, the OTel SDK and Great Expectations are
imported when a stage runs, and only if it needs them.
"""

from airflow_cloudplan.airflow.operators.base import StageOperator
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
from airflow_cloudplan.model.workload import STAGE_METRICS_XCOM_KEY

__all__ = [
    "STAGE_METRICS_XCOM_KEY",
    "BatchInferenceOperator",
    "FeaturesOperator",
    "IngestOperator",
    "MonitorOperator",
    "ServeOperator",
    "StageOperator",
    "TrainOperator",
    "TransformOperator",
    "ValidateOperator",
]
