"""The data-access layer a stage uses: declared datasets only, audited, measured, by plan.

``DataAccess`` is the one door between stage code and its data. For each call it

1. checks the dataset is declared for that action (read/list → ``reads``, write →
   ``writes``) and that the key stays inside the dataset's prefix — otherwise the attempt
   is audited as *refused* and :class:`UndeclaredAccessError` is raised;
2. resolves where the bytes live under the plan's access strategy for the stage:

   * ``direct`` — the dataset's own URI;
   * ``regional_cache`` — a read-through cache next to the compute (``cache_root``):
     a cached copy younger than ``cache_ttl_s`` is served, otherwise the primary is read
     and the cache refreshed; writes go to the primary and refresh the cache;
   * ``selective_replication`` — a replica in the stage's region
     (``replica_root/<region>/<dataset>``): reads prefer it and fill it on a miss;
     writes go to the primary and the replica;
   * ``partitioned_locality`` — the stage only sees its locality partition:
     keys live under ``region=<region>/`` of the dataset;

   when the active plan names the copy's location (``data_copies``, from the one
   placement model of :mod:`airflow_cloudplan.dataflow.locations` that the IAM policies
   and audit hooks use too), the cache, replica or partition is read and filled *there*
   (for a partition: the region's partition copy, misses going to the dataset's home);

3. appends one audit record per access and counts bytes, rows and operations, from which
   it classifies the read pattern (the profiler's archetype evidence).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from airflow_cloudplan.errors import CloudplanError, Problem, did_you_mean
from airflow_cloudplan.model.plan import AccessStrategy
from airflow_cloudplan.model.workload import Archetype
from airflow_cloudplan.runtime.audit import AccessAction, AccessOutcome, AuditRecord, AuditStore
from airflow_cloudplan.runtime.declaration import DeclaredDataset, StageDeclaration
from airflow_cloudplan.runtime.storage import StoreRouter, join_uri

if TYPE_CHECKING:
    import pandas as pd

RANDOM_READ_MAX_MEAN_BYTES = 256 * 1024
"""Reads averaging less than this, in many operations, look like random access."""
MANY_OPS = 32


class UndeclaredAccessError(CloudplanError):
    """A stage touched a dataset (or a key) outside what it declared."""


def _frame_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    """(key, frame) from ``write_frame``'s arguments, old order accepted with a warning."""
    key = kwargs.pop("key", None)
    frame = kwargs.pop("frame", None)
    if kwargs:
        raise TypeError(f"write_frame() got unexpected arguments {sorted(kwargs)}")
    rest = list(args)
    if rest and not isinstance(rest[0], str):  # old order: (dataset, frame, key=...)
        warnings.warn(
            "write_frame(dataset, frame, key=...) is deprecated: the key comes before the "
            "data as in write_bytes/write_json — call write_frame(dataset, key, frame) or "
            "write_frame(dataset, frame=frame)", DeprecationWarning, stacklevel=3)
        frame = rest.pop(0)
        if rest:
            key = rest.pop(0)
    else:
        if rest:
            key = rest.pop(0)
        if rest:
            frame = rest.pop(0)
    if rest or frame is None or (key is not None and not isinstance(key, str)):
        raise TypeError("call write_frame(dataset, key, frame) or write_frame(dataset, "
                        "frame=frame[, key='data.csv'])")
    return key or "data.csv", frame


@dataclass
class IOMeter:
    """Bytes, rows and operations of one stage run."""

    bytes_read: int = 0
    bytes_written: int = 0
    rows_read: int = 0
    rows_written: int = 0
    read_ops: int = 0
    write_ops: int = 0
    list_ops: int = 0
    cache_hits: int = 0
    read_sizes: list[int] = field(default_factory=list)

    def read_pattern(self) -> Archetype | None:
        """Classify the access pattern from operation counts and sizes."""
        if self.read_ops == 0 and self.write_ops == 0:
            return None
        if self.read_ops == 0:
            many_small = self.write_ops > MANY_OPS
            return Archetype.STREAM_APPEND if many_small else Archetype.LARGE_SEQUENTIAL
        mean = self.bytes_read / self.read_ops
        random = self.read_ops > MANY_OPS and mean < RANDOM_READ_MAX_MEAN_BYTES
        if random and self.write_ops > MANY_OPS:
            return Archetype.MIXED
        return Archetype.RANDOM_READ if random else Archetype.LARGE_SEQUENTIAL


@dataclass(frozen=True)
class RunRef:
    """Which Airflow task run is accessing data (for audit records)."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int = 1


@dataclass(frozen=True)
class AccessPlan:
    """The plan's access strategy for this stage, with where caches/replicas live."""

    strategy: AccessStrategy = AccessStrategy.DIRECT
    region: str | None = None
    cache_root: str | None = None
    cache_ttl_s: float = 3600.0
    replica_root: str | None = None
    copies: dict[str, str] = field(default_factory=dict)


