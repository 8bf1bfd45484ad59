"""The plan store: versioned, immutable, content-addressed plans with an active pointer.

A plan version is the sha256 of the plan's canonical JSON, so storing the same plan twice
is a no-op and a stored version can never change. Each pipeline has one *active* pointer
that moves atomically (compare-and-swap on the version it expects to replace), and an
append-only history of events (stored, approved, rejected, applied, rolled back).

Backends implement a handful of byte-level primitives (:class:`BlobBackend`); everything
else — hashing, history, CAS semantics, the parse-time cache file — lives here once.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from airflow_cloudplan.errors import PlanStoreError, Problem
from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.model.plan import PlanResult

EventKind = Literal["stored", "approved", "rejected", "applied", "rolled_back", "apply_failed"]


def canonical_json(plan: PlanResult) -> bytes:
    """The bytes a version id is computed from: sorted keys, no whitespace."""
    return json.dumps(plan.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def plan_version(plan: PlanResult) -> str:
    """The content address of a plan (sha256 hex of its canonical JSON)."""
    return hashlib.sha256(canonical_json(plan)).hexdigest()


class HistoryEvent(Frozen):
    """One entry of a pipeline's append-only plan history."""

    at: datetime
    event: EventKind
    version: str
    actor: str = "cloudplan"
    note: str = ""


class ActivePointer(Frozen):
    """Which version of a pipeline's plan is in force, and which one it replaced."""

    pipeline: str
    version: str
    previous: str | None = None
    activated_at: datetime
    actor: str = "cloudplan"


class VersionInfo(Frozen):
    """A stored version as listed by ``cloudplan plans list``."""

    version: str
    pipeline: str
    created_at: datetime
    cost_usd_month: float
    latency_ms: float
    risk: float
    frontier_points: int
    artifacts: list[str] = Field(default_factory=list)


class BlobBackend(ABC):
    """Byte-level storage primitives a plan store needs."""

    @abstractmethod
    def read(self, key: str) -> bytes | None:
        """The object's bytes, or ``None`` when it does not exist."""

    @abstractmethod
    def write_new(self, key: str, data: bytes) -> bool:
        """Create ``key`` if it does not exist; return False (and write nothing) if it does."""

    @abstractmethod
    def compare_and_swap(self, key: str, expected: bytes | None, data: bytes) -> bool:
        """Replace ``key`` atomically iff its current bytes equal ``expected``."""

    @abstractmethod
    def append(self, key: str, line: bytes) -> None:
        """Append one line to a log (never rewriting earlier lines)."""

    @abstractmethod
    def read_log(self, key: str) -> bytes:
        """All lines appended to a log, oldest first (empty when none)."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix``."""

    @property
    @abstractmethod
    def uri(self) -> str:
        """Where this backend stores things (for messages)."""


