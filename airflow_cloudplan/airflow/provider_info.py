"""Provider metadata read by Airflow's ``ProvidersManager`` (``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Describe the distribution, its connection type and its ``[cloudplan]`` config."""
    from airflow_cloudplan import __version__

    return {
        "package-name": "airflow-cloudplan",
        "name": "Cloudplan",
        "description": (
            "Plans, gates and instruments cloud deployments of Airflow data/AI pipelines."
        ),
        "versions": [__version__],
        "config": {
            "cloudplan": {
                "description": "Settings of the airflow_cloudplan plugin.",
                "options": {
                    "plan_store": {
                        "description": (
                            "Where plan versions and the active-plan pointer live: a local "
                            "directory or an s3://bucket/prefix URI. Relative paths are "
                            "resolved under AIRFLOW_HOME."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://my-bucket/cloudplan",
                        "default": "cloudplan/plans",
                    },
                    "plan_cache": {
                        "description": (
                            "Local file the cluster policy reads at DAG-parse time (the "
                            "active plan, copied there on apply). Never a network read."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": "cloudplan/active-plan.json",
                    },
                    "specs": {
                        "description": "Directory (or glob) of pipeline spec YAML files.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/airflow/cloudplan/specs",
                        "default": "cloudplan/specs",
                    },
                    "metadb_conn_id": {
                        "description": (
                            "Airflow connection the profiler uses to read the metadata DB "
                            "(read-only SQL; the ORM is blocked inside tasks)."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": "cloudplan_metadb",
                    },
                    "audit_store": {
                        "description": (
                            "Append-only audit store for data-plane access records: a "
                            "local JSONL path or s3://bucket/prefix (Object Lock bucket)."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://audit-bucket/cloudplan",
                        "default": "cloudplan/audit.jsonl",
                    },
                    "hysteresis": {
                        "description": (
                            "Minimum relative improvement of the weighted objective before "
                            "a new plan is proposed (avoids flapping)."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "0.02",
                    },
                },
            }
        },
        "connection-types": [],
    }
