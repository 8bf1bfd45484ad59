"""Where a stage's bytes are read, written, cached and copied under a deployment option.

This is the one definition of data placement. Cost (storage, requests, egress), latency
(read and write transfer times), exposure and risk, the governance gate (residency of
every place data is *written* to), the audit hooks and the IAM policies all ask
:func:`stage_locations` / :func:`stage_traffic`; none re-derives a location.

Locations of stage k under option o (region r, zone z, access strategy a):

* **home** of every dataset k reads (read in place, and the source of cache fills,
  replica syncs and partition misses) and of every dataset k writes — writes always land
  in the dataset's home, wherever k runs (a cross-region write pays egress r → home and
  the transfer time over the measured link);
* **cache** (``regional_cache``): a read-through cache of each read dataset next to the
  compute, in an S3 Express One Zone directory bucket in zone z (the catalog's ``cache``
  storage class) — also in the dataset's home region, where it is still a second place
  the data lives. Only offered where the catalog prices the cache class (candidates
  state the exclusion), so price and first-byte latency always come from one class;
* **replica** (``selective_replication``) and **partition** (``partitioned_locality``):
  a full copy, or the region's partition (``LOCAL_PARTITION_SHARE`` of the data), of each
  read dataset whose home is another region (at home they read in place: no copy);
* **checkpoint** (training stages): the checkpoints of the run, in region r.

Copies are named by one convention (:func:`copy_uri`): replicas and partitions in
general-purpose buckets ``s3://<bucket>-<replica|part>-<region>/<prefix>/``, caches in one
directory bucket per dataset and zone ``s3://<bucket>-<dataset>--<zone id>--x-s3/<prefix>/``
(a session on a directory bucket grants the whole bucket, so one bucket per dataset keeps
the grant least-privilege); checkpoints in
``s3://cloudplan-<pipeline>-<region>/checkpoints/<stage>/``. Replicas, partitions and
checkpoints are S3 Standard (``StorageKind.OBJECT``); each location is priced and timed
with its own class in its own region, and a price the catalog lacks is an error, never
another class's price. A location's sensitivity classes
come from :mod:`.lineage` (copies carry the dataset's classes, checkpoints the stage's
inputs). An SSE-KMS dataset's copy in another region uses the same multi-Region key
(``mrk-…``) there; a single-Region key cannot follow the copy (``kms_key_arn`` is then
``None`` and the governance gate refuses the option).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from airflow_cloudplan.dataflow.lineage import lineage_of
from airflow_cloudplan.model.catalog import StorageKind
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import AccessStrategy, StageOption
from airflow_cloudplan.model.workload import Archetype, DataEdge, Dataset, Pipeline, StageKind


class LocationKind(StrEnum):
    """What a location is to the stage."""

    HOME = "home"
    CACHE = "cache"
    REPLICA = "replica"
    PARTITION = "partition"
    CHECKPOINT = "checkpoint"


COPY_KINDS = frozenset({LocationKind.CACHE, LocationKind.REPLICA, LocationKind.PARTITION})
"""Kinds that are a second place a dataset's bytes live (the copies a class may forbid)."""

_COPY_OF_STRATEGY = {
    AccessStrategy.REGIONAL_CACHE: LocationKind.CACHE,
    AccessStrategy.SELECTIVE_REPLICATION: LocationKind.REPLICA,
    AccessStrategy.PARTITIONED_LOCALITY: LocationKind.PARTITION,
}
_BUCKET_SUFFIX = {
    LocationKind.CACHE: "cache",
    LocationKind.REPLICA: "replica",
    LocationKind.PARTITION: "part",
}
_S3 = re.compile(r"^s3://(?P<bucket>[^/]+)/?(?P<prefix>.*)$")
_MRK_KEY = re.compile(r"^(arn:aws[a-z\-]*:kms:)([a-z0-9\-]+)(:\d{12}:key/mrk-[A-Za-z0-9]+)$")
_MAX_BUCKET = 63