class PlanStore:
    """Plan versions, their artifacts, history and the active pointers of pipelines."""

    def __init__(self, backend: BlobBackend) -> None:
        self.backend = backend

    # -- versions ---------------------------------------------------------------------
    def put(self, plan: PlanResult, artifacts: Path | None = None) -> str:
        """Store a plan (and its artifact directory); return its version. Idempotent."""
        version = plan_version(plan)
        for rel, data in _artifact_files(artifacts):
            self.backend.write_new(f"versions/{version}/artifacts/{rel}", data)
        if self.backend.write_new(f"versions/{version}/plan.json", canonical_json(plan)):
            self.record(plan.pipeline, "stored", version)
        return version

    def resolve(self, version: str) -> str:
        """Expand a unique version prefix (at least 6 hex digits) to the full id."""
        if len(version) == 64 and self.backend.read(f"versions/{version}/plan.json"):
            return version
        if len(version) < 6:
            raise PlanStoreError(
                "plan version too short",
                [Problem(f"'{version}' is ambiguous", hint="give at least 6 hex digits")],
            )
        hits = sorted({k.split("/")[1] for k in self.backend.list("versions/")
                       if k.split("/")[1].startswith(version)})
        if len(hits) != 1:
            what = "no plan version" if not hits else f"{len(hits)} plan versions"
            raise PlanStoreError(
                f"{what} in {self.backend.uri} match '{version}'",
                [Problem("unknown or ambiguous version", hint="run `cloudplan plans list`")],
            )
        return hits[0]

    def get(self, version: str) -> PlanResult:
        """The stored plan of a version (prefixes allowed); verifies its content hash."""
        full = self.resolve(version)
        data = self.backend.read(f"versions/{full}/plan.json")
        if data is None or hashlib.sha256(data).hexdigest() != full:
            raise PlanStoreError(
                f"plan version {full[:12]} is missing or corrupt in {self.backend.uri}",
                [Problem("stored bytes do not hash to the version id",
                         hint="restore the file from backup; never edit stored plans")],
            )
        return PlanResult.model_validate_json(data)

    def artifact(self, version: str, rel: str) -> bytes | None:
        """One artifact file of a version."""
        return self.backend.read(f"versions/{self.resolve(version)}/artifacts/{rel}")

    def artifacts(self, version: str) -> list[str]:
        """Relative paths of a version's artifacts."""
        full = self.resolve(version)
        prefix = f"versions/{full}/artifacts/"
        return sorted(k[len(prefix):] for k in self.backend.list(prefix))

    def versions(self, pipeline: str | None = None) -> list[VersionInfo]:
        """Stored versions, newest first."""
        out = []
        for key in self.backend.list("versions/"):
            if not key.endswith("/plan.json"):
                continue
            version = key.split("/")[1]
            plan = self.get(version)
            if pipeline and plan.pipeline != pipeline:
                continue
            rec = plan.recommendation.objectives
            out.append(VersionInfo(
                version=version, pipeline=plan.pipeline, created_at=plan.created_at,
                cost_usd_month=rec.cost_usd_month, latency_ms=rec.latency_ms, risk=rec.risk,
                frontier_points=len(plan.frontier),
            ))
        return sorted(out, key=lambda v: (v.created_at, v.version), reverse=True)

    # -- history and the active pointer ---------------------------------------------------
    def record(self, pipeline: str, event: EventKind, version: str,
               actor: str = "cloudplan", note: str = "") -> None:
        """Append an event to the pipeline's history."""
        ev = HistoryEvent(at=datetime.now(UTC), event=event, version=version,
                          actor=actor, note=note)
        self.backend.append(f"pipelines/{pipeline}/history.jsonl",
                            ev.model_dump_json().encode() + b"\n")

    def history(self, pipeline: str) -> list[HistoryEvent]:
        """The pipeline's events, oldest first."""
        data = self.backend.read_log(f"pipelines/{pipeline}/history.jsonl")
        return [HistoryEvent.model_validate_json(line) for line in data.splitlines() if line]

    def pipelines(self) -> list[str]:
        """Pipelines that have a history in this store."""
        return sorted({k.split("/")[1] for k in self.backend.list("pipelines/")})

    def active(self, pipeline: str) -> ActivePointer | None:
        """The active pointer of a pipeline, if any plan was ever activated."""
        data = self.backend.read(f"pipelines/{pipeline}/active.json")
        return ActivePointer.model_validate_json(data) if data else None

    def activate(self, pipeline: str, version: str, *, expected: str | None,
                 actor: str = "cloudplan", event: EventKind = "applied") -> ActivePointer:
        """Move the active pointer to ``version`` iff it currently points at ``expected``.

        Fails (and changes nothing) when someone else moved it in between.
        """
        full = self.resolve(version)
        plan = self.get(full)
        if plan.pipeline != pipeline:
            raise PlanStoreError(
                f"version {full[:12]} is a plan of '{plan.pipeline}', not of '{pipeline}'",
                [Problem("pipeline mismatch", hint="pick a version of this pipeline")],
            )
        key = f"pipelines/{pipeline}/active.json"
        current = self.backend.read(key)
        current_version = ActivePointer.model_validate_json(current).version if current else None
        if current_version != expected:
            raise PlanStoreError(
                f"the active plan of '{pipeline}' changed concurrently",
                [Problem(f"expected {expected or 'none'}, found {current_version or 'none'}",
                         hint="re-read the active plan and retry")],
            )
        pointer = ActivePointer(pipeline=pipeline, version=full, previous=current_version,
                                activated_at=datetime.now(UTC), actor=actor)
        if not self.backend.compare_and_swap(key, current, pointer.model_dump_json().encode()):
            raise PlanStoreError(
                f"the active plan of '{pipeline}' changed concurrently",
                [Problem("compare-and-swap lost a race", hint="retry")],
            )
        self.record(pipeline, event, full, actor=actor)
        return pointer

    def previous_applied(self, pipeline: str) -> str | None:
        """The version that was active before the current one (for rollback)."""
        pointer = self.active(pipeline)
        return pointer.previous if pointer else None


def _artifact_files(root: Path | None) -> Iterator[tuple[str, bytes]]:
    if root is None or not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root).as_posix(), path.read_bytes()
