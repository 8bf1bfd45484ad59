"""Audit hooks: log every data-plane access of sensitive data immutably, centrally.

The spec (``audit/hooks.json``) is plain JSON a reviewer can read and
:func:`apply_audit_hooks` applies with boto3:

* **audit buckets** with S3 Object Lock in COMPLIANCE mode and a default retention; one
  primary bucket plus one per other region that holds audited data, because S3 server
  access logs can only be delivered to a bucket in the source bucket's region;
* **server access logging** of every general-purpose bucket holding audited data
  (dataset homes and the replicas, partitions and checkpoints the plan creates) into the
  audit bucket of its region;
* a **CloudTrail trail** with advanced event selectors for S3 data events on exactly the
  audited prefixes — and S3 Express data events on the plan's cache directory buckets,
  which have no server access logs — delivering to the primary audit bucket with
  log-file validation.

The audited places are the plan's data locations (:mod:`airflow_cloudplan.dataflow`):
every location whose bytes carry, by lineage, a class that requires audit — including a
cache in the dataset's own home region, which is a second place the data lives.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.runops.base import Artifact, Emitter, dump_json
from airflow_cloudplan.runops.context import ComposeContext

ACCOUNT_PLACEHOLDER = "${account_id}"


def split_s3_uri(uri: str) -> tuple[str, str] | None:
    """``(bucket, prefix)`` of an ``s3://`` URI, else ``None``."""
    if not uri.startswith("s3://"):
        return None
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def _bucket_name(base: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in base.lower()).strip("-")
    return cleaned[:63].rstrip("-")


@dataclass(frozen=True)
class _Location:
    dataset: str
    bucket: str
    prefix: str
    region: str
    copy_of: str | None = None


def _audited_locations(ctx: ComposeContext) -> tuple[list[_Location], list[str]]:
    from airflow_cloudplan.dataflow.lineage import known_classes
    from airflow_cloudplan.dataflow.locations import stage_locations

    governance = ctx.inp.policy.governance
    locations: dict[tuple[str, str], _Location] = {}
    not_s3: list[str] = []
    for ds in ctx.audited_datasets():
        parts = split_s3_uri(ds.uri)
        if parts is None:
            not_s3.append(ds.name)
            continue
        locations[parts] = _Location(ds.name, parts[0], parts[1], ds.home_region)
    for p in ctx.placements:
        for loc in stage_locations(ctx.inp, p.name, p.option):
            if not loc.held_by_option or loc.uri is None:
                continue
            if not any(c.require_audit for c in known_classes(governance, loc.classes)):
                continue
            parts = split_s3_uri(loc.uri)
            if parts is None:
                continue
            source = (ctx.inp.pipeline.dataset_by_name[loc.dataset].uri if loc.dataset
                      else f"checkpoints of {loc.stage}")
            locations[parts] = _Location(loc.dataset or f"{loc.stage} checkpoints", parts[0],
                                         parts[1].rstrip("/") + "/" if parts[1] else "",
                                         loc.region, copy_of=source)
    return sorted(locations.values(), key=lambda loc: (loc.bucket, loc.prefix)), not_s3


def _bucket_regions(locations: list[_Location]) -> dict[str, str]:
    """The region of each bucket: where most of its audited prefixes say they live.

    A bucket lives in one region; if a spec gives datasets in one bucket different home
    regions, the majority (then the alphabetically first) wins.
    """
    votes: dict[str, Counter[str]] = {}
    for loc in locations:
        votes.setdefault(loc.bucket, Counter())[loc.region] += 1
    return {b: min(c, key=lambda r: (-c[r], r)) for b, c in votes.items()}


