"""Least-privilege IAM for stage identities, its lint, and the residency guard-rail.

**Stage policies.** :func:`stage_iam_policy` grants a stage's identity exactly what its
declared S3 datasets need:

* reads  → ``s3:GetObject`` on ``arn:aws:s3:::<bucket>/<prefix>/*``;
* writes → ``s3:PutObject`` on ``arn:aws:s3:::<bucket>/<prefix>/*`` (multipart uploads are
  authorised by ``s3:PutObject`` too);
* every declared dataset (read or written) → ``s3:ListBucket`` on ``arn:aws:s3:::<bucket>``
  with ``StringLike s3:prefix [<prefix>/, <prefix>/*]``: a stage may list its own prefixes
  (readers discover objects, writers check for existing output on retries), nothing else.

The statements are generated with ``policy_sentry`` in CRUD mode from its bundled, offline
IAM database (which proves each action applies to that resource type) and then tightened:
policy_sentry's access-level groups (e.g. every ``s3:GetObject*`` for "read", including
ACL, tagging and torrent reads; ``s3:DeleteObject`` and replication for "write") are cut
down to the single action each access needs, and the prefix condition is added.

**Allowed wildcard patterns** (:func:`lint_policy` rejects everything else): no ``*`` or
``?`` in any action; resources are either a bucket ARN without wildcards or an object ARN
whose only wildcard is the trailing ``/*`` after a literal, non-empty dataset prefix
(object ARNs cannot be enumerated); ``s3:prefix`` condition values may end in ``/*``.

**Residency guard-rail.** :func:`residency_guardrail` emits the AWS Service Control Policy
that denies any request outside the regions a sensitivity class allows, for principals
tagged ``cloudplan-sensitivity=<class>``; global services whose requests are resolved in
``us-east-1`` are exempt via ``NotAction`` (the standard AWS example list).
"""

from __future__ import annotations

import copy
import json
import re
import sys
import types
from dataclasses import dataclass
from typing import Any

from airflow_cloudplan.errors import GateError, Problem
from airflow_cloudplan.gates.exposure import stage_sensitivity
from airflow_cloudplan.gates.validate import allowed_regions_of
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import StageOption

IAM_VERSION = "2012-10-17"
SENSITIVITY_TAG = "cloudplan-sensitivity"

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
_ACCESS_ACTION = {"read": "s3:GetObject", "write": "s3:PutObject", "list": "s3:ListBucket"}
_OBJECT_ARN = re.compile(r"^arn:aws:s3:::[a-z0-9][a-z0-9.\-]+/[^*?]+/\*$")
_BUCKET_ARN = re.compile(r"^arn:aws:s3:::[a-z0-9][a-z0-9.\-]+$")


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


