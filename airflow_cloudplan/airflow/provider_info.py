"""Provider metadata read by Airflow's ``ProvidersManager`` (``apache_airflow_provider``).

``CONFIG_OPTIONS`` is the single list of ``[cloudplan]`` options: it declares them to
Airflow here and gives :mod:`airflow_cloudplan.airflow.settings` its defaults.
"""

from __future__ import annotations

from typing import Any

# name, type, default, example, description
CONFIG_OPTIONS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("plan_store", "string", "cloudplan/plans", "s3://my-bucket/cloudplan",
     "Where plan versions and the active-plan pointers live: a local directory (relative "
     "paths are under AIRFLOW_HOME) or s3://bucket/prefix."),
    ("plan_cache", "string", "cloudplan/active-plan.json", None,
     "Local file the cluster policy reads at DAG-parse time, written by apply. Every "
     "process that parses DAGs (DAG processor, workers) must see it."),
    ("specs", "string", "cloudplan/specs", "/opt/airflow/cloudplan/specs",
     "A pipeline spec YAML file, or a directory of them, re-planned nightly."),
    ("metadb_conn_id", "string", "cloudplan_metadb", None,
     "Connection the profiler uses to read the metadata DB (read-only SQL; the ORM is "
     "blocked inside tasks). Without it, plans use the declared specs only."),
    ("api_conn_id", "string", "cloudplan_api", None,
     "Connection with the service credential apply uses for the REST API (pools, "
     "re-parse, verification)."),
    ("audit_store", "string", "cloudplan/audit.jsonl", "s3://audit-bucket/cloudplan",
     "Append-only audit store for data-plane access records: a local JSONL file or "
     "s3://bucket/prefix (an Object Lock bucket)."),
    ("data_root", "string", "cloudplan/data", None,
     "Root of local datasets for the embedded default (file:// and plain paths)."),
    ("cache_root", "string", "cloudplan/cache", None,
     "Where the regional-cache access strategy keeps local copies."),
    ("replica_root", "string", "cloudplan/replicas", None,
     "Where the selective-replication access strategy keeps local replicas."),
    ("hysteresis", "float", "0.02", None,
     "Minimum weighted relative improvement over the active plan before a new plan is "
     "proposed for review (avoids flapping)."),
    ("solver", "string", "cbc", "highs", "MILP solver: cbc (bundled with PuLP) or highs."),
    ("time_limit_s", "float", "120", None,
     "Time limit per MILP solve; points not proven optimal are flagged in the plan."),
    ("frontier_max_points", "integer", "40", None,
     "Stop the Pareto search after this many frontier points (the plan says when the "
     "frontier is incomplete)."),
    ("frontier_time_s", "float", "300", None,
     "Wall-time budget of the whole Pareto search per pipeline."),
    ("profile_window_days", "integer", "30", None, "How many days of history to profile."),
)


def get_provider_info() -> dict[str, Any]:
    """Describe the distribution and its ``[cloudplan]`` configuration section."""
    from airflow_cloudplan import __version__

    options = {
        name: {"description": text, "version_added": "0.1.0", "type": kind,
               "example": example, "default": default}
        for name, kind, default, example, text in CONFIG_OPTIONS
    }
    return {
        "package-name": "airflow-cloudplan",
        "name": "Cloudplan",
        "description": (
            "Plans, gates and instruments cloud deployments of Airflow data/AI pipelines."
        ),
        "versions": [__version__],
        "config": {"cloudplan": {"description": "Settings of the airflow_cloudplan plugin.",
                                 "options": options}},
        "connection-types": [],
    }
