"""IAM: each stage's least-privilege policy, the roles tasks run as, and the guard-rail.

The policies come from the gates (``airflow_cloudplan.gates.iam``), which generate and
lint them; the composer files them under the plan version, so a reviewer sees the exact
identity each stage runs as:

* ``iam/<stage>.policy.json`` — the stage's grants under its planned option;
* ``iam/roles/<role>.json`` — each identity (:mod:`.identity`): trust policy, enforced
  class tags, the inline policy (union of its stages' grants), notes;
* ``k8s/serviceaccounts.json`` — the IRSA service accounts of Kubernetes-bound roles;
* ``iam/residency-guardrail.json`` (``-2``, ``-3``… when it exceeds one SCP's 5,120
  characters) — the fail-closed SCP over the plan's own data locations.

Imported lazily: the gates pull in policy_sentry.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.runops.base import Artifact, Emitter, dump_json
from airflow_cloudplan.runops.context import ComposeContext


def _plain(value: Any) -> Any:
    """A policy as plain JSON data (the gates may return dicts or pydantic models)."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


class IAMEmitter(Emitter):
    """Stage policies, roles, service accounts and the residency guard-rail."""

    name = "iam"
    checks: ClassVar[dict[str, tuple[str, ...]]] = {
        "iam-policy": ("iam.lint-policy",), "iam-role": ("iam.lint-policy",),
    }

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """Ask the gates for each stage's policy and the guard-rail; compose the roles."""
        try:
            from airflow_cloudplan.gates import iam
        except ImportError as exc:
            raise ValueError(f"IAM generation is unavailable (airflow_cloudplan.gates.iam: "
                             f"{exc})") from exc
        from airflow_cloudplan.runops.airflow_config import stage_executors
        from airflow_cloudplan.runops.identity import (
            KUBERNETES,
            account_of,
            identities,
            role_document,
            service_account,
        )

        account = account_of(ctx)
        out = [
            Artifact(
                path=f"iam/{p.name}.policy.json",
                content=dump_json(_plain(iam.stage_iam_policy(ctx.inp, p.name, p.option,
                                                              account))),
                kind="iam-policy", stage=p.name, evidence=f"iam:{p.name}",
            )
            for p in ctx.placements
        ]
        idents = identities(ctx, stage_executors(ctx))
        out += [
            Artifact(path=f"iam/roles/{i.role}.json", content=dump_json(role_document(ctx, i)),
                     kind="iam-role", evidence=f"iam-role:{i.role}")
            for i in idents
        ]
        accounts = [service_account(ctx, i) for i in idents if KUBERNETES in i.executors]
        if accounts:
            out.append(Artifact(path="k8s/serviceaccounts.json", content=dump_json(
                {"apiVersion": "v1", "kind": "List", "items": accounts}),
                kind="k8s-serviceaccounts", evidence="k8s:serviceaccounts"))
        guardrail = _plain(iam.residency_guardrail(ctx.inp, ctx.plan.recommendation.assignment))
        if guardrail and guardrail.get("Statement"):
            for n, doc in enumerate(iam.split_scp(guardrail), start=1):
                suffix = "" if n == 1 else f"-{n}"
                out.append(Artifact(path=f"iam/residency-guardrail{suffix}.json",
                                    content=dump_json(doc), kind="iam-guardrail",
                                    evidence=f"iam:residency{suffix}"))
        return out

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        """Lint every stage and role policy (parliament + the gates' own checks)."""
        import json

        from airflow_cloudplan.gates import iam

        problems = []
        for a in artifacts:
            if a.kind == "iam-policy":
                docs = [json.loads(a.content)]
            elif a.kind == "iam-role":
                role = json.loads(a.content)
                docs = list(role["InlinePolicies"].values())
            else:
                continue
            for doc in docs:
                for f in iam.lint_policy(doc):
                    problems.append(self.problem(
                        f"{a.path}: {f.source} {f.severity} {f.issue}: {f.detail} "
                        f"{f.location}".strip(),
                        "the gates must generate lint-clean least-privilege policies",
                        stage=a.stage, file=a.path,
                    ))
        return problems
