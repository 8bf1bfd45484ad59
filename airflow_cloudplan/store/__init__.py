"""Versioned, immutable plan store (local directory or S3) and the parse-time cache."""

from __future__ import annotations

from pathlib import Path

from airflow_cloudplan.store.base import (
    ActivePointer,
    HistoryEvent,
    PlanStore,
    VersionInfo,
    canonical_json,
    plan_version,
)


def open_store(uri: str | Path, *, base: str | Path | None = None) -> PlanStore:
    """Open the store at ``uri``: ``s3://bucket/prefix`` or a directory.

    A relative directory is resolved under ``base`` (usually AIRFLOW_HOME).
    """
    text = str(uri)
    if text.startswith("s3://"):
        from airflow_cloudplan.store.s3 import S3Backend

        bucket, _, prefix = text[5:].partition("/")
        return PlanStore(S3Backend(bucket, prefix))
    from airflow_cloudplan.store.local import LocalBackend

    path = Path(text)
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return PlanStore(LocalBackend(path))


__all__ = ["ActivePointer", "HistoryEvent", "PlanStore", "VersionInfo", "canonical_json",
           "open_store", "plan_version"]
