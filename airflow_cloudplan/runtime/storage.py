"""Object storage under one interface: the local filesystem, S3 (boto3) and fsspec.

URIs are ``s3://bucket/key``, ``file:///abs/path``, a plain path, or any scheme
:mod:`airflow_cloudplan.runtime.schemes` serves through fsspec (``gs://``, ``abfs://``).
The data-access layer only ever deals in whole objects (get/put/list/stat), which is what
every store does well. ``put`` returns the location actually written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from airflow_cloudplan.runtime.schemes import (
    LOCAL_SCHEMES,
    FsspecStore,
    UnsupportedSchemeError,
    scheme_of,
    uri_problem,
    written_local_uri,
)


class ObjectStore(Protocol):
    """What the data-access layer needs from a store."""

    def get(self, uri: str) -> bytes:
        """The object's bytes (``FileNotFoundError`` when absent)."""

    def put(self, uri: str, data: bytes) -> str:
        """Create or replace the object; returns the URI actually written."""

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of the objects under a prefix, sorted."""

    def age_s(self, uri: str) -> float | None:
        """Seconds since the object was last written, ``None`` when absent."""


def join_uri(base: str, key: str) -> str:
    """``base`` + ``/`` + ``key`` without doubling or dropping the separator."""
    if not key:
        return base
    return base.rstrip("/") + "/" + key.lstrip("/")


def is_s3(uri: str) -> bool:
    """True for ``s3://`` URIs."""
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def local_path(uri: str) -> Path:
    """The filesystem path of a ``file://`` URI or plain path."""
    return Path(uri.removeprefix("file://"))


def is_local(uri: str) -> bool:
    """True for plain paths and ``file://`` URIs."""
    return scheme_of(uri) in LOCAL_SCHEMES


class LocalStore:
    """The local filesystem; writes go to a temp file then ``os.replace`` (atomic)."""

    def get(self, uri: str) -> bytes:
        """Read a whole file."""
        return local_path(uri).read_bytes()

    def put(self, uri: str, data: bytes) -> str:
        """Write atomically so readers never see half an object; returns the absolute URI."""
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return written_local_uri(uri)

    def list(self, prefix_uri: str) -> list[str]:
        """Files under a directory prefix (hidden temp files excluded)."""
        root = local_path(prefix_uri)
        if not root.exists():
            return []
        if root.is_file():
            return [str(root)]
        return sorted(
            str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def age_s(self, uri: str) -> float | None:
        """Seconds since the file's mtime."""
        try:
            return max(0.0, time.time() - local_path(uri).stat().st_mtime)
        except FileNotFoundError:
            return None


class S3Store:
    """S3 through one boto3 client, built lazily from the stage's credentials."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The boto3 S3 client (created on first use, so local-only stages never build one)."""
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def get(self, uri: str) -> bytes:
        """GetObject; a missing key raises ``FileNotFoundError`` like the local store."""
        bucket, key = split_s3(uri)
        try:
            body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(uri) from exc
        return body

    def put(self, uri: str, data: bytes) -> str:
        """PutObject; returns the URI written."""
        bucket, key = split_s3(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return f"s3://{bucket}/{key}"

    def list(self, prefix_uri: str) -> list[str]:
        """ListObjectsV2 over every page."""
        bucket, prefix = split_s3(prefix_uri)
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            out.extend(f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", []))
        return sorted(out)

    def age_s(self, uri: str) -> float | None:
        """HeadObject's LastModified age."""
        from botocore.exceptions import ClientError

        bucket, key = split_s3(uri)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        modified: float = head["LastModified"].timestamp()
        return max(0.0, time.time() - modified)


class StoreRouter:
    """Picks the store for a URI by its scheme; remote stores are created on first use."""

    def __init__(self, s3_client_factory: Callable[[], Any] | None = None) -> None:
        self.local = LocalStore()
        self._s3_factory = s3_client_factory
        self._s3: S3Store | None = None
        self._fsspec: dict[str, FsspecStore] = {}

    def for_uri(self, uri: str) -> ObjectStore:
        """The store that serves this URI; an unsupported scheme is refused, never guessed."""
        scheme = scheme_of(uri)
        if scheme in LOCAL_SCHEMES:
            return self.local
        if scheme != "s3":
            problem = uri_problem(uri, dataset=uri, where="uri")
            if problem is not None:
                raise UnsupportedSchemeError(f"no store serves {uri!r}", [problem])
            if scheme not in self._fsspec:
                self._fsspec[scheme] = FsspecStore(scheme)
            return self._fsspec[scheme]
        if self._s3 is None:

            def default_factory() -> Any:
                import boto3

                return boto3.client("s3")

            self._s3 = S3Store(self._s3_factory or default_factory)
        return self._s3