@dataclass(frozen=True)
class DataLocation:
    """One place a stage reads or writes bytes under an option."""

    stage: str
    kind: LocationKind
    dataset: str | None
    region: str
    uri: str | None
    reads: bool
    writes: bool
    classes: frozenset[str]
    home_region: str | None
    kms_key_arn: str | None = None
    storage: StorageKind = StorageKind.OBJECT

    @property
    def is_copy(self) -> bool:
        """A cache, replica or partition: a second place a dataset's bytes live."""
        return self.kind in COPY_KINDS

    @property
    def held_by_option(self) -> bool:
        """The option creates this location (a copy or checkpoints), not the dataset owner."""
        return self.kind is not LocationKind.HOME

    @property
    def cross_region(self) -> bool:
        """A copy outside its dataset's home region."""
        return self.home_region is not None and self.region != self.home_region

    @property
    def label(self) -> str:
        """``dataset (kind)`` for messages."""
        what = self.dataset or f"{self.stage} checkpoints"
        return what if self.kind is LocationKind.HOME else f"{what} ({self.kind.value})"


# ------------------------------------------------------------------------- naming
def split_s3(uri: str) -> tuple[str, str] | None:
    """``(bucket, prefix)`` of an ``s3://`` URI (prefix without slashes at the ends)."""
    m = _S3.match(uri.strip())
    if m is None:
        return None
    return m["bucket"], m["prefix"].strip("/")


def bucket_name(base: str, suffix: str) -> str:
    """``<base>-<suffix>``, shortened with a hash to S3's 63 characters, lower-case."""
    clean = re.sub(r"[^a-z0-9.\-]+", "-", base.lower()).strip("-.")
    name = f"{clean}-{suffix}"
    if len(name) <= _MAX_BUCKET:
        return name
    digest = hashlib.sha256(clean.encode()).hexdigest()[:8]
    keep = _MAX_BUCKET - len(suffix) - len(digest) - 2
    return f"{clean[:keep].rstrip('-.')}-{digest}-{suffix}"


DIRECTORY_BUCKET_SUFFIX = "--x-s3"
"""S3 Express One Zone directory buckets are named ``<base>--<zone id>--x-s3``."""


def directory_bucket_name(bucket: str, dataset: str, zone: str) -> str:
    """The cache's directory bucket: ``<bucket>-<dataset>--<zone id>--x-s3`` (≤ 63 chars)."""
    tail = f"--{zone}{DIRECTORY_BUCKET_SUFFIX}"
    base = re.sub(r"[^a-z0-9\-]+", "-", f"{bucket}-{dataset}".lower()).strip("-")
    base = re.sub(r"-{2,}", "-", base)
    if len(base) + len(tail) > _MAX_BUCKET:
        digest = hashlib.sha256(base.encode()).hexdigest()[:8]
        keep = _MAX_BUCKET - len(tail) - len(digest) - 1
        base = f"{base[:keep].rstrip('-')}-{digest}"
    return base + tail


def copy_uri(
    dataset_uri: str, kind: LocationKind, region: str, *, dataset: str = "", zone: str = ""
) -> str | None:
    """Where a cache/replica/partition of an S3 dataset lives (else ``None``).

    Caches need the ``dataset`` name and the ``zone`` id of their directory bucket.
    """
    parts = split_s3(dataset_uri)
    if parts is None or kind not in _BUCKET_SUFFIX:
        return None
    bucket, prefix = parts
    tail = f"/{prefix}/" if prefix else "/"
    if kind is LocationKind.CACHE:
        return f"s3://{directory_bucket_name(bucket, dataset, zone)}{tail}"
    return f"s3://{bucket_name(bucket, f'{_BUCKET_SUFFIX[kind]}-{region}')}{tail}"


def is_directory_bucket(bucket: str) -> bool:
    """An S3 Express One Zone directory bucket (by its name)."""
    return bucket.endswith(DIRECTORY_BUCKET_SUFFIX)


def checkpoint_uri(pipeline: str, stage: str, region: str) -> str:
    """Where a training stage's checkpoints live in ``region``."""
    return f"s3://{bucket_name(f'cloudplan-{pipeline}', region)}/checkpoints/{stage}/"


def regional_key(key_arn: str | None, home_region: str, region: str) -> str | None:
    """The KMS key a copy in ``region`` is encrypted with (``None``: the key cannot follow)."""
    if key_arn is None or region == home_region:
        return key_arn
    m = _MRK_KEY.match(key_arn)
    return f"{m[1]}{region}{m[3]}" if m else None


