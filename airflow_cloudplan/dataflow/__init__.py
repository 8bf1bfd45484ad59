"""Data flow: where bytes are read, written, cached and copied, and what class they carry.

:mod:`.lineage` propagates sensitivity classes through the pipeline (with policy-allowed
declassifications); :mod:`.locations` places every read, write, cache, replica, partition
and checkpoint of a stage under an option. Cost, latency, exposure, governance, audit and
IAM all read these two modules, so they agree on the same set of locations.
"""

from airflow_cloudplan.dataflow.lineage import (
    DeclassificationIssue,
    Lineage,
    compute_lineage,
    known_classes,
    lineage_of,
    most_sensitive,
)
from airflow_cloudplan.dataflow.locations import (
    COPY_KINDS,
    DataLocation,
    LocationKind,
    LocationTraffic,
    bucket_name,
    checkpoint_uri,
    copy_kind,
    copy_uri,
    regional_key,
    split_s3,
    stage_locations,
    stage_traffic,
)

__all__ = [
    "COPY_KINDS",
    "DataLocation",
    "DeclassificationIssue",
    "Lineage",
    "LocationKind",
    "LocationTraffic",
    "bucket_name",
    "checkpoint_uri",
    "compute_lineage",
    "copy_kind",
    "copy_uri",
    "known_classes",
    "lineage_of",
    "most_sensitive",
    "regional_key",
    "split_s3",
    "stage_locations",
    "stage_traffic",
]