_VIA = {
    AccessStrategy.REGIONAL_CACHE: "cache",
    AccessStrategy.SELECTIVE_REPLICATION: "replica",
    AccessStrategy.PARTITIONED_LOCALITY: "partition",
}


class DataAccess:
    """Declared-dataset I/O for one stage run (see the module docstring)."""

    def __init__(
        self,
        declaration: StageDeclaration,
        run: RunRef,
        *,
        identity: str,
        audit: AuditStore,
        plan: AccessPlan | None = None,
        stores: StoreRouter | None = None,
        on_access: Callable[[AuditRecord], None] | None = None,
    ) -> None:
        self.declaration = declaration
        self.run = run
        self.identity = identity
        self.audit = audit
        self.plan = plan or AccessPlan()
        self.stores = stores or StoreRouter()
        self.meter = IOMeter()
        self._on_access = on_access
        self._reads = {d.name: d for d in declaration.reads}
        self._writes = {d.name: d for d in declaration.writes}

    # -- public API ----------------------------------------------------------------------
    def observe(self, callback: Callable[[AuditRecord], None]) -> None:
        """Call ``callback`` with every audit record (e.g. to add span events)."""
        self._on_access = callback

    def read_bytes(self, dataset: str, key: str) -> bytes:
        """Read one object of a declared input dataset."""
        ds = self._authorise(AccessAction.READ, dataset, key)
        primary = self._primary_uri(ds, key)
        try:
            data, uri, via = self._fetch(ds, key, primary)
        except FileNotFoundError as exc:
            self._audit(AccessAction.READ, ds.name, "object", primary,
                        outcome=AccessOutcome.FAILED, reason=f"not found: {exc}")
            raise
        self.meter.bytes_read += len(data)
        self.meter.read_ops += 1
        self._audit(AccessAction.READ, ds.name, "object", uri, via=via, nbytes=len(data))
        return data

    def write_bytes(self, dataset: str, key: str, data: bytes) -> str:
        """Write one object of a declared output dataset; returns the URI written.

        The audit record names the location actually written (an absolute path for a
        relative local dataset).
        """
        ds = self._authorise(AccessAction.WRITE, dataset, key)
        target = self._primary_uri(ds, key)
        uri = self.stores.for_uri(target).put(target, data)
        self._audit(AccessAction.WRITE, ds.name, "object", uri, nbytes=len(data))
        for via, copy_target in self._copies(ds, key):
            copy_uri = self.stores.for_uri(copy_target).put(copy_target, data)
            self._audit(AccessAction.WRITE, ds.name, "object", copy_uri, via=via,
                        nbytes=len(data))
        self.meter.bytes_written += len(data)
        self.meter.write_ops += 1
        return uri

    def list_keys(self, dataset: str, prefix: str = "") -> list[str]:
        """Keys (relative to the dataset, partition stripped) under a prefix."""
        ds = self._authorise(AccessAction.LIST, dataset, prefix)
        base = self._primary_uri(ds, "")
        uri = join_uri(base, prefix) if prefix else base
        found = self.stores.for_uri(uri).list(uri)
        self.meter.list_ops += 1
        self._audit(AccessAction.LIST, ds.name, "prefix", uri)
        root = base.rstrip("/") + "/"
        return [u.removeprefix(root) for u in found if u.startswith(root)]

    def read_frame(self, dataset: str, key: str = "data.csv") -> pd.DataFrame:
        """Read a CSV object as a pandas DataFrame (rows counted)."""
        import pandas as pd

        frame = pd.read_csv(io.BytesIO(self.read_bytes(dataset, key)))
        self.meter.rows_read += len(frame)
        return frame

    @overload
    def write_frame(self, dataset: str, key: str, frame: pd.DataFrame) -> str: ...

    @overload
    def write_frame(self, dataset: str, *, frame: pd.DataFrame, key: str = "data.csv") -> str: ...

    def write_frame(self, dataset: str, *args: Any, **kwargs: Any) -> str:
        """Write a DataFrame as CSV (rows counted): ``write_frame(dataset, key, frame)``.

        Like every write, the key comes before the data (``write_bytes(dataset, key,
        data)``, ``write_json(dataset, key, value)``); ``write_frame(dataset, frame=df)``
        writes ``data.csv``. The old order ``write_frame(dataset, frame, key=...)`` still
        works and warns (``DeprecationWarning``) until the next minor release.
        """
        key, frame = _frame_args(args, kwargs)
        uri = self.write_bytes(dataset, key, frame.to_csv(index=False).encode("utf-8"))
        self.meter.rows_written += len(frame)
        return uri

    def read_json(self, dataset: str, key: str) -> Any:
        """Read a JSON object."""
        import json

        return json.loads(self.read_bytes(dataset, key))

    def write_json(self, dataset: str, key: str, value: Any) -> str:
        """Write a JSON object (sorted keys, so identical content gives identical bytes)."""
        import json

        text = json.dumps(value, sort_keys=True, indent=1, default=str)
        return self.write_bytes(dataset, key, text.encode("utf-8"))

    def count_rows(self, *, read: int = 0, written: int = 0) -> None:
        """Add rows the stage handled in formats this layer does not parse."""
        self.meter.rows_read += read
        self.meter.rows_written += written

    # -- internals -----------------------------------------------------------------------
    def _authorise(self, action: AccessAction, dataset: str, key: str) -> DeclaredDataset:
        allowed = self._writes if action is AccessAction.WRITE else self._reads
        side = "writes" if action is AccessAction.WRITE else "reads"
        ds = allowed.get(dataset)
        reason: str | None = None
        if ds is None:
            reason = f"dataset {dataset!r} is not declared in the stage's {side}"
        elif key.startswith("/") or "\\" in key or ".." in key.split("/"):
            reason = f"key {key!r} escapes the dataset's prefix"
        if reason is None and ds is not None:
            return ds
        known = self._writes if action is AccessAction.WRITE else self._reads
        target_uri = join_uri(ds.uri, key) if ds else f"undeclared:{dataset}/{key}"
        self._audit(action, dataset, "object" if action is not AccessAction.LIST else "prefix",
                    target_uri, outcome=AccessOutcome.REFUSED, reason=reason)
        hint = did_you_mean(dataset, list(known)) if ds is None else None
        decl = self.declaration
        raise UndeclaredAccessError(
            f"refused {action.value} of {dataset!r} by stage {decl.stage!r}",
            [Problem(
                message=str(reason),
                path=f"{decl.pipeline}.{decl.stage}.{side}",
                hint=hint or f"declare it: {side}={{'{dataset}': '<uri>'}} on the operator "
                f"(declared {side}: {sorted(known) or 'none'})",
            )],
        )

    def _primary_uri(self, ds: DeclaredDataset, key: str) -> str:
        planned = ds.name in self.plan.copies
        if (self.plan.strategy is AccessStrategy.PARTITIONED_LOCALITY and self.plan.region
                and not planned):
            return join_uri(join_uri(ds.uri, f"region={self.plan.region}"), key)
        return join_uri(ds.uri, key)

    def _copy_root(self, ds: DeclaredDataset) -> tuple[str, str] | None:
        planned = self.plan.copies.get(ds.name)
        if planned is not None:
            return _VIA.get(self.plan.strategy, "copy"), planned
        region = self.plan.region or "local"
        if self.plan.strategy is AccessStrategy.REGIONAL_CACHE and self.plan.cache_root:
            return "cache", join_uri(self.plan.cache_root, f"{region}/{ds.name}")
        if self.plan.strategy is AccessStrategy.SELECTIVE_REPLICATION and self.plan.replica_root:
            return "replica", join_uri(self.plan.replica_root, f"{region}/{ds.name}")
        return None

    def _copies(self, ds: DeclaredDataset, key: str) -> list[tuple[str, str]]:
        """Where a write must also land (cache refresh, replica) under the strategy."""
        root = self._copy_root(ds)
        if root is None or ds.name not in self._reads:
            return []
        return [(root[0], join_uri(root[1], key))]

    def _fetch(self, ds: DeclaredDataset, key: str, primary: str) -> tuple[bytes, str, str]:
        root = self._copy_root(ds)
        if root is None:
            return self.stores.for_uri(primary).get(primary), primary, "primary"
        via, base = root
        copy_uri = join_uri(base, key)
        store = self.stores.for_uri(copy_uri)
        age = store.age_s(copy_uri)
        fresh = age is not None and (via != "cache" or age <= self.plan.cache_ttl_s)
        if fresh:
            self.meter.cache_hits += 1
            return store.get(copy_uri), copy_uri, via
        data = self.stores.for_uri(primary).get(primary)
        store.put(copy_uri, data)
        return data, primary, "primary"

    def _audit(
        self,
        action: AccessAction,
        dataset: str,
        target: str,
        uri: str,
        *,
        via: str = "primary",
        nbytes: int = 0,
        outcome: AccessOutcome = AccessOutcome.ALLOWED,
        reason: str | None = None,
    ) -> None:
        record = AuditRecord(
            pipeline=self.declaration.pipeline,
            stage=self.declaration.stage,
            dag_id=self.run.dag_id,
            task_id=self.run.task_id,
            run_id=self.run.run_id,
            try_number=self.run.try_number,
            identity=self.identity,
            action=action,
            dataset=dataset,
            target=target,
            uri=uri,
            via=via,
            outcome=outcome,
            bytes=nbytes,
            reason=reason,
        )
        self.audit.append(record)
        if self._on_access is not None:
            self._on_access(record)

