"""Workload Profiler: run history → stage profiles φ_k, and run-time prediction.

Sources: the Airflow metadata DB over read-only SQL (:func:`profile_metadb`, the main
path), the REST API (:func:`profile_rest`, the fallback when SQL access is not granted),
and trace files (:func:`profile_trace`). All end in the same mergeable statistics
(:mod:`.sketch`) and the same profile builder (:mod:`.build`). Nothing here imports
Airflow; SQLAlchemy is imported only when a database is read.
"""

from airflow_cloudplan.profile.metadb import SUPPORTED_REVISIONS, profile_metadb
from airflow_cloudplan.profile.predictor import Estimate, RuntimePredictor
from airflow_cloudplan.profile.rest import profile_rest
from airflow_cloudplan.profile.state import ProfileState
from airflow_cloudplan.profile.trace import TraceColumns, profile_trace

__all__ = [
    "SUPPORTED_REVISIONS",
    "Estimate",
    "ProfileState",
    "RuntimePredictor",
    "TraceColumns",
    "profile_metadb",
    "profile_rest",
    "profile_trace",
]
