"""Local-directory plan store backend (the embedded default, under AIRFLOW_HOME).

Atomicity: new objects are written to a temporary file and hard-linked into place (the
link fails if the target exists, so create-if-absent is atomic); the active pointer is
replaced with ``os.replace`` under an exclusive ``flock``; logs are appended under the
same lock and fsynced.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_cloudplan.store.base import BlobBackend


class LocalBackend(BlobBackend):
    """Stores objects as files below a root directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def uri(self) -> str:
        """The root directory."""
        return str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key escapes the store: {key}")
        return path

    def read(self, key: str) -> bytes | None:
        """The file's bytes, or None."""
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def _temp_with(self, path: Path, data: bytes) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def write_new(self, key: str, data: bytes) -> bool:
        """Create the file atomically unless it exists."""
        path = self._path(key)
        tmp = self._temp_with(path, data)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock = self._path(key + ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def compare_and_swap(self, key: str, expected: bytes | None, data: bytes) -> bool:
        """Replace the file iff its bytes are ``expected`` (None = must not exist)."""
        path = self._path(key)
        with self._locked(key):
            if self.read(key) != expected:
                return False
            os.replace(self._temp_with(path, data), path)
            return True

    def append(self, key: str, line: bytes) -> None:
        """Append a line under an exclusive lock and fsync it."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(key), open(path, "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def read_log(self, key: str) -> bytes:
        """The whole log file."""
        return self.read(key) or b""

    def list(self, prefix: str) -> Iterator[str]:
        """Files below ``prefix`` (lock and temp files excluded)."""
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return
        root = self.root.resolve()
        for path in sorted(base.rglob("*")):
            name = path.name
            if path.is_file() and not name.endswith(".lock") and not name.startswith(".tmp-"):
                yield path.relative_to(root).as_posix()
