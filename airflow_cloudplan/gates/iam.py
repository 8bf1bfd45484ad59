"""Least-privilege IAM for stage identities, its lint, and the fail-closed residency guard-rail.

**Stage policies.** :func:`stage_iam_policy` grants a stage's identity exactly the data
locations the stage uses under its option — the one placement model of
:mod:`airflow_cloudplan.dataflow.locations` (dataset homes it reads or writes, its caches,
replicas, partitions and checkpoints), nothing else:

* read locations → ``s3:GetObject`` on ``arn:aws:s3:::<bucket>/<prefix>/*``;
* written locations → ``s3:PutObject`` and ``s3:AbortMultipartUpload`` (a writer must be
  able to clean up a failed multipart upload) on the same object ARNs;
* every prefix → ``s3:ListBucket`` on ``arn:aws:s3:::<bucket>`` with ``StringLike
  s3:prefix [<prefix>/, <prefix>/*]``: a stage lists its own prefixes, nothing else;
* a cache (an S3 Express One Zone directory bucket, one per dataset) →
  ``s3express:CreateSession`` on ``arn:aws:s3express:<region>:<account>:bucket/<name>``
  with ``s3express:SessionMode = ReadWrite`` (a read-through cache is filled by its reader);
* a dataset encrypted with SSE-KMS → ``kms:Decrypt`` on its key (readers and writers:
  multipart uploads read back data keys) and ``kms:GenerateDataKey`` for writers; a copy
  in another region uses the multi-Region key's replica there;
* one ``Deny`` of every S3 action on those resources when ``aws:SecureTransport`` is
  false (no plaintext access, whatever else grants it).

The account of ``s3express`` ARNs is the placeholder ``${account_id}`` (filled when the
policy is deployed, like the audit hooks'); :func:`lint_policy` lints a copy with AWS's
documentation account ``111122223333`` in its place.

The Allow statements are generated with ``policy_sentry`` in CRUD mode from its bundled,
offline IAM database (which proves each action applies to that resource type) and then
tightened: policy_sentry's access-level groups (every ``s3:GetObject*`` for "read",
``s3:DeleteObject``/retention for "write", every ``kms:GenerateDataKey*``) are cut down to
the single actions each access needs, and the prefix conditions are added.

**Allowed wildcard patterns** (:func:`lint_policy` rejects everything else): no ``*`` or
``?`` in any action of an ``Allow``; resources are either a bucket ARN without wildcards,
an object ARN whose only wildcard is the trailing ``/*`` after a literal, non-empty dataset
prefix (object ARNs cannot be enumerated), an ``s3express`` bucket or a KMS key ARN;
``s3:prefix`` condition values may end in ``/*``. ``Deny`` statements may use wildcards.

**Residency guard-rail** (:func:`residency_guardrail`): an AWS Service Control Policy.
Every stage role carries one tag ``cloudplan-class-<class> = true`` per sensitivity class
it handles by lineage (see :func:`class_tag`). For each class the pipeline uses that
restricts regions, one statement denies a principal carrying its tag any request outside
the class's regions (global services exempt via ``NotAction``, the standard AWS example
list); and, for every class with data at known locations, a second statement denies
*any* principal **without** the tag every data-plane action on those locations — so an
untagged identity is refused (fail-closed), instead of being unrestricted.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.dataflow.lineage import lineage_of
from airflow_cloudplan.dataflow.locations import (
    DataLocation,
    is_directory_bucket,
    split_s3,
    stage_locations,
)
from airflow_cloudplan.errors import GateError, Problem
from airflow_cloudplan.gates.validate import allowed_regions_of
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import StageOption

IAM_VERSION = "2012-10-17"
SENSITIVITY_TAG = "cloudplan-sensitivity"
"""Tag naming the most sensitive class a role handles (descriptive)."""
CLASS_TAG_PREFIX = "cloudplan-class-"
"""``cloudplan-class-<class> = true`` on a role for each class it handles (enforced)."""
ACCOUNT_PLACEHOLDER = "${account_id}"
LINT_ACCOUNT = "111122223333"
"""AWS's documentation example account: substituted for the placeholder when linting."""

