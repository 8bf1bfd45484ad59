"""IAM: each stage's least-privilege policy and the residency guard-rail.

The policies come from the gates (``airflow_cloudplan.gates.iam``), which generate and
lint them; the composer only files them under the plan version, so a reviewer sees the
exact identity each stage runs as. Imported lazily: the gates pull in policy_sentry.
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
    """``iam/<stage>.policy.json`` per stage and ``iam/residency-guardrail.json``."""

    name = "iam"
    checks: ClassVar[dict[str, tuple[str, ...]]] = {"iam-policy": ("iam.lint-policy",)}

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """Ask the gates for each stage's policy and the guard-rail."""
        try:
            from airflow_cloudplan.gates import iam
        except ImportError as exc:
            raise ValueError(f"IAM generation is unavailable (airflow_cloudplan.gates.iam: "
                             f"{exc})") from exc
        out = [
            Artifact(
                path=f"iam/{p.name}.policy.json",
                content=dump_json(_plain(iam.stage_iam_policy(ctx.inp, p.name, p.option))),
                kind="iam-policy", stage=p.name, evidence=f"iam:{p.name}",
            )
            for p in ctx.placements
        ]
        guardrail = _plain(iam.residency_guardrail(ctx.inp))
        if guardrail and guardrail.get("Statement"):
            out.append(Artifact(path="iam/residency-guardrail.json",
                                content=dump_json(_plain(guardrail)),
                                kind="iam-guardrail", evidence="iam:residency"))
        return out

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        """Lint every stage policy (parliament + the gates' wildcard/escalation checks)."""
        import json

        from airflow_cloudplan.gates import iam

        problems = []
        for a in artifacts:
            if a.kind != "iam-policy":
                continue
            for f in iam.lint_policy(json.loads(a.content)):
                problems.append(self.problem(
                    f"{f.source} {f.severity} {f.issue}: {f.detail} {f.location}".strip(),
                    "the gates must generate lint-clean least-privilege policies",
                    stage=a.stage,
                ))
        return problems
