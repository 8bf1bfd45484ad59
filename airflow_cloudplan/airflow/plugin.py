"""The Airflow plugin object registered through the ``airflow.plugins`` entry point."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class CloudplanPlugin(AirflowPlugin):
    """Registers cloudplan's UI (review of plans) with Airflow."""

    name = "cloudplan"