GLOBAL_SERVICE_ACTIONS: tuple[str, ...] = (
    "a4b:*", "account:*", "acm:*", "aws-marketplace-management:*", "aws-marketplace:*",
    "aws-portal:*", "budgets:*", "ce:*", "chime:*", "cloudfront:*", "config:*", "cur:*",
    "directconnect:*", "ec2:DescribeRegions", "ec2:DescribeTransitGateways",
    "ec2:DescribeVpnGateways", "fms:*", "globalaccelerator:*", "health:*", "iam:*",
    "importexport:*", "kms:*", "mobileanalytics:*", "networkmanager:*", "organizations:*",
    "pricing:*", "route53:*", "route53domains:*", "route53-recovery-cluster:*",
    "route53-recovery-control-config:*", "route53-recovery-readiness:*", "s3:GetAccountPublic*",
    "s3:ListAllMyBuckets", "s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*",
    "shield:*", "sts:*", "support:*", "trustedadvisor:*", "waf-regional:*", "waf:*",
    "wafv2:*", "wellarchitected:*",
)
"""Actions exempt from the region deny (AWS's documented example SCP, global services)."""

ESCALATION_ACTIONS: tuple[str, ...] = (
    "iam:AddUserToGroup", "iam:AttachGroupPolicy", "iam:AttachRolePolicy",
    "iam:AttachUserPolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile",
    "iam:CreatePolicyVersion", "iam:PassRole", "iam:PutGroupPolicy", "iam:PutRolePolicy",
    "iam:PutUserPolicy", "iam:SetDefaultPolicyVersion", "iam:UpdateAssumeRolePolicy",
    "iam:UpdateLoginProfile", "sts:AssumeRole", "lambda:CreateFunction",
    "lambda:UpdateFunctionCode", "glue:UpdateDevEndpoint", "cloudformation:CreateStack",
    "ec2:RunInstances", "s3:PutBucketPolicy", "s3:PutBucketAcl", "s3:PutObjectAcl",
    "s3:DeleteBucketPolicy", "kms:PutKeyPolicy", "kms:CreateGrant",
)
"""Actions that let an identity widen its own or another identity's privileges."""

_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_OBJECT_ARN = re.compile(r"^arn:aws:s3:::[a-z0-9][a-z0-9.\-]+/[^*?]+/\*$")
_BUCKET_ARN = re.compile(r"^arn:aws:s3:::[a-z0-9][a-z0-9.\-]+$")
_EXPRESS_ARN = re.compile(
    r"^arn:aws:s3express:[a-z0-9\-]+:\d{12}:bucket/[a-z0-9][a-z0-9\-]*--[a-z0-9\-]+--x-s3$"
)
_KMS_ARN = re.compile(r"^arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:key/[A-Za-z0-9\-]+$")


@dataclass(frozen=True)
class Finding:
    """One lint finding on a policy document."""

    source: str  # "parliament" or "cloudplan"
    issue: str
    severity: str
    detail: str
    location: str = ""


def s3_location(uri: str) -> tuple[str, str] | None:
    """``(bucket, prefix)`` of an ``s3://bucket/prefix/`` URI; ``None`` for a non-S3 URI.

    The prefix is returned without leading or trailing slashes.
    """
    m = _S3_URI.match(uri.strip())
    if m is None:
        return None
    return m.group("bucket"), (m.group("prefix") or "").strip("/")


def class_tag(class_name: str) -> str:
    """The role tag key that marks a role as handling ``class_name`` data."""
    return CLASS_TAG_PREFIX + re.sub(r"[^A-Za-z0-9_.:/=+\-@]+", "-", class_name)


