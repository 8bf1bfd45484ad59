"""S3 plan store backend (production): conditional writes make every update atomic.

``write_new`` uses ``If-None-Match: *``; the active pointer is swapped with ``If-Match``
on the ETag read just before (or ``If-None-Match`` when there is none); logs are one
object per line under ``<key>/`` so nothing is ever rewritten.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from airflow_cloudplan.store.base import BlobBackend


class S3Backend(BlobBackend):
    """Stores objects below ``s3://bucket/prefix``."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client

    @property
    def uri(self) -> str:
        """The s3:// URI of the store."""
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _get(self, key: str) -> tuple[bytes, str] | None:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return obj["Body"].read(), obj["ETag"]

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None."""
        got = self._get(key)
        return got[0] if got else None

    def _conditional_put(self, key: str, data: bytes, **condition: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"PreconditionFailed", "ConditionalRequestConflict", "412"}:
                return False
            raise
        return True

    def write_new(self, key: str, data: bytes) -> bool:
        """Create the object unless it exists (If-None-Match)."""
        return self._conditional_put(key, data, IfNoneMatch="*")

    def compare_and_swap(self, key: str, expected: bytes | None, data: bytes) -> bool:
        """Swap iff the current bytes are ``expected`` (ETag-conditional put)."""
        got = self._get(key)
        if (got[0] if got else None) != expected:
            return False
        if got is None:
            return self._conditional_put(key, data, IfNoneMatch="*")
        return self._conditional_put(key, data, IfMatch=got[1])

    def append(self, key: str, line: bytes) -> None:
        """Write the line as a new, time-ordered object under ``key/``."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.write_new(f"{key}/{stamp}-{uuid.uuid4().hex[:8]}", line)

    def read_log(self, key: str) -> bytes:
        """All lines of a log, in time order."""
        return b"".join(self.read(k) or b"" for k in sorted(self.list(key + "/")))

    def list(self, prefix: str) -> Iterator[str]:
        """Keys below ``prefix``, relative to the store prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]
