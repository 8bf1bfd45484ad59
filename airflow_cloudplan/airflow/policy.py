"""Cluster policy registered through the ``airflow.policy`` entry point.

At DAG-parse time it reads the active plan from a local cached file (never the DB or the
network) and rewrites the tasks the plan manages. Tasks not named by a plan are untouched.
"""

from __future__ import annotations
