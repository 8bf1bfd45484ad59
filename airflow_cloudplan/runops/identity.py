"""Identities that enforce residency: one IAM role per stage (or one shared), bound to tasks.

The plan's isolation decides the identities: a stage with ``scoped`` isolation gets its
own role ``cp-<pipeline>-<stage>``; every ``shared`` stage runs as one role
``cp-<pipeline>-shared`` (whose blast radius the risk model already charges). A role

* carries the tags the residency guard-rail enforces: ``cloudplan-class-<class> = true``
  for every class its stages handle by lineage, plus the descriptive
  ``cloudplan-sensitivity`` (the most sensitive class), ``cloudplan-pipeline`` and
  ``cloudplan-stages``;
* holds one inline policy: the union of its stages' least-privilege grants
  (:func:`airflow_cloudplan.gates.iam.identity_policy`);
* trusts exactly the runtimes its stages are bound to:

  ============================  ===========================================================
  executor                      binding
  ============================  ===========================================================
  ``KubernetesExecutor``        the pod runs as ServiceAccount ``cp-<role suffix>`` in the
                                deployment's namespace, annotated for IRSA
                                (``eks.amazonaws.com/role-arn``); the role trusts the
                                cluster's OIDC provider for exactly that service account
  ``CeleryExecutor``            the task's queue is per identity; the workers consuming it
                                run with the role (EC2 instance profile: the role trusts
                                ``ec2.amazonaws.com``)
  ``LocalExecutor`` (others)    the task assumes the role through its AWS connection; the
                                Airflow worker's own role must be trusted to assume every
                                stage role, so this **does not isolate** stages from each
                                other on the host — it only scopes what stage code reaches
  ============================  ===========================================================

Account, OIDC provider and the Airflow worker's role come from the pipeline's
``deployment`` block; while unknown they stay placeholders (``${account_id}``,
``${eks_oidc_provider}``, ``${airflow_worker_role_arn}``) named in the role's ``Notes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from airflow_cloudplan.dataflow.lineage import known_classes, lineage_of
from airflow_cloudplan.model.plan import Isolation
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement

ROLE_PATH = "/cloudplan/"
WORKER_ROLE_PLACEHOLDER = "${airflow_worker_role_arn}"
OIDC_PLACEHOLDER = "${eks_oidc_provider}"
SERVICE_ACCOUNT_ANNOTATION = "eks.amazonaws.com/role-arn"
KUBERNETES = "KubernetesExecutor"
CELERY = "CeleryExecutor"
_MAX_ROLE = 64


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def role_name(pipeline: str, suffix: str) -> str:
    """``cp-<pipeline>-<suffix>``, at most 64 characters (IAM's limit)."""
    name = f"cp-{_clean(pipeline)}-{_clean(suffix)}"
    if len(name) <= _MAX_ROLE:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_ROLE - 9].rstrip('-')}-{digest}"


def identity_suffix(p: StagePlacement) -> str:
    """The stage name (scoped) or ``shared``: what queues and roles are named after."""
    return "shared" if p.option.isolation is Isolation.SHARED else p.name


@dataclass(frozen=True)
class Identity:
    """One role and the stages that run as it."""

    role: str
    stages: tuple[str, ...]
    classes: tuple[str, ...]
    executors: frozenset[str]

    @property
    def service_account(self) -> str:
        """The Kubernetes service account bound to the role (DNS-1123 name)."""
        return self.role[:63].rstrip("-")


def account_of(ctx: ComposeContext) -> str:
    """The deployment's account id, or the ``${account_id}`` placeholder."""
    from airflow_cloudplan.gates.iam import ACCOUNT_PLACEHOLDER

    return ctx.inp.pipeline.deployment.aws_account_id or ACCOUNT_PLACEHOLDER


def role_arn(ctx: ComposeContext, role: str) -> str:
    """The role's ARN in the deployment's account."""
    return f"arn:aws:iam::{account_of(ctx)}:role{ROLE_PATH}{role}"


def identities(ctx: ComposeContext, executors: dict[str, str]) -> list[Identity]:
    """The plan's identities, given each stage's executor (see the module docstring)."""
    lineage = lineage_of(ctx.inp.pipeline, ctx.inp.policy.governance)
    gov = ctx.inp.policy.governance
    groups: dict[str, list[StagePlacement]] = {}
    for p in ctx.placements:
        groups.setdefault(role_name(ctx.pipeline_name, identity_suffix(p)), []).append(p)
    out: list[Identity] = []
    for role, members in groups.items():
        handled: set[str] = set()
        for p in members:
            handled |= lineage.handled(p.name)
        out.append(Identity(
            role=role,
            stages=tuple(p.name for p in members),
            classes=tuple(c.name for c in known_classes(gov, handled)),
            executors=frozenset(executors[p.name] for p in members),
        ))
    return out