def _bucket_policy(bucket: str, sources: list[str]) -> dict[str, Any]:
    """Log delivery from exactly ``sources`` (one prefix each) and CloudTrail delivery."""
    arn = f"arn:aws:s3:::{bucket}"
    source = {"StringEquals": {"aws:SourceAccount": ACCOUNT_PLACEHOLDER}}
    logging = [
        {"Sid": f"S3ServerAccessLogs{i}", "Effect": "Allow",
         "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"{arn}/s3-access/{src}/*",
         "Condition": {**source, "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{src}"}}}
        for i, src in enumerate(sources)
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            *logging,
            {"Sid": "CloudTrailAclCheck", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
             "Resource": arn, "Condition": source},
            {"Sid": "CloudTrailWrite", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
             "Resource": f"{arn}/cloudtrail/AWSLogs/{ACCOUNT_PLACEHOLDER}/*",
             "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_PLACEHOLDER,
                                            "s3:x-amz-acl": "bucket-owner-full-control"}}},
        ],
    }


def audit_spec(ctx: ComposeContext) -> dict[str, Any]:
    """The boto3-applicable audit-hooks specification of the plan."""
    locations, not_s3 = _audited_locations(ctx)
    governance = ctx.inp.policy.governance
    store = split_s3_uri(governance.audit_store_uri or "")
    regions = Counter(loc.region for loc in locations if loc.copy_of is None)
    primary_region = (
        min(regions, key=lambda r: (-regions[r], r)) if regions
        else (locations[0].region if locations else "")
    )
    primary = store[0] if store else _bucket_name(f"cloudplan-audit-{ctx.pipeline_name}")
    days = ctx.settings.audit_retention_days
    from airflow_cloudplan.dataflow.locations import is_directory_bucket

    logging = sorted((b, r) for b, r in _bucket_regions(locations).items()
                     if not is_directory_bucket(b))
    bucket_of_region = {primary_region: primary}
    for _, region in logging:
        bucket_of_region.setdefault(region, _bucket_name(f"{primary}-{region}"))
    buckets = [
        {"name": name, "region": region,
         "object_lock": {"mode": "COMPLIANCE", "days": days},
         "public_access_block": True,
         "policy": _bucket_policy(name, [b for b, r in logging if r == region])}
        for region, name in sorted(bucket_of_region.items(), key=lambda kv: kv[1])
        if region
    ]
    arns = sorted({f"arn:aws:s3:::{loc.bucket}/{loc.prefix}" for loc in locations
                   if not is_directory_bucket(loc.bucket)})
    express = sorted({f"arn:aws:s3express:{loc.region}:{ACCOUNT_PLACEHOLDER}:bucket/"
                      f"{loc.bucket}/" for loc in locations if is_directory_bucket(loc.bucket)})
    selectors = [
        {"Name": name, "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": [rtype]},
            {"Field": "resources.ARN", "StartsWith": values},
        ]}
        for name, rtype, values in (
            ("cloudplan audited datasets: S3 data events", "AWS::S3::Object", arns),
            ("cloudplan audited caches: S3 Express data events", "AWS::S3Express::Object",
             express),
        )
        if values
    ]
    trail = None
    if selectors:
        trail = {
            "name": _bucket_name(f"cloudplan-{ctx.pipeline_name}-data-events"),
            "home_region": primary_region, "s3_bucket": primary, "s3_key_prefix": "cloudtrail",
            "multi_region": True, "log_file_validation": True,
            "advanced_event_selectors": selectors,
        }
    return {
        "pipeline": ctx.pipeline_name,
        "audit_buckets": buckets,
        "access_logging": [
            {"bucket": b, "region": r, "target_bucket": bucket_of_region[r],
             "target_prefix": f"s3-access/{b}/"}
            for b, r in logging
        ],
        "trail": trail,
        "audited": [
            {"dataset": loc.dataset, "uri": f"s3://{loc.bucket}/{loc.prefix}",
             "region": loc.region, "copy_of": loc.copy_of}
            for loc in locations
        ],
        "not_on_s3": sorted(not_s3),
    }


class AuditEmitter(Emitter):
    """``audit/hooks.json`` when any dataset's class requires audit."""

    name = "audit"

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """The audit-hooks spec (nothing when no dataset requires audit)."""
        if not ctx.audited_datasets():
            return []
        return [Artifact(path="audit/hooks.json", content=dump_json(audit_spec(ctx)),
                         kind="audit-hooks", evidence="audit:hooks")]


@dataclass(frozen=True)
class Check:
    """One verified fact after applying the hooks."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class AuditApplyReport:
    """What :func:`apply_audit_hooks` did and verified."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.ok]


def _fill_account(value: Any, account: str) -> Any:
    if isinstance(value, str):
        return value.replace(ACCOUNT_PLACEHOLDER, account)
    if isinstance(value, list):
        return [_fill_account(v, account) for v in value]
    if isinstance(value, dict):
        return {k: _fill_account(v, account) for k, v in value.items()}
    return value


def _create_bucket(s3: Any, name: str, region: str) -> None:
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"Bucket": name, "ObjectLockEnabledForBucket": True}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise


def _lock_of(s3: Any, bucket: str) -> tuple[str, int] | None:
    """The bucket's default retention (mode, days), or None when none is set."""
    from botocore.exceptions import ClientError

    try:
        got = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError:
        return None
    if got.get("ObjectLockEnabled") != "Enabled":
        return None
    retention = got.get("Rule", {}).get("DefaultRetention", {})
    return retention.get("Mode"), retention.get("Days")


def _apply_buckets(session: Any, spec: dict[str, Any], account: str,
                   report: AuditApplyReport) -> None:
    import json

    for b in spec["audit_buckets"]:
        s3 = session.client("s3", region_name=b["region"])
        _create_bucket(s3, b["name"], b["region"])
        lock = b["object_lock"]
        wanted = {"ObjectLockEnabled": "Enabled",
                  "Rule": {"DefaultRetention": {"Mode": lock["mode"], "Days": lock["days"]}}}
        if _lock_of(s3, b["name"]) != (lock["mode"], lock["days"]):  # unchanged: leave it
            s3.put_object_lock_configuration(Bucket=b["name"], ObjectLockConfiguration=wanted)
        if b.get("public_access_block"):
            s3.put_public_access_block(Bucket=b["name"], PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
            })
        s3.put_bucket_policy(Bucket=b["name"],
                             Policy=json.dumps(_fill_account(b["policy"], account)))
        got = s3.get_object_lock_configuration(Bucket=b["name"])["ObjectLockConfiguration"]
        retention = got.get("Rule", {}).get("DefaultRetention", {})
        report.checks.append(Check(
            f"object-lock:{b['name']}",
            got.get("ObjectLockEnabled") == "Enabled" and retention.get("Mode") == lock["mode"]
            and retention.get("Days") == lock["days"],
            f"read back {retention}",
        ))
        versioning = s3.get_bucket_versioning(Bucket=b["name"]).get("Status")
        report.checks.append(Check(f"versioning:{b['name']}", versioning == "Enabled",
                                   f"status {versioning}"))


def _apply_logging(session: Any, spec: dict[str, Any], report: AuditApplyReport) -> None:
    for entry in spec["access_logging"]:
        s3 = session.client("s3", region_name=entry["region"])
        wanted = {"TargetBucket": entry["target_bucket"], "TargetPrefix": entry["target_prefix"]}
        s3.put_bucket_logging(Bucket=entry["bucket"],
                              BucketLoggingStatus={"LoggingEnabled": wanted})
        got = s3.get_bucket_logging(Bucket=entry["bucket"]).get("LoggingEnabled", {})
        ok = all(got.get(k) == v for k, v in wanted.items())
        report.checks.append(Check(f"access-logging:{entry['bucket']}", ok, f"read back {got}"))


def _apply_trail(session: Any, trail: dict[str, Any], report: AuditApplyReport) -> None:
    from botocore.exceptions import ClientError

    ct = session.client("cloudtrail", region_name=trail["home_region"])
    args = {"Name": trail["name"], "S3BucketName": trail["s3_bucket"],
            "S3KeyPrefix": trail["s3_key_prefix"], "IsMultiRegionTrail": trail["multi_region"],
            "EnableLogFileValidation": trail["log_file_validation"]}
    try:
        ct.create_trail(**args)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TrailAlreadyExistsException":
            raise
        ct.update_trail(**args)
    ct.put_event_selectors(TrailName=trail["name"],
                           AdvancedEventSelectors=trail["advanced_event_selectors"])
    ct.start_logging(Name=trail["name"])
    got = ct.get_event_selectors(TrailName=trail["name"]).get("AdvancedEventSelectors", [])
    report.checks.append(Check(f"trail-selectors:{trail['name']}",
                               _normalise(got) == _normalise(trail["advanced_event_selectors"]),
                               f"read back {got}"))
    described = ct.get_trail(Name=trail["name"])["Trail"]
    report.checks.append(Check(
        f"trail:{trail['name']}",
        described.get("S3BucketName") == trail["s3_bucket"]
        and bool(described.get("LogFileValidationEnabled")) == trail["log_file_validation"],
        f"bucket {described.get('S3BucketName')}",
    ))
    status = ct.get_trail_status(Name=trail["name"])
    report.checks.append(Check(f"trail-logging:{trail['name']}", bool(status.get("IsLogging")),
                               "logging started"))


def _normalise(selectors: list[dict[str, Any]]) -> list[Any]:
    out = []
    for s in selectors:
        fields = sorted(
            (f["Field"], tuple(sorted((k, tuple(v)) for k, v in f.items() if k != "Field")))
            for f in s.get("FieldSelectors", [])
        )
        out.append((s.get("Name"), fields))
    return sorted(out)


def apply_audit_hooks(spec: dict[str, Any], session: Any) -> AuditApplyReport:
    """Create the audit buckets, access logging and trail of ``spec``; read back and verify.

    Idempotent: existing buckets owned by the caller and an existing trail are updated.
    Returns a report of verified facts; AWS errors propagate as botocore ``ClientError``.
    """
    report = AuditApplyReport()
    account = session.client("sts").get_caller_identity()["Account"]
    _apply_buckets(session, spec, account, report)
    _apply_logging(session, spec, report)
    if spec.get("trail"):
        _apply_trail(session, spec["trail"], report)
    return report


def probe_object_lock(session: Any, bucket: str, region: str) -> Check:
    """Write a probe object and prove its locked version cannot be deleted.

    The probe stays in the bucket for the retention period (that is the point).
    """
    from botocore.exceptions import ClientError

    s3 = session.client("s3", region_name=region)
    put = s3.put_object(Bucket=bucket, Key="cloudplan-lock-probe", Body=b"probe")
    version = put.get("VersionId")
    try:
        s3.delete_object(Bucket=bucket, Key="cloudplan-lock-probe", VersionId=version)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        return Check(f"lock-probe:{bucket}", code == "AccessDenied", f"delete refused: {code}")
    return Check(f"lock-probe:{bucket}", False, f"version {version} was deleted")