@dataclass
class Grants:
    """What an identity may touch, as ARNs by access (built from data locations)."""

    read: set[str] = field(default_factory=set)
    write: set[str] = field(default_factory=set)
    prefixes: dict[str, set[str]] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    decrypt: set[str] = field(default_factory=set)
    encrypt: set[str] = field(default_factory=set)

    def add(self, loc: DataLocation, account: str) -> None:
        """Grant what a location needs (raises a located error for a prefix-less URI)."""
        parts = split_s3(loc.uri) if loc.uri else None
        if parts is None:
            return  # not on S3: nothing IAM can scope
        bucket, prefix = parts
        if is_directory_bucket(bucket):
            self.sessions.add(f"arn:aws:s3express:{loc.region}:{account}:bucket/{bucket}")
        else:
            if not prefix or "*" in prefix or "?" in prefix:
                field_path = (f"datasets[{loc.dataset}].uri" if loc.dataset
                              else f"stages[{loc.stage}]")
                raise GateError("least-privilege policy cannot be generated", [Problem(
                    message=(f"{loc.label} ({loc.uri}) has no literal prefix, so stage "
                             f"'{loc.stage}' could only be granted the whole bucket"),
                    path=field_path,
                    hint="give every S3 dataset its own prefix, e.g. s3://bucket/dataset/",
                )])
            arn = f"arn:aws:s3:::{bucket}/{prefix}/*"
            if loc.reads:
                self.read.add(arn)
            if loc.writes:
                self.write.add(arn)
            self.prefixes.setdefault(bucket, set()).add(prefix)
        if loc.kms_key_arn is not None:
            self.decrypt.add(loc.kms_key_arn)
            if loc.writes:
                self.encrypt.add(loc.kms_key_arn)

    @property
    def empty(self) -> bool:
        """Nothing to grant."""
        return not (self.read or self.write or self.prefixes or self.sessions or self.decrypt)

    def resources(self) -> list[str]:
        """Every S3 resource granted (objects, buckets, directory buckets)."""
        buckets = {f"arn:aws:s3:::{b}" for b in self.prefixes}
        return sorted(self.read | self.write | buckets | self.sessions)


def _policy_sentry(read: list[str], write: list[str], listing: list[str]) -> dict[str, Any]:
    from policy_sentry.command.write_policy import write_policy_with_template
    from policy_sentry.writing.template import get_crud_template_dict

    cfg = copy.deepcopy(get_crud_template_dict())
    cfg.update({"name": "cloudplan", "read": read, "write": write, "list": listing})
    return dict(write_policy_with_template(cfg))


def _confirmed(generated: dict[str, Any], action: str, arns: Iterable[str]) -> list[str]:
    """Check policy_sentry granted ``action`` on every ARN; return the ARNs sorted."""
    wanted = sorted(set(arns))
    granted: set[str] = set()
    for st in generated.get("Statement", []):
        actions = st.get("Action", [])
        if action in (actions if isinstance(actions, list) else [actions]):
            res = st.get("Resource", [])
            granted.update(res if isinstance(res, list) else [res])
    missing = [a for a in wanted if _lintable(a) not in granted]
    if missing:
        raise GateError("policy_sentry did not confirm a required permission", [Problem(
            message=f"{action} on {', '.join(missing)} is not in policy_sentry's output",
            hint="update policy_sentry's IAM database (policy_sentry initialize --fetch)",
        )])
    return wanted


def _lintable(value: str) -> str:
    return value.replace(ACCOUNT_PLACEHOLDER, LINT_ACCOUNT)


