"""Append-only audit records of data-plane access.

Every read, write or list of a dataset by a stage — and every refused attempt — becomes
one :class:`AuditRecord`. Two stores:

* :class:`JsonlAuditStore` (the embedded default): one JSON object per line, appended
  under an exclusive ``flock`` with ``O_APPEND`` and ``fsync`` before returning, so a
  record that was acknowledged survives a crash and concurrent tasks never interleave.
* :class:`S3AuditStore` (``s3://bucket/prefix``): one object per record under a unique
  key, written with ``If-None-Match: *`` so nothing is ever overwritten, in a bucket that
  must have S3 Object Lock enabled (checked once; retention comes from the bucket's
  default or from ``retention_days``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from airflow_cloudplan.errors import CloudplanError, Problem
from airflow_cloudplan.model.catalog import Frozen


class AuditStoreError(CloudplanError):
    """The audit store cannot take records (unwritable file, bucket without Object Lock)."""


class AccessAction(StrEnum):
    """What a stage did to a dataset."""

    READ = "read"
    WRITE = "write"
    LIST = "list"


class AccessOutcome(StrEnum):
    """Whether the access went ahead."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    FAILED = "failed"


class AuditRecord(Frozen):
    """One data-plane access: who touched what, when, from which stage run."""

    record_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    pipeline: str
    stage: str
    dag_id: str
    task_id: str
    run_id: str
    try_number: int = 1
    identity: str
    action: AccessAction
    dataset: str
    target: str = Field(pattern="^(object|prefix)$")
    uri: str
    via: str = Field(default="primary", description="primary, cache or replica")
    outcome: AccessOutcome = AccessOutcome.ALLOWED
    bytes: int = Field(default=0, ge=0)
    reason: str | None = None


class AuditStore(Protocol):
    """Where audit records go; ``append`` returns only once the record is durable."""

    def append(self, record: AuditRecord) -> None:
        """Durably store one record."""


class JsonlAuditStore:
    """Local append-only JSON-lines file (fsync per record)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: AuditRecord) -> None:
        """Append one line under an exclusive lock and fsync it."""
        import fcntl

        line = (record.model_dump_json() + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise AuditStoreError(
                "cannot open the audit log",
                [Problem(message=str(exc), file=str(self.path),
                         hint="make the directory writable or set [cloudplan] audit_store")],
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[AuditRecord]:
        """Every record in the file, oldest first (for tests and audits)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [AuditRecord.model_validate_json(line) for line in fh if line.strip()]


class S3AuditStore:
    """One immutable object per record in an Object Lock bucket."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client_factory: Callable[[], Any],
        retention_days: int | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client_factory = client_factory
        self._client: Any = None
        self.retention_days = retention_days

    def _ready_client(self) -> Any:
        if self._client is None:
            client = self._client_factory()
            try:
                cfg = client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
            except Exception as exc:  # botocore ClientError: no lock configuration, no bucket
                enabled = None
                detail = str(exc)
            else:
                detail = f"ObjectLockEnabled={enabled!r}"
            if enabled != "Enabled":
                raise AuditStoreError(
                    "the S3 audit store must be an Object Lock bucket",
                    [Problem(message=f"bucket {self.bucket!r}: {detail}",
                             path="[cloudplan] audit_store",
                             hint="create the bucket with Object Lock enabled "
                             "(--object-lock-enabled-for-bucket) and a default retention")],
                )
            self._client = client
        return self._client

    def key_for(self, record: AuditRecord) -> str:
        """``prefix/YYYY/MM/DD/<timestamp>-<record id>.json``: unique and time-ordered."""
        ts = record.timestamp
        name = f"{ts:%Y/%m/%d}/{ts:%Y%m%dT%H%M%S%fZ}-{record.record_id}.json"
        return f"{self.prefix}/{name}" if self.prefix else name

    def append(self, record: AuditRecord) -> None:
        """Put the record as a new object; refuse to overwrite an existing key."""
        client = self._ready_client()
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key_for(record),
            "Body": record.model_dump_json().encode("utf-8"),
            "ContentType": "application/json",
            "IfNoneMatch": "*",
        }
        if self.retention_days:
            kwargs["ObjectLockMode"] = "COMPLIANCE"
            kwargs["ObjectLockRetainUntilDate"] = record.timestamp + timedelta(
                days=self.retention_days
            )
        client.put_object(**kwargs)

    def records(self) -> list[AuditRecord]:
        """Every record under the prefix, in key (time) order."""
        client = self._ready_client()
        out: list[AuditRecord] = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                body = client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                out.append(AuditRecord.model_validate_json(body))
        return out


def open_audit_store(
    uri: str, *, s3_client_factory: Callable[[], Any] | None = None
) -> JsonlAuditStore | S3AuditStore:
    """The store named by ``[cloudplan] audit_store``: ``s3://bucket/prefix`` or a path."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise AuditStoreError(
                "the audit store URI names no bucket",
                [Problem(message=f"got {uri!r}", path="[cloudplan] audit_store",
                         hint="use s3://<bucket>/<prefix>")],
            )

        def default_factory() -> Any:
            import boto3

            return boto3.client("s3")

        return S3AuditStore(bucket, prefix, s3_client_factory or default_factory)
    return JsonlAuditStore(Path(uri.removeprefix("file://")))


def summarise(records: list[AuditRecord]) -> dict[str, Any]:
    """Counts by outcome and action (what an auditor looks at first)."""
    by: dict[str, int] = {}
    for r in records:
        k = f"{r.action.value}:{r.outcome.value}"
        by[k] = by.get(k, 0) + 1
    return {"records": len(records), "by_action_outcome": by}