# ------------------------------------------------------------------------- locations
def _home(stage: str, d: Dataset, classes: frozenset[str], *, reads: bool,
          writes: bool) -> DataLocation:
    return DataLocation(
        stage=stage, kind=LocationKind.HOME, dataset=d.name, region=d.home_region, uri=d.uri,
        reads=reads, writes=writes, classes=classes, home_region=d.home_region,
        kms_key_arn=d.kms_key_arn,
    )


def copy_kind(option: StageOption, home_region: str) -> LocationKind | None:
    """The copy an option's access strategy makes of a dataset homed in ``home_region``."""
    kind = _COPY_OF_STRATEGY.get(option.access)
    if kind is None or (kind is not LocationKind.CACHE and home_region == option.region):
        return None
    return kind


def stage_locations(
    inp: PlanningInput, stage_name: str, option: StageOption
) -> tuple[DataLocation, ...]:
    """Every location stage ``stage_name`` touches under ``option`` (see module docstring).

    Order is deterministic: homes and copies of the datasets read (declaration order),
    then homes of datasets only written, then checkpoints.
    """
    pipeline = inp.pipeline
    stage = pipeline.stage_by_name[stage_name]
    lineage = lineage_of(pipeline, inp.policy.governance)
    by_name = pipeline.dataset_by_name
    reads = [by_name[n] for n in dict.fromkeys(stage.reads) if n in by_name]
    writes = {n for n in stage.writes if n in by_name}
    out: list[DataLocation] = []
    for d in reads:
        classes = lineage.dataset(d.name)
        out.append(_home(stage_name, d, classes, reads=True, writes=d.name in writes))
        kind = copy_kind(option, d.home_region)
        if kind is None:
            continue
        uri = copy_uri(d.uri, kind, option.region, dataset=d.name, zone=option.zone)
        out.append(DataLocation(
            stage=stage_name, kind=kind, dataset=d.name, region=option.region, uri=uri,
            reads=True, writes=True, classes=classes, home_region=d.home_region,
            kms_key_arn=regional_key(d.kms_key_arn, d.home_region, option.region),
            storage=StorageKind.CACHE if kind is LocationKind.CACHE else StorageKind.OBJECT,
        ))
    read_names = {d.name for d in reads}
    for n in dict.fromkeys(stage.writes):
        if n in by_name and n not in read_names:
            out.append(_home(stage_name, by_name[n], lineage.dataset(n), reads=False,
                             writes=True))
    if stage.kind is StageKind.TRAIN:
        out.append(DataLocation(
            stage=stage_name, kind=LocationKind.CHECKPOINT, dataset=None,
            region=option.region, uri=checkpoint_uri(pipeline.name, stage_name, option.region),
            reads=True, writes=True, classes=lineage.inputs.get(stage_name, frozenset()),
            home_region=None,
        ))
    return tuple(out)


def via_storage(pipeline: Pipeline, edge: DataEdge) -> bool:
    """The edge hands over only datasets its source writes and its destination reads.

    Its bytes then travel source → dataset home → destination, which the stages' write
    and read locations already price and time; the edge itself only orders the stages.
    """
    if not edge.carries:
        return False
    src = pipeline.stage_by_name.get(edge.src)
    dst = pipeline.stage_by_name.get(edge.dst)
    if src is None or dst is None:
        return False
    return all(d in src.writes and d in dst.reads for d in edge.carries)


def edge_transfer_gb(pipeline: Pipeline, edge: DataEdge) -> float:
    """GB per run the edge moves directly between the two stages (0 when via storage)."""
    return 0.0 if via_storage(pipeline, edge) else edge.gb_per_run


# ------------------------------------------------------------------------- traffic
CACHE_HIT_RATIO = 0.8
"""Share of reads a regional cache serves (misses go to the dataset's home region)."""
CACHE_SIZE_FRACTION = 0.25
"""Share of a dataset a regional cache holds (its working set)."""
LOCAL_PARTITION_SHARE = 0.8
"""Share of a dataset partitioned locality places (and reads) in the stage's region."""
REPLICA_AMORTISATION_MONTHS = 12.0
"""The one-off copy of a replica or partition is paid over this many months."""
DAYS_PER_MONTH = 30.4
"""Days in an average month (the same constant as :mod:`airflow_cloudplan.optimize.demand`)."""
CHECKPOINTS_KEPT = 3
"""Training keeps this many checkpoints, each the size of the stage's memory."""