def grants_policy(grants: Grants) -> dict[str, Any]:
    """The policy document of a set of grants (see the module docstring)."""
    statements: list[dict[str, Any]] = []
    if grants.empty:
        return {"Version": IAM_VERSION, "Statement": statements}
    buckets = [f"arn:aws:s3:::{b}" for b in sorted(grants.prefixes)]
    generated = _policy_sentry(
        [_lintable(a) for a in sorted(grants.read)],
        [_lintable(a) for a in sorted(grants.write | grants.sessions | grants.decrypt)],
        buckets,
    )
    if grants.read:
        statements.append({"Sid": "ReadData", "Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": _confirmed(generated, "s3:GetObject", grants.read)})
    if grants.write:
        _confirmed(generated, "s3:AbortMultipartUpload", grants.write)
        statements.append({"Sid": "WriteData", "Effect": "Allow",
                           "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
                           "Resource": _confirmed(generated, "s3:PutObject", grants.write)})
    _confirmed(generated, "s3:ListBucket", buckets)
    for i, bucket in enumerate(sorted(grants.prefixes)):
        values = sorted(v for p in grants.prefixes[bucket] for v in (f"{p}/", f"{p}/*"))
        statements.append({
            "Sid": f"ListPrefixes{i}", "Effect": "Allow",
            "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"],
            "Condition": {"StringLike": {"s3:prefix": values}},
        })
    if grants.sessions:
        statements.append({
            "Sid": "CacheSessions", "Effect": "Allow", "Action": ["s3express:CreateSession"],
            "Resource": _confirmed(generated, "s3express:CreateSession", grants.sessions),
            "Condition": {"StringEquals": {"s3express:SessionMode": "ReadWrite"}},
        })
    if grants.decrypt:
        statements.append({"Sid": "DecryptData", "Effect": "Allow", "Action": ["kms:Decrypt"],
                           "Resource": _confirmed(generated, "kms:Decrypt", grants.decrypt)})
    if grants.encrypt:
        statements.append({
            "Sid": "EncryptData", "Effect": "Allow", "Action": ["kms:GenerateDataKey"],
            "Resource": _confirmed(generated, "kms:GenerateDataKey", grants.encrypt),
        })
    actions = ["s3:*", "s3express:*"] if grants.sessions else ["s3:*"]
    statements.append({
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": actions,
        "Resource": grants.resources(),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })
    return {"Version": IAM_VERSION, "Statement": statements}


def stage_grants(
    inp: PlanningInput, stage_name: str, option: StageOption, account: str = ACCOUNT_PLACEHOLDER
) -> Grants:
    """The grants of one stage under one option: every location it reads or writes."""
    grants = Grants()
    for loc in stage_locations(inp, stage_name, option):
        grants.add(loc, account)
    return grants


def stage_iam_policy(
    inp: PlanningInput, stage_name: str, option: StageOption, account: str = ACCOUNT_PLACEHOLDER
) -> dict[str, Any]:
    """The least-privilege IAM policy document of the stage's identity under ``option``.

    A stage with no S3 location gets an empty ``Statement`` list (attach nothing).
    """
    return grants_policy(stage_grants(inp, stage_name, option, account))


def identity_policy(
    inp: PlanningInput, assignment: Mapping[str, StageOption], stages: Iterable[str],
    account: str = ACCOUNT_PLACEHOLDER,
) -> dict[str, Any]:
    """The policy of an identity several stages share: the union of their grants."""
    grants = Grants()
    for k in stages:
        for loc in stage_locations(inp, k, assignment[k]):
            grants.add(loc, account)
    return grants_policy(grants)


