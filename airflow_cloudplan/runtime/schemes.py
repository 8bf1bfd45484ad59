"""Which URI schemes a stage's datasets may use, and the store that serves each one.

A dataset URI is served by exactly one store, chosen by its scheme — never by guessing:

=========================  ==========================================================
scheme                     served by
=========================  ==========================================================
no scheme (a plain path)   the local filesystem (relative paths: the worker's cwd)
``file://``                the local filesystem
``s3://``                  S3 through boto3, with the stage's AWS connection
``gs://``, ``gcs://``      fsspec + ``gcsfs`` (Google Cloud Storage)
``abfs://``, ``abfss://``,  fsspec + ``adlfs`` (Azure Data Lake Gen2 / Blob Storage)
``az://``
=========================  ==========================================================

plus the object-store scheme of every provider the catalog knows (:data:`PROVIDER_SCHEMES`).
An unknown scheme is a declaration error raised when the DAG is parsed, naming the
dataset and the supported schemes (:func:`uri_problem`). A known fsspec scheme whose
filesystem package is not installed is refused before the stage runs, with the package
to install (:func:`fsspec_filesystem`) — bytes never land in a local directory called
``gs:``. Every store's ``put`` returns the location it actually wrote, which is what the
audit record says.
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any

from airflow_cloudplan.errors import CloudplanError, Problem, did_you_mean

LOCAL_SCHEMES = ("", "file")
NATIVE_SCHEMES = ("s3",)
FSSPEC_PACKAGES: dict[str, str] = {
    "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs", "abfss": "adlfs", "az": "adlfs",
}
"""Schemes served through fsspec, and the package that implements each."""

PROVIDER_SCHEMES: dict[str, tuple[str, ...]] = {
    "aws": ("s3",), "gcp": ("gs", "gcs"), "azure": ("abfs", "abfss", "az"),
}
"""The object-store schemes of each catalog provider."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(?=/)")


class UnsupportedSchemeError(CloudplanError):
    """A dataset URI whose scheme no installed store can serve."""


def scheme_of(uri: str) -> str:
    """The lower-case scheme of a URI (``""`` for a plain path)."""
    m = _SCHEME.match(uri)
    return m.group(1).lower() if m else ""


def is_templated(uri: str) -> bool:
    """True while the URI still holds a Jinja expression (checked again once rendered)."""
    return "{{" in uri or "{%" in uri


def _catalog_schemes() -> tuple[str, ...]:
    from airflow_cloudplan.catalog.registry import provider_names

    return tuple(s for p in provider_names() for s in PROVIDER_SCHEMES.get(p, ()))


def supported_schemes() -> tuple[str, ...]:
    """Every scheme a dataset URI may use, in the order the docs list them."""
    known = ["file", *NATIVE_SCHEMES, *FSSPEC_PACKAGES]
    known.extend(s for s in _catalog_schemes() if s not in known)
    return tuple(known)


def _known(scheme: str) -> bool:
    if scheme in LOCAL_SCHEMES or scheme in NATIVE_SCHEMES or scheme in FSSPEC_PACKAGES:
        return True
    return scheme in _catalog_schemes()


def uri_problem(uri: str, *, dataset: str, where: str) -> Problem | None:
    """A problem when ``uri`` uses a scheme no store serves (templated URIs pass)."""
    if is_templated(uri):
        return None
    scheme = scheme_of(uri)
    if _known(scheme):
        return None
    supported = supported_schemes()
    hint = did_you_mean(scheme, supported)
    listed = ", ".join(f"{s}://" for s in supported)
    return Problem(
        message=f"dataset '{dataset}' has URI {uri!r} with unsupported scheme '{scheme}://' "
        f"(supported: {listed} or a local path)",
        path=where,
        hint=(f"{hint} " if hint else "") + "use one of the supported schemes",
    )


def fsspec_filesystem(scheme: str) -> Any:
    """The fsspec filesystem for a scheme, or a refusal naming the package to install."""
    package = FSSPEC_PACKAGES.get(scheme, f"an fsspec implementation of '{scheme}://'")
    try:
        import fsspec

        return fsspec.filesystem(scheme)
    except (ImportError, ValueError) as exc:
        raise UnsupportedSchemeError(
            f"'{scheme}://' datasets need fsspec with {package}",
            [Problem(message=str(exc).splitlines()[0],
                     hint=f"install {package} (pip install {package}) on every worker, or "
                     "declare the dataset under a scheme this worker serves")],
        ) from exc


def require_servable(datasets: dict[str, str]) -> None:
    """Refuse, before a stage runs, any dataset (name → URI) no store here can serve."""
    problems: list[Problem] = []
    for name, uri in datasets.items():
        scheme = scheme_of(uri)
        if scheme in LOCAL_SCHEMES or scheme in NATIVE_SCHEMES:
            continue
        unknown = uri_problem(uri, dataset=name, where=name)
        if unknown is not None:
            problems.append(unknown)
            continue
        try:
            fsspec_filesystem(scheme)
        except UnsupportedSchemeError as exc:
            problems.extend(Problem(message=f"dataset '{name}' ({uri}): {p.message}",
                                    hint=p.hint) for p in exc.problems)
    if problems:
        raise UnsupportedSchemeError("the stage declares datasets this worker cannot serve",
                                     problems)


def local_path(uri: str) -> str:
    """The filesystem path of a ``file://`` URI or plain path."""
    return uri[len("file://"):] if uri.startswith("file://") else uri


def written_local_uri(uri: str) -> str:
    """The absolute location a local write lands at, in the URI's own style."""
    path = os.path.abspath(local_path(uri))
    return f"file://{path}" if uri.startswith("file://") else path


class FsspecStore:
    """Whole-object access to an fsspec filesystem (``gs://``, ``abfs://``, …)."""

    def __init__(self, scheme: str, filesystem: Any | None = None) -> None:
        self.scheme = scheme
        self.fs = filesystem if filesystem is not None else fsspec_filesystem(scheme)

    def _path(self, uri: str) -> str:
        bare = uri.split("://", 1)[1] if "://" in uri else uri
        return str(self.fs._strip_protocol(bare))

    def _uri(self, path: str) -> str:
        return f"{self.scheme}://{path.lstrip('/')}"

    def get(self, uri: str) -> bytes:
        """The object's bytes (``FileNotFoundError`` when absent)."""
        data: bytes = self.fs.cat_file(self._path(uri))
        return data

    def put(self, uri: str, data: bytes) -> str:
        """Create or replace the object; returns the URI written."""
        path = self._path(uri)
        parent = path.rsplit("/", 1)[0]
        if parent and parent != path:
            self.fs.makedirs(parent, exist_ok=True)
        self.fs.pipe_file(path, data)
        return self._uri(path)

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of the objects under a prefix, sorted."""
        try:
            found = self.fs.find(self._path(prefix_uri))
        except FileNotFoundError:
            return []
        return sorted(self._uri(p) for p in found)

    def age_s(self, uri: str) -> float | None:
        """Seconds since the object was written; ``inf`` when its time is unknown."""
        path = self._path(uri)
        if not self.fs.exists(path):
            return None
        try:
            modified: float = self.fs.modified(path).timestamp()
        except (NotImplementedError, KeyError, AttributeError):
            return math.inf
        return max(0.0, time.time() - modified)