def trust_policy(ctx: ComposeContext, ident: Identity) -> tuple[dict[str, Any], list[str]]:
    """Who may assume the role, and notes on what the deployment block must still say."""
    dep = ctx.inp.pipeline.deployment
    statements: list[dict[str, Any]] = []
    notes: list[str] = []
    if KUBERNETES in ident.executors:
        provider = (dep.eks_oidc_provider or OIDC_PLACEHOLDER).removeprefix("https://")
        if dep.eks_oidc_provider is None:
            notes.append(f"replace {OIDC_PLACEHOLDER} (or set deployment.eks_oidc_provider) "
                         "so Kubernetes pods assume this role through their service account")
        statements.append({
            "Sid": "KubernetesServiceAccount", "Effect": "Allow",
            "Principal": {"Federated":
                          f"arn:aws:iam::{account_of(ctx)}:oidc-provider/{provider}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{provider}:sub": f"system:serviceaccount:{dep.kubernetes_namespace}:"
                                   f"{ident.service_account}",
                f"{provider}:aud": "sts.amazonaws.com",
            }},
        })
    if CELERY in ident.executors:
        statements.append({
            "Sid": "CeleryWorkers", "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole",
        })
    if ident.executors - {KUBERNETES, CELERY}:
        worker = dep.airflow_worker_role_arn or WORKER_ROLE_PLACEHOLDER
        if dep.airflow_worker_role_arn is None:
            notes.append(f"replace {WORKER_ROLE_PLACEHOLDER} (or set "
                         "deployment.airflow_worker_role_arn): LocalExecutor tasks assume "
                         "this role from the Airflow worker's identity")
        statements.append({
            "Sid": "AirflowWorkerAssumes", "Effect": "Allow",
            "Principal": {"AWS": worker}, "Action": "sts:AssumeRole",
        })
        notes.append("LocalExecutor does not isolate stages from each other: the worker's "
                     "identity can assume every stage role")
    return {"Version": "2012-10-17", "Statement": statements}, notes


def tags(ctx: ComposeContext, ident: Identity) -> list[dict[str, str]]:
    """The role's tags: enforced class tags plus descriptive ones, sorted by key."""
    from airflow_cloudplan.gates.iam import SENSITIVITY_TAG, class_tag

    out = {f"{class_tag(c)}": "true" for c in ident.classes}
    out["cloudplan-pipeline"] = ctx.pipeline_name
    out["cloudplan-stages"] = " ".join(ident.stages)[:256]
    if ident.classes:
        out[SENSITIVITY_TAG] = ident.classes[0]
    return [{"Key": k, "Value": v} for k, v in sorted(out.items())]


def role_document(ctx: ComposeContext, ident: Identity) -> dict[str, Any]:
    """Everything to create the role (``aws iam create-role`` + ``put-role-policy``)."""
    from airflow_cloudplan.gates.iam import identity_policy

    assignment = ctx.plan.recommendation.assignment
    trust, notes = trust_policy(ctx, ident)
    return {
        "RoleName": ident.role,
        "Path": ROLE_PATH,
        "Arn": role_arn(ctx, ident.role),
        "AssumeRolePolicyDocument": trust,
        "Tags": tags(ctx, ident),
        "InlinePolicies": {"cloudplan-data": identity_policy(
            ctx.inp, assignment, ident.stages, account_of(ctx))},
        "Stages": list(ident.stages),
        "Executors": sorted(ident.executors),
        "ServiceAccount": (f"{ctx.inp.pipeline.deployment.kubernetes_namespace}/"
                           f"{ident.service_account}" if KUBERNETES in ident.executors
                           else None),
        "Notes": notes,
    }


def service_account(ctx: ComposeContext, ident: Identity) -> dict[str, Any]:
    """The Kubernetes ServiceAccount bound to the role through IRSA."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": ident.service_account,
            "namespace": ctx.inp.pipeline.deployment.kubernetes_namespace,
            "labels": {"app.kubernetes.io/managed-by": "cloudplan",
                       "cloudplan.io/pipeline": _clean(ctx.pipeline_name)[:63]},
            "annotations": {SERVICE_ACCOUNT_ANNOTATION: role_arn(ctx, ident.role)},
        },
    }
