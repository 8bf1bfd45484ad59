"""The composer: run every emitter on a plan, fail with all problems, or write all files.

``compose`` is a function of (plan, input, settings): it reads nothing else and writes
only under ``out_dir``. Output is byte-identical for the same plan (sorted keys, no
clock), so artifacts can live in version control and diffs are meaningful. Files are
written to a sibling temporary directory and swapped in, so a failed compose never
leaves a half-written bundle; an existing directory is replaced only if it holds a
previous bundle (a ``manifest.json``) or is empty.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from airflow_cloudplan.errors import ComposeError, Problem
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import PlanResult
from airflow_cloudplan.runops.airflow_config import AirflowEmitter
from airflow_cloudplan.runops.audit import AuditEmitter
from airflow_cloudplan.runops.base import Artifact, Emitter, dump_json, failed_by
from airflow_cloudplan.runops.context import ComposeContext, plan_version_of
from airflow_cloudplan.runops.iam import IAMEmitter
from airflow_cloudplan.runops.manifest import MANIFEST_NAME, Manifest, build_manifest
from airflow_cloudplan.runops.otel import OtelEmitter
from airflow_cloudplan.runops.runbooks import RunbookEmitter, check_runbooks_linked
from airflow_cloudplan.runops.settings import RunOpsSettings
from airflow_cloudplan.runops.slo import SLOEmitter, check_alerts_backed
from airflow_cloudplan.runops.slo_tests import SLOTestEmitter


def default_emitters() -> list[Emitter]:
    """Every emitter, in the order their files are listed."""
    return [OtelEmitter(), SLOEmitter(), SLOTestEmitter(), AuditEmitter(), IAMEmitter(),
            AirflowEmitter(), RunbookEmitter()]


@dataclass(frozen=True)
class CrossCheck:
    """A check over the files of several emitters (run after all of them)."""

    name: str
    kinds: frozenset[str]
    run: Callable[[list[Artifact]], list[Problem]]


def check_settings_link_otel(artifacts: list[Artifact]) -> list[Problem]:
    """Every task's ``OTEL_CONFIG_FILE`` in the Airflow settings is a file of the bundle."""
    paths = {a.path for a in artifacts}
    problems = []
    for a in artifacts:
        if a.kind != "airflow-settings":
            continue
        for task in json.loads(a.content).get("tasks", []):
            target = (task.get("otel") or {}).get("OTEL_CONFIG_FILE")
            if target not in paths:
                problems.append(Problem(
                    message=f"task {task.get('task_id')!r} points OTEL_CONFIG_FILE at "
                    f"{target!r}, which the bundle does not contain", file=a.path,
                    hint="the Airflow settings and the OTel emitter must name the same files"))
    return problems


CROSS_CHECKS: tuple[CrossCheck, ...] = (
    CrossCheck("slo.alerts-backed-by-telemetry", frozenset({"prometheus-rules"}),
               check_alerts_backed),
    CrossCheck("runbooks.linked-to-alerts", frozenset({"runbook", "prometheus-rules"}),
               check_runbooks_linked),
    CrossCheck("airflow.otel-config-exists", frozenset({"airflow-settings"}),
               check_settings_link_otel),
)
"""Checks that read the generated files of several emitters together."""


def run_cross_checks(artifacts: list[Artifact]) -> tuple[list[Artifact], list[Problem]]:
    """Run every cross check; record its name on the artifacts it covered and passed."""
    problems: list[Problem] = []
    for check in CROSS_CHECKS:
        found = check.run(artifacts)
        problems += found
        artifacts = [
            replace(a, checks=(*a.checks, check.name))
            if a.kind in check.kinds and not failed_by(a, found) else a
            for a in artifacts
        ]
    return artifacts, problems


