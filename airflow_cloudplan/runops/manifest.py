"""The manifest: every artifact with its sha256, tied to the plan version, and two metrics.

* **Evidence completeness** — the share of required governance artifacts that were
  machine-generated, versioned (listed here with a hash under this plan version) and
  passed their compose-time checks (an artifact whose check fails is not produced, so
  it cannot count). Required: an IAM policy and an OTel configuration of every stage;
  SLO rules and one runbook per alert of every stage whose SLOs its telemetry measures;
  the Collector configuration; the Airflow settings; the residency guard-rail when a
  stage handles a class restricted to some regions; the audit hooks when a dataset's
  class requires audit. Evidence whose artifacts had no compose-time check is listed as
  ``unchecked`` (the audit hooks are verified against S3 by ``apply_audit_hooks``).
* **Observability coverage** — the share of stages whose configured telemetry meets every
  signal their criticality requires, against the policy's ``min_coverage`` threshold.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from pydantic import Field

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.runops.base import Artifact
from airflow_cloudplan.runops.context import ComposeContext
from airflow_cloudplan.runops.coverage import observability_coverage
from airflow_cloudplan.runops.slo import measured, slo_stated, slos_of

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1


class ManifestEntry(Frozen):
    """One artifact file and the compose-time checks it passed."""

    path: str
    sha256: str
    bytes: int = Field(ge=0)
    kind: str
    stage: str | None = None
    evidence: str | None = None
    checks: tuple[str, ...] = ()


class EvidenceCompleteness(Frozen):
    """Required governance artifacts, which were generated and passed, and the ratio."""

    required: tuple[str, ...]
    generated: tuple[str, ...]
    missing: tuple[str, ...]
    ratio: float = Field(ge=0, le=1)
    unchecked: tuple[str, ...] = Field(
        default=(), description="generated evidence no compose-time check covered")
    unmonitored: dict[str, str] = Field(
        default_factory=dict, description="stages without SLO alerts, and why")


class ObservabilityCoverage(Frozen):
    """Share of stages instrumented to their required signals."""

    ratio: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)
    meets_threshold: bool
    per_signal: dict[str, float]
    uncovered: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class Manifest(Frozen):
    """What ``compose`` wrote, for which plan, and how complete it is."""

    schema_version: int = MANIFEST_SCHEMA_VERSION
    pipeline: str
    plan_version: str
    plan_created_at: datetime
    catalog_version: str
    artifacts: tuple[ManifestEntry, ...]
    evidence_completeness: EvidenceCompleteness
    observability_coverage: ObservabilityCoverage


def required_evidence(ctx: ComposeContext) -> tuple[str, ...]:
    """The evidence keys a plan must have (see the module docstring)."""
    keys = {"otel:collector", "airflow:settings"}
    severities = ctx.settings.burn_rate.severities()
    restricted = False
    for p in ctx.placements:
        keys.update({f"iam:{p.name}", f"otel:{p.name}"})
        slos = slos_of(ctx, p)
        if slos:
            keys.add(f"slo:{p.name}")
        for slo in slos:
            keys.update(f"runbook:{p.name}:{slo.alert_name(s)}" for s in severities)
        cls = p.sensitivity
        if cls is not None and (cls.allowed_regions is not None
                                or cls.allowed_jurisdictions is not None):
            restricted = True
    if restricted:
        keys.add("iam:residency")
    if ctx.audited_datasets():
        keys.add("audit:hooks")
    return tuple(sorted(keys))


def unmonitored_stages(ctx: ComposeContext) -> dict[str, str]:
    """Stages that get no SLO alerts, with the reason (a stated SLO is an error instead)."""
    return {
        p.name: "its telemetry exports no metrics ("
        + (", ".join(sorted(p.emitted_signals)) or "no signals")
        + ") and its spec states no SLO; the default availability objective is not monitored"
        for p in ctx.placements if not measured(p) and not slo_stated(p.stage)
    }


def sha256_of(content: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(content).hexdigest()


def build_manifest(ctx: ComposeContext, artifacts: list[Artifact]) -> Manifest:
    """The manifest of a set of generated artifacts."""
    entries = tuple(
        ManifestEntry(path=a.path, sha256=sha256_of(a.content), bytes=len(a.content),
                      kind=a.kind, stage=a.stage, evidence=a.evidence, checks=a.checks)
        for a in sorted(artifacts, key=lambda a: a.path)
    )
    required = required_evidence(ctx)
    generated = {a.evidence for a in artifacts if a.evidence}
    have = tuple(k for k in required if k in generated)
    unchecked = tuple(sorted({a.evidence for a in artifacts
                              if a.evidence in have and not a.checks}))
    cov = observability_coverage(ctx)
    threshold = ctx.inp.policy.observability.min_coverage
    return Manifest(
        pipeline=ctx.pipeline_name,
        plan_version=ctx.plan_version,
        plan_created_at=ctx.plan.created_at,
        catalog_version=ctx.plan.catalog_version,
        artifacts=entries,
        evidence_completeness=EvidenceCompleteness(
            required=required, generated=have,
            missing=tuple(k for k in required if k not in generated),
            ratio=len(have) / len(required) if required else 1.0,
            unchecked=unchecked, unmonitored=unmonitored_stages(ctx),
        ),
        observability_coverage=ObservabilityCoverage(
            ratio=cov.coverage, threshold=threshold, meets_threshold=cov.coverage >= threshold,
            per_signal=cov.per_signal, uncovered=cov.missing,
        ),
    )


def verify_manifest(out_dir: Path) -> list[Problem]:
    """Every listed artifact exists with its hash, and no unlisted file is present."""
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return [Problem(message="no manifest", file=str(path),
                        hint="run `cloudplan compose` to generate the artifacts")]
    manifest = Manifest.model_validate_json(path.read_bytes())
    problems = []
    listed = set()
    for entry in manifest.artifacts:
        listed.add(entry.path)
        file = out_dir / entry.path
        if not file.is_file():
            problems.append(Problem(message="listed artifact is missing", file=str(file),
                                    hint="regenerate with `cloudplan compose`"))
        elif sha256_of(file.read_bytes()) != entry.sha256:
            problems.append(Problem(message="content does not match its sha256 in the manifest",
                                    file=str(file),
                                    hint="the file was edited; regenerate instead of editing"))
    for file in sorted(out_dir.rglob("*")):
        rel = file.relative_to(out_dir).as_posix()
        if file.is_file() and rel != MANIFEST_NAME and rel not in listed:
            problems.append(Problem(message="file is not listed in the manifest", file=str(file),
                                    hint="remove it; artifacts are generated, not added"))
    return problems