@dataclass(frozen=True)
class LocationTraffic:
    """Bytes at one location, per run of the stage (GB), and what the option keeps there.

    ``read_gb`` moves from ``location.region`` to the stage's region (in the stage's read
    pattern ``read_archetype``), ``write_gb`` from the stage's region to
    ``location.region`` (``write_archetype``: appends for a stream_append dataset, large
    multipart uploads otherwise — how a dataset is *read* does not change how it is
    written); ``stored_gb`` is
    held there because of the option (copies, checkpoints; 0 at a dataset's home);
    ``sync_gb_month`` is replicated from the dataset's home to keep a copy current
    (amortised first copy + growth). ``fill_gb`` is what a read-through cache writes as
    misses pass through it: paid (requests) but off the run's critical path.
    """

    location: DataLocation
    read_archetype: Archetype
    write_archetype: Archetype
    read_gb: float = 0.0
    write_gb: float = 0.0
    fill_gb: float = 0.0
    stored_gb: float = 0.0
    sync_gb_month: float = 0.0


def read_split(kind: LocationKind | None, per_run: float) -> tuple[float, float]:
    """(GB read from the home, GB read from the copy) per run under a copy kind."""
    if kind is LocationKind.CACHE:
        return per_run * (1.0 - CACHE_HIT_RATIO), per_run * CACHE_HIT_RATIO
    if kind is LocationKind.REPLICA:
        return 0.0, per_run
    if kind is LocationKind.PARTITION:
        return per_run * (1.0 - LOCAL_PARTITION_SHARE), per_run * LOCAL_PARTITION_SHARE
    return per_run, 0.0


_STORED_SHARE = {
    LocationKind.CACHE: CACHE_SIZE_FRACTION,
    LocationKind.REPLICA: 1.0,
    LocationKind.PARTITION: LOCAL_PARTITION_SHARE,
}


def stage_traffic(
    inp: PlanningInput,
    stage_name: str,
    option: StageOption,
    *,
    read_gb: dict[str, float],
    write_gb: dict[str, float],
    epochs: int,
    memory_gib: float,
    archetype: Archetype,
) -> tuple[LocationTraffic, ...]:
    """The traffic of every location of :func:`stage_locations`.

    ``read_gb`` is GB read per epoch per dataset and ``write_gb`` GB written per run per
    dataset (both resolved from spec and profile by ``optimize.demand``); ``archetype`` is
    the stage's read pattern. Cache misses are read from the home and written into the
    cache; a dataset the stage both reads and writes is written through to its copy.
    Checkpoints: one per epoch of ``memory_gib`` GB, ``CHECKPOINTS_KEPT`` kept.
    """
    by_name = inp.pipeline.dataset_by_name
    out: list[LocationTraffic] = []
    for loc in stage_locations(inp, stage_name, option):
        if loc.kind is LocationKind.CHECKPOINT:
            out.append(LocationTraffic(
                loc, archetype, Archetype.LARGE_SEQUENTIAL, write_gb=epochs * memory_gib,
                stored_gb=CHECKPOINTS_KEPT * memory_gib,
            ))
            continue
        assert loc.dataset is not None  # every other location belongs to a dataset
        d = by_name[loc.dataset]
        per_run = read_gb.get(d.name, 0.0) * epochs if loc.reads else 0.0
        from_home, from_copy = read_split(copy_kind(option, d.home_region), per_run)
        written = write_gb.get(d.name, 0.0) if loc.writes else 0.0
        writes_as = (Archetype.STREAM_APPEND if d.archetype is Archetype.STREAM_APPEND
                     else Archetype.LARGE_SEQUENTIAL)
        if loc.kind is LocationKind.HOME:
            out.append(LocationTraffic(loc, archetype, writes_as, read_gb=from_home,
                                       write_gb=written))
            continue
        share = _STORED_SHARE[loc.kind]
        sync = 0.0 if loc.kind is LocationKind.CACHE else (
            d.size_gb / REPLICA_AMORTISATION_MONTHS + d.growth_gb_per_day * DAYS_PER_MONTH
        ) * share
        fills = from_home if loc.kind is LocationKind.CACHE else 0.0
        out.append(LocationTraffic(
            loc, archetype, writes_as, read_gb=from_copy,
            write_gb=write_gb.get(d.name, 0.0), fill_gb=fills,
            stored_gb=d.size_gb * share, sync_gb_month=sync,
        ))
    return tuple(out)