def check_plan_matches(plan: PlanResult, inp: PlanningInput) -> list[Problem]:
    """The plan names this pipeline, assigns every stage, and uses catalog entries."""
    problems: list[Problem] = []
    if plan.pipeline != inp.pipeline.name:
        problems.append(Problem(
            message=f"plan is for pipeline {plan.pipeline!r}, spec is {inp.pipeline.name!r}",
            path="pipeline", hint="pass the spec the plan was made from"))
    if plan.recommended >= len(plan.frontier):
        return [*problems, Problem(
            message=f"recommended index {plan.recommended} outside a frontier of "
            f"{len(plan.frontier)}", path="recommended", hint="regenerate the plan")]
    assignment = plan.recommendation.assignment
    catalog = inp.catalog
    for stage in inp.pipeline.stages:
        option = assignment.get(stage.name)
        where = f"frontier[{plan.recommended}].assignment.{stage.name}"
        if option is None:
            problems.append(Problem(message="stage has no assigned option", path=where,
                                    hint="re-plan with this spec"))
            continue
        lookups = ((catalog.region, option.region, "region"), (catalog.tier, option.tier, "tier"),
                   (catalog.instance_type, option.instance_type, "instance_type"))
        for lookup, value, field in lookups:
            try:
                lookup(value)
            except KeyError:
                problems.append(Problem(
                    message=f"unknown {field} {value!r} in catalog {catalog.version}",
                    path=f"{where}.{field}", hint="compose with the catalog the plan used"))
    for name in sorted(set(assignment) - set(inp.pipeline.stage_by_name)):
        problems.append(Problem(message=f"plan assigns unknown stage {name!r}",
                                path=f"frontier[{plan.recommended}].assignment.{name}",
                                hint="pass the spec the plan was made from"))
    return problems


def render(
    plan: PlanResult,
    inp: PlanningInput,
    *,
    plan_version: str | None = None,
    settings: RunOpsSettings | None = None,
    emitters: Sequence[Emitter] | None = None,
) -> tuple[Manifest, list[Artifact]]:
    """Generate every artifact in memory (no I/O); raise ComposeError with all problems."""
    problems = check_plan_matches(plan, inp)
    if problems:
        raise ComposeError("the plan does not match the spec and catalog", problems)
    ctx = ComposeContext(plan, inp, plan_version or plan_version_of(plan),
                         settings or RunOpsSettings())
    artifacts: list[Artifact] = []
    for emitter in emitters if emitters is not None else default_emitters():
        result = emitter.run(ctx)
        problems.extend(result.problems)
        artifacts.extend(result.artifacts)
    if not problems:  # cross checks read every emitter's files; a failed one would cascade
        artifacts, cross = run_cross_checks(artifacts)
        problems.extend(cross)
    paths = [a.path for a in artifacts]
    for dup in sorted({p for p in paths if paths.count(p) > 1}):
        problems.append(Problem(message="two emitters wrote the same file", path=dup,
                                hint="give each artifact a unique path"))
    if problems:
        raise ComposeError(f"{len(problems)} problem(s) composing RunOps artifacts for "
                           f"{inp.pipeline.name}", problems)
    return build_manifest(ctx, artifacts), artifacts


def write_bundle(out_dir: Path, manifest: Manifest, artifacts: list[Artifact]) -> None:
    """Write artifacts and manifest to a temporary sibling, then swap it into place."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise ComposeError("refusing to replace a directory that is not an artifact bundle", [
            Problem(message="exists, is not empty and has no manifest.json", file=str(out_dir),
                    hint="choose an empty or new --out directory")])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for a in artifacts:
            target = staging / a.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(a.content)
        (staging / MANIFEST_NAME).write_bytes(dump_json(manifest.model_dump(mode="json")))
        os.chmod(staging, 0o755)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            staging.rename(out_dir)
            shutil.rmtree(old)
        else:
            staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def compose(
    plan: PlanResult,
    inp: PlanningInput,
    out_dir: Path,
    *,
    plan_version: str | None = None,
    settings: RunOpsSettings | None = None,
    emitters: Sequence[Emitter] | None = None,
) -> Manifest:
    """Generate, validate and write every RunOps artifact of the plan's recommendation.

    ``plan_version`` defaults to the sha256 of the plan's canonical JSON. Raises
    :class:`ComposeError` listing every problem of every emitter; writes nothing then.
    """
    manifest, artifacts = render(plan, inp, plan_version=plan_version, settings=settings,
                                 emitters=emitters)
    write_bundle(out_dir, manifest, artifacts)
    return manifest
