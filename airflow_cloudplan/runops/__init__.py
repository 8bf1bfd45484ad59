"""RunOps Readiness Composer: the operational artifacts of a plan, generated and versioned.

``compose(plan, inp, out_dir)`` writes OpenTelemetry configurations, SLO burn-rate rules
(with their promtool tests) and OpenSLO documents, audit hooks, IAM policies, Airflow
settings and runbooks, plus a manifest hashing each file under the plan version.
"""

from airflow_cloudplan.runops.airflow_config import airflow_settings
from airflow_cloudplan.runops.audit import apply_audit_hooks, audit_spec, probe_object_lock
from airflow_cloudplan.runops.base import Artifact, Emitter
from airflow_cloudplan.runops.compose import compose, default_emitters, render
from airflow_cloudplan.runops.context import ComposeContext, plan_version_of
from airflow_cloudplan.runops.manifest import Manifest, verify_manifest
from airflow_cloudplan.runops.otel import check_collector_config
from airflow_cloudplan.runops.settings import (
    BurnRatePolicy,
    BurnWindow,
    ExecutorRule,
    RunOpsSettings,
)

__all__ = [
    "Artifact",
    "BurnRatePolicy",
    "BurnWindow",
    "ComposeContext",
    "Emitter",
    "ExecutorRule",
    "Manifest",
    "RunOpsSettings",
    "airflow_settings",
    "apply_audit_hooks",
    "audit_spec",
    "check_collector_config",
    "compose",
    "default_emitters",
    "plan_version_of",
    "probe_object_lock",
    "render",
    "verify_manifest",
]