def _dataset_arns(inp: PlanningInput, names: tuple[str, ...], stage: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for name in dict.fromkeys(names):
        d = inp.pipeline.dataset_by_name.get(name)
        if d is None:
            continue
        loc = s3_location(d.uri)
        if loc is None:
            continue
        bucket, prefix = loc
        if not prefix or "*" in prefix or "?" in prefix:
            problems.append(Problem(
                message=(f"dataset '{name}' ({d.uri}) has no literal prefix, so stage "
                         f"'{stage}' could only be granted the whole bucket"),
                path=f"datasets[{name}].uri",
                hint="give every S3 dataset its own prefix, e.g. s3://bucket/dataset/",
            ))
            continue
        out.append((bucket, prefix))
    if problems:
        raise GateError("least-privilege policy cannot be generated", problems)
    return out


def _policy_sentry(read: list[str], write: list[str], listing: list[str]) -> dict[str, Any]:
    from policy_sentry.command.write_policy import write_policy_with_template
    from policy_sentry.writing.template import get_crud_template_dict

    cfg = copy.deepcopy(get_crud_template_dict())
    cfg.update({"name": "cloudplan", "read": read, "write": write, "list": listing})
    return dict(write_policy_with_template(cfg))


def _tightened(generated: dict[str, Any], access: str, arns: list[str]) -> list[str]:
    """Check policy_sentry granted the one action we want on ``arns``; return the ARNs."""
    action = _ACCESS_ACTION[access]
    granted: set[str] = set()
    for st in generated.get("Statement", []):
        actions = st.get("Action", [])
        if action in (actions if isinstance(actions, list) else [actions]):
            res = st.get("Resource", [])
            granted.update(res if isinstance(res, list) else [res])
    missing = [a for a in arns if a not in granted]
    if missing:
        raise GateError("policy_sentry did not confirm a required permission", [Problem(
            message=f"{action} on {', '.join(missing)} is not in policy_sentry's output",
            hint="update policy_sentry's IAM database (policy_sentry initialize --fetch)",
        )])
    return sorted(set(arns))


def stage_iam_policy(inp: PlanningInput, stage_name: str, option: StageOption) -> dict[str, Any]:
    """The least-privilege IAM policy document of the stage's identity under ``option``.

    The data-plane permissions depend only on the declared datasets: the option decides
    *where* the identity runs (enforced by the residency guard-rail), not what it reaches.
    A stage with no S3 dataset gets an empty ``Statement`` list (attach nothing).
    """
    stage = inp.pipeline.stage_by_name[stage_name]
    reads = _dataset_arns(inp, stage.reads, stage_name)
    writes = _dataset_arns(inp, stage.writes, stage_name)
    read_arns = [f"arn:aws:s3:::{b}/{p}/*" for b, p in reads]
    write_arns = [f"arn:aws:s3:::{b}/{p}/*" for b, p in writes]
    prefixes: dict[str, set[str]] = {}
    for b, p in (*reads, *writes):
        prefixes.setdefault(b, set()).add(p)
    bucket_arns = [f"arn:aws:s3:::{b}" for b in sorted(prefixes)]
    statements: list[dict[str, Any]] = []
    if read_arns or write_arns or bucket_arns:
        generated = _policy_sentry(read_arns, write_arns, bucket_arns)
        if read_arns:
            statements.append({"Sid": "ReadDeclaredDatasets", "Effect": "Allow",
                               "Action": ["s3:GetObject"],
                               "Resource": _tightened(generated, "read", read_arns)})
        if write_arns:
            statements.append({"Sid": "WriteDeclaredDatasets", "Effect": "Allow",
                               "Action": ["s3:PutObject"],
                               "Resource": _tightened(generated, "write", write_arns)})
        _tightened(generated, "list", bucket_arns)
        for i, bucket in enumerate(sorted(prefixes)):
            values = sorted(v for p in prefixes[bucket] for v in (f"{p}/", f"{p}/*"))
            statements.append({
                "Sid": f"ListDeclaredPrefixes{i}", "Effect": "Allow",
                "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": values}},
            })
    return {"Version": IAM_VERSION, "Statement": statements}


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
        for key in ("NotAction", "NotResource"):
            if key in st:
                out.append(Finding("cloudplan", "NEGATED_ELEMENT", "HIGH",
                                   f"{key} grants everything not listed", where))
        for action in _as_list(st.get("Action", [])):
            if "*" in action or "?" in action:
                out.append(Finding("cloudplan", "WILDCARD_ACTION", "HIGH", action, where))
            if st.get("Effect") == "Allow" and action.lower() in escalation:
                out.append(Finding("cloudplan", "PRIVILEGE_ESCALATION", "HIGH", action, where))
        for res in _as_list(st.get("Resource", [])):
            if ("*" in res or "?" in res) and not _OBJECT_ARN.match(res):
                out.append(Finding("cloudplan", "WILDCARD_RESOURCE", "HIGH", res, where))
            elif "*" not in res and not _BUCKET_ARN.match(res) and not res.startswith(
                "arn:aws:s3:::"
            ):
                out.append(Finding("cloudplan", "NON_S3_RESOURCE", "MEDIUM", res, where))
    return out


KNOWN_PARLIAMENT_FALSE_POSITIVES: frozenset[str] = frozenset()
"""Parliament issues we ignore, with the reason in docs/gates.md (none for our policies)."""


def lint_policy(doc: dict[str, Any]) -> list[Finding]:
    """Parliament's findings plus our wildcard and privilege-escalation checks."""
    parliament = _import_parliament()
    analysed = parliament.analyze_policy_string(json.dumps(doc))
    out: list[Finding] = []
    for raw in analysed.findings:
        f = parliament.enhance_finding(raw)
        if f.issue in KNOWN_PARLIAMENT_FALSE_POSITIVES:
            continue
        detail = str(f.detail)
        out.append(Finding("parliament", f.issue, str(f.severity),
                           detail if len(detail) <= 300 else detail[:297] + "...",
                           str(f.location)))
    return out + _own_findings(doc)


def residency_guardrail(inp: PlanningInput) -> dict[str, Any]:
    """The AWS SCP that keeps each restricted class's principals in its allowed regions.

    One ``Deny`` statement per sensitivity class that restricts regions and is used by the
    pipeline: requests to a region outside the class's allowed regions are denied for
    principals tagged ``cloudplan-sensitivity=<class>`` (stage identities carry their
    stage's class as that tag), except global-service actions.
    """
    used: dict[str, int] = {}
    for s in inp.pipeline.stages:
        cls = stage_sensitivity(inp, s.name)
        if cls is not None:
            used[cls.name] = cls.rank
    statements: list[dict[str, Any]] = []
    for cls in sorted(inp.policy.governance.classes, key=lambda c: (-c.rank, c.name)):
        if cls.name not in used:
            continue
        if cls.allowed_regions is None and cls.allowed_jurisdictions is None:
            continue
        regions = allowed_regions_of(inp, cls)
        sid = "DenyOutside" + "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", cls.name))
        statements.append({
            "Sid": sid,
            "Effect": "Deny",
            "NotAction": list(GLOBAL_SERVICE_ACTIONS),
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:RequestedRegion": regions},
                "StringEquals": {f"aws:PrincipalTag/{SENSITIVITY_TAG}": cls.name},
            },
        })
    return {"Version": IAM_VERSION, "Statement": statements}