def _import_parliament() -> Any:
    """Import parliament, shimming ``pkg_resources`` when setuptools is absent.

    parliament 1.6.4 calls ``pkg_resources.resource_filename`` at import time but does not
    declare setuptools; modern environments have no ``pkg_resources``. The shim resolves
    package data with :mod:`importlib.resources`, which is all parliament uses it for.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            # parliament's regexes are non-raw strings: an invalid-escape warning
            # (DeprecationWarning on 3.11, SyntaxWarning on 3.12+) when first compiled.
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", ResourceWarning)  # it never closes its data files
            import parliament
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise GateError("policy lint needs the optional 'parliament' package", [Problem(
                message=f"cannot import parliament ({exc})",
                hint="pip install 'airflow-cloudplan[iam]'")]) from exc
        import importlib.resources

        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            return str(importlib.resources.files(package).joinpath(resource))

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules.setdefault("pkg_resources", shim)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", ResourceWarning)
            import parliament
    return parliament


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _own_findings(doc: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    escalation = {a.lower() for a in ESCALATION_ACTIONS}
    for i, st in enumerate(_as_list(doc.get("Statement", []))):
        where = f"Statement[{i}]"
        allow = st.get("Effect") == "Allow"
        for key in ("NotAction", "NotResource"):
            if key in st and allow:
                out.append(Finding("cloudplan", "NEGATED_ELEMENT", "HIGH",
                                   f"{key} grants everything not listed", where))
        for action in _as_list(st.get("Action", [])):
            if allow and ("*" in action or "?" in action):
                out.append(Finding("cloudplan", "WILDCARD_ACTION", "HIGH", action, where))
            if allow and action.lower() in escalation:
                out.append(Finding("cloudplan", "PRIVILEGE_ESCALATION", "HIGH", action, where))
        for res in _as_list(st.get("Resource", [])):
            if ("*" in res or "?" in res) and not _OBJECT_ARN.match(res):
                out.append(Finding("cloudplan", "WILDCARD_RESOURCE", "HIGH", res, where))
            elif "*" not in res and not any(
                p.match(res) for p in (_BUCKET_ARN, _EXPRESS_ARN, _KMS_ARN)
            ) and not res.startswith("arn:aws:s3:::"):
                out.append(Finding("cloudplan", "NON_DATA_RESOURCE", "MEDIUM", res, where))
    return out


def _parliament_false_positive(issue: str, detail: Any) -> bool:
    """Parliament 1.6.4 findings that are wrong for our policies (see docs/gates.md).

    ``RESOURCE_MISMATCH`` for ``s3express:CreateSession``: parliament treats every resource
    type containing "bucket" as an S3 bucket ARN, which may not contain ``/``, so it
    rejects the documented ``arn:…:s3express:…:bucket/<name>`` format. Our own check
    (``_EXPRESS_ARN``) validates those ARNs strictly instead.
    """
    if issue != "RESOURCE_MISMATCH" or not isinstance(detail, list) or not detail:
        return False
    return all(isinstance(d, dict) and d.get("action") == "s3express:CreateSession"
               for d in detail)


def lint_policy(doc: dict[str, Any]) -> list[Finding]:
    """Parliament's findings plus our wildcard and privilege-escalation checks.

    The account placeholder ``${account_id}`` is linted as AWS's example account.
    """
    parliament = _import_parliament()
    doc = json.loads(_lintable(json.dumps(doc)))
    analysed = parliament.analyze_policy_string(json.dumps(doc))
    out: list[Finding] = []
    for raw in analysed.findings:
        f = parliament.enhance_finding(raw)
        if _parliament_false_positive(f.issue, f.detail):
            continue
        detail = str(f.detail)
        out.append(Finding("parliament", f.issue, str(f.severity),
                           detail if len(detail) <= 300 else detail[:297] + "...",
                           str(f.location)))
    return out + _own_findings(doc)


SCP_MAX_CHARS = 5120
"""AWS Organizations' size limit of one service control policy (minified JSON)."""
_DATA_PLANE_DENY = ("s3:*",)


def _sid(prefix: str, class_name: str) -> str:
    return prefix + "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", class_name))


def class_locations(
    inp: PlanningInput, assignment: Mapping[str, StageOption] | None = None
) -> dict[str, set[str]]:
    """Per class, the S3 resources (object ARNs, directory buckets) holding its data.

    Dataset homes always; with an ``assignment``, also every cache, replica, partition
    and checkpoint it creates (the locations of :mod:`airflow_cloudplan.dataflow`).
    """
    lineage = lineage_of(inp.pipeline, inp.policy.governance)
    locs: list[DataLocation] = []
    if assignment is not None:
        for k, o in assignment.items():
            locs.extend(stage_locations(inp, k, o))
    out: dict[str, set[str]] = {}

    def record(classes: Iterable[str], uri: str | None, region: str) -> None:
        parts = split_s3(uri) if uri else None
        if parts is None or (not parts[1] and not is_directory_bucket(parts[0])):
            return
        bucket, prefix = parts
        arn = (f"arn:aws:s3express:{region}:{ACCOUNT_PLACEHOLDER}:bucket/{bucket}"
               if is_directory_bucket(bucket) else f"arn:aws:s3:::{bucket}/{prefix}/*")
        for c in classes:
            out.setdefault(c, set()).add(arn)

    for d in inp.pipeline.datasets:
        record(lineage.dataset(d.name), d.uri, d.home_region)
    for loc in locs:
        record(loc.classes, loc.uri, loc.region)
    return out


