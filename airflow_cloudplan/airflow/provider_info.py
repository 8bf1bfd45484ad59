"""Provider metadata read by Airflow's ``ProvidersManager`` (``apache_airflow_provider``).

``CONFIG_OPTIONS`` is the single list of ``[cloudplan]`` options: it declares them to
Airflow here, gives :mod:`airflow_cloudplan.airflow.settings` its defaults, and is the
source of the option table in docs/airflow.md (a test fails when they disagree).
``CONNECTION_TYPES`` declares the two connection types and their forms in the UI (hooks in
:mod:`airflow_cloudplan.airflow.connections`).
"""

from __future__ import annotations

from typing import Any

# name, type, default, example, description
CONFIG_OPTIONS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("plan_store", "string", "cloudplan/plans", "s3://my-bucket/cloudplan",
     "Where plan versions, their artifacts, history and the active pointers live: a local "
     "directory (relative paths are under AIRFLOW_HOME) or s3://bucket/prefix. The CLI "
     "(cloudplan plans/apply/rollback) reads it too."),
    ("plan_cache", "string", "cloudplan/active-plan.json", None,
     "Local file the cluster policy reads at DAG-parse time, written by apply and "
     "rollback. Every process that parses DAGs (DAG processors, workers) must see it: a "
     "shared volume, or baked in by your deploy step."),
    ("specs", "string", "cloudplan/specs", "/opt/airflow/cloudplan/specs",
     "A pipeline spec YAML file, or a directory of *.yaml specs, re-planned nightly."),
    ("metadb_conn_id", "string", "cloudplan_metadb", None,
     "Connection the profiler reads the metadata DB through (read-only SQL; the ORM is "
     "blocked inside tasks). Without it, plans use the declared specs only."),
    ("api_conn_id", "string", "cloudplan_api", None,
     "Connection with the service credential apply uses for the REST API (pools, "
     "re-parse, verification)."),
    ("audit_store", "string", "cloudplan/audit.jsonl", "s3://audit-bucket/cloudplan",
     "Append-only audit store for data-plane access records: a local JSONL file or "
     "s3://bucket/prefix (an Object Lock bucket)."),
    ("data_root", "string", "cloudplan/data", None,
     "Root of the datasets of the embedded default: file:// and plain paths in a spec "
     "resolve under it (CLOUDPLAN_DATA_ROOT overrides it)."),
    ("cache_root", "string", "cloudplan/cache", None,
     "Where the regional-cache access strategy keeps its local copies "
     "(<cache_root>/<region>/<dataset>)."),
    ("replica_root", "string", "cloudplan/replicas", None,
     "Where the selective-replication access strategy keeps its local replicas "
     "(<replica_root>/<region>/<dataset>)."),
    ("hysteresis", "float", "0.02", None,
     "Minimum weighted relative improvement over the active plan before a new plan is "
     "proposed for review (avoids flapping)."),
    ("solver", "string", "cbc", "highs",
     "MILP solver: cbc (bundled with PuLP) or highs (extra 'highs')."),
    ("time_limit_s", "float", "120", None,
     "Time limit of each MILP solve in seconds; a solve that hits it is reported as not "
     "proven optimal."),
    ("frontier_max_points", "integer", "40", None,
     "Stop the Pareto search after this many frontier points; the plan then says the "
     "frontier may have more."),
    ("frontier_time_s", "float", "300", None,
     "Wall-time budget of the whole Pareto search per pipeline, in seconds."),
    ("profile_window_days", "integer", "30", None, "How many days of run history to profile."),
)


def options_markdown() -> str:
    """The ``[cloudplan]`` option table of docs/airflow.md, generated from CONFIG_OPTIONS."""
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for name, kind, default, example, text in CONFIG_OPTIONS:
        eg = f" Example: `{example}`." if example else ""
        rows.append(f"| `{name}` | {kind} | `{default}` | {text}{eg} |")
    return "\n".join(rows)


METADB_TYPE = "cloudplan_metadb"
API_TYPE = "cloudplan_api"

CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": METADB_TYPE,
        "hook-class-name": "airflow_cloudplan.airflow.connections.CloudplanMetadbHook",
        "hook-name": "Cloudplan metadata DB (read-only)",
        "ui-field-behaviour": {
            "hidden-fields": [],
            "relabeling": {"host": "Database host (or SQLite file)", "schema": "Database",
                           "login": "Read-only user", "password": "Password"},
            "placeholders": {
                "host": "metadb.internal",
                "port": "5432",
                "schema": "airflow",
                "login": "cloudplan_ro",
                "description": "read-only access to the Airflow metadata DB for profiling",
            },
        },
        "conn-fields": {
            "dialect": {
                "label": "Database kind",
                "description": "postgresql, mysql or sqlite (for SQLite the host is the "
                               "database file)",
                "schema": {"type": "string", "enum": ["postgresql", "mysql", "sqlite"],
                           "default": "postgresql"},
            },
            "url": {
                "label": "SQLAlchemy URL (optional)",
                "description": "a full URL instead of the fields above, e.g. "
                               "postgresql+psycopg2://cloudplan_ro:***@metadb:5432/airflow",
                "schema": {"type": "string", "format": "password"},
            },
        },
    },
    {
        "connection-type": API_TYPE,
        "hook-class-name": "airflow_cloudplan.airflow.connections.CloudplanApiHook",
        "hook-name": "Cloudplan Airflow API (service credential)",
        "ui-field-behaviour": {
            "hidden-fields": ["extra"],
            "relabeling": {"host": "API server host", "schema": "Scheme (http or https)",
                           "login": "Service user", "password": "Password"},
            "placeholders": {
                "host": "airflow-api.internal",
                "port": "8080",
                "schema": "https",
                "login": "cloudplan-svc",
                "description": "pool write and DAG read/re-parse for cloudplan apply",
            },
        },
    },
]
"""What ``get_provider_info()["connection-types"]`` declares."""


def get_provider_info() -> dict[str, Any]:
    """Describe the distribution, its ``[cloudplan]`` section, connections and ``@task.stage``."""
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
        "connection-types": CONNECTION_TYPES,
        "task-decorators": [
            {"name": "stage",
             "class-name": "airflow_cloudplan.airflow.operators.decorator.stage_task"},
        ],
    }