def residency_guardrail(
    inp: PlanningInput, assignment: Mapping[str, StageOption] | None = None
) -> dict[str, Any]:
    """The AWS SCP that keeps each residency-restricted class where it may be (fail-closed).

    Per class the pipeline handles (by lineage) whose ``allowed_regions`` or
    ``allowed_jurisdictions`` restrict it:

    * ``DenyOutside<Class>``: principals tagged ``cloudplan-class-<class> = true`` may
      not make requests outside the class's regions (global-service actions exempt);
    * ``DenyUntagged<Class>Data``: principals *without* that tag may not touch the
      class's data locations at all (``s3:*`` on its object ARNs, ``s3express:*`` on its
      cache buckets). Without it, an identity nobody tagged would not be restricted.
    """
    lineage = lineage_of(inp.pipeline, inp.policy.governance)
    used: set[str] = set()
    for s in inp.pipeline.stages:
        used |= lineage.handled(s.name)
    resources = class_locations(inp, assignment)
    statements: list[dict[str, Any]] = []
    for cls in sorted(inp.policy.governance.classes, key=lambda c: (-c.rank, c.name)):
        if cls.name not in used:
            continue
        if cls.allowed_regions is None and cls.allowed_jurisdictions is None:
            continue
        tag = f"aws:PrincipalTag/{class_tag(cls.name)}"
        statements.append({
            "Sid": _sid("DenyOutside", cls.name),
            "Effect": "Deny",
            "NotAction": list(GLOBAL_SERVICE_ACTIONS),
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:RequestedRegion": allowed_regions_of(inp, cls)},
                "StringEquals": {tag: "true"},
            },
        })
        arns = sorted(resources.get(cls.name, ()))
        if not arns:
            continue
        express = [a for a in arns if ":s3express:" in a]
        statements.append({
            "Sid": _sid("DenyUntagged", cls.name) + "Data",
            "Effect": "Deny",
            "Action": [*_DATA_PLANE_DENY, *(["s3express:*"] if express else [])],
            "Resource": arns,
            "Condition": {"StringNotEquals": {tag: "true"}},
        })
    return {"Version": IAM_VERSION, "Statement": statements}


def split_scp(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The guard-rail packed into SCPs within AWS's 5,120-character limit, in order.

    A single statement over the limit is a located error: too many data prefixes of one
    class for one SCP.
    """
    def size(statements: list[dict[str, Any]]) -> int:
        body = {"Version": IAM_VERSION, "Statement": statements}
        return len(json.dumps(body, separators=(",", ":")))

    docs: list[list[dict[str, Any]]] = []
    for st in doc.get("Statement", []):
        if size([st]) > SCP_MAX_CHARS:
            raise GateError("the residency guard-rail does not fit in a service control policy",
                            [Problem(
                                message=(f"statement {st.get('Sid')} alone is {size([st])} "
                                         f"characters (limit {SCP_MAX_CHARS})"),
                                hint="keep a class's datasets under fewer buckets/prefixes "
                                     "(one prefix per class lets one ARN cover them)",
                            )])
        if docs and size([*docs[-1], st]) <= SCP_MAX_CHARS:
            docs[-1].append(st)
        else:
            docs.append([st])
    return [{"Version": IAM_VERSION, "Statement": sts} for sts in docs]
