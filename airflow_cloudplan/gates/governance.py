"""Governance gate (C1): residency, replication, public endpoints, identity, audit, exposure.

Sensitivity follows the data (:mod:`airflow_cloudplan.dataflow.lineage`): a stage obeys
every class it handles, and every place the option writes bytes to — outputs homed
elsewhere, caches, replicas, partitions, checkpoints
(:mod:`airflow_cloudplan.dataflow.locations`) — must be allowed for every class the bytes
there carry. A violation names the lineage path, e.g.
``credit_features (restricted) → score → public_dump (us-east-1): restricted data written
outside eu``.

Each rule is one small function with a stable rule id; no check appears in two gates.
Per-option rules prune candidates before the solver; the plan-level rules at the bottom
(total exposure budget, one shared identity across classes) couple stages, so the
optimizer enforces them as MILP constraints and :func:`check_plan_governance` re-checks a
finished assignment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from airflow_cloudplan.dataflow.lineage import known_classes
from airflow_cloudplan.dataflow.locations import DataLocation, LocationKind
from airflow_cloudplan.gates.context import GateContext, Rule, class_field
from airflow_cloudplan.gates.exposure import stage_sensitivity
from airflow_cloudplan.gates.validate import allowed_regions_of, region_allowed
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import Isolation, StageOption, Violation
from airflow_cloudplan.model.policy import SensitivityClass

GATE = "governance"


def residency_placement(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.residency.placement``: the stage runs only where all its data classes may live."""
    out: list[Violation] = []
    for source, cls in ctx.placement_classes(stage):
        if region_allowed(ctx.inp, cls, option.region):
            continue
        out.append(Violation(
            gate=GATE, rule_id="gov.residency.placement", stage=stage,
            field=class_field(ctx.inp, cls, "allowed_regions"),
            measured=option.region,
            allowed=",".join(allowed_regions_of(ctx.inp, cls)),
            message=(f"stage '{stage}' handles '{cls.name}' data ({source}), which may not "
                     f"be processed in '{option.region}'"),
        ))
    return out


def residency_stage(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.residency.stage``: the stage's own ``allowed_regions`` (declared by its owners)."""
    allowed = ctx.inp.pipeline.stage_by_name[stage].allowed_regions
    if allowed is None or option.region in allowed:
        return []
    return [Violation(
        gate=GATE, rule_id="gov.residency.stage", stage=stage,
        field=f"stages[{stage}].allowed_regions", measured=option.region,
        allowed=",".join(allowed),
        message=f"stage '{stage}' may only run in {list(allowed)}",
    )]


def _written_with_class(
    ctx: GateContext, stage: str, option: StageOption
) -> Iterator[tuple[DataLocation, SensitivityClass]]:
    """Each location the option writes to, with every class of the bytes written there."""
    gov = ctx.inp.policy.governance
    for loc in ctx.locations(stage, option):
        if not loc.writes:
            continue
        for cls in known_classes(gov, loc.classes):
            yield loc, cls


def allowed_text(inp: PlanningInput, cls: SensitivityClass) -> str:
    """Where a class may be stored, in words: ``eu`` or ``eu-west-1, eu-central-1``."""
    if cls.allowed_jurisdictions is not None and cls.allowed_regions is None:
        return ", ".join(cls.allowed_jurisdictions)
    return ", ".join(allowed_regions_of(inp, cls))


def lineage_of_location(ctx: GateContext, loc: DataLocation, cls: str) -> str:
    """How class ``cls`` reached a location, as a path ending in the location."""
    lineage = ctx.lineage
    if loc.kind is LocationKind.CHECKPOINT:
        return f"{lineage.stage_path(loc.stage, cls)} → checkpoints"
    assert loc.dataset is not None
    path = lineage.path(loc.dataset, cls)
    if loc.kind is LocationKind.HOME:
        return path
    return f"{path} → {loc.kind.value} of {loc.dataset}"


def residency_write(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.residency.write`` / ``gov.residency.copy``: data is written only where allowed.

    Every location the option writes — an output in its home region, a checkpoint, a
    cache, replica or partition (``copy``) — for every class the bytes carry by lineage.
    """
    out: list[Violation] = []
    for loc, cls in _written_with_class(ctx, stage, option):
        if region_allowed(ctx.inp, cls, loc.region):
            continue
        rule = "gov.residency.copy" if loc.is_copy else "gov.residency.write"
        where = allowed_text(ctx.inp, cls)
        out.append(Violation(
            gate=GATE, rule_id=rule, stage=stage,
            field=class_field(ctx.inp, cls, "allowed_regions"), measured=loc.region,
            allowed=",".join(allowed_regions_of(ctx.inp, cls)),
            message=(f"{lineage_of_location(ctx, loc, cls.name)} ({loc.region}): "
                     f"{cls.name} data written outside {where}"),
        ))
    return out


def replication(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.replication``: classes that forbid copies get none, wherever they would be."""
    out: list[Violation] = []
    seen: set[tuple[str, str]] = set()
    for loc, cls in _written_with_class(ctx, stage, option):
        if not loc.is_copy or cls.allow_replication or (loc.label, cls.name) in seen:
            continue
        seen.add((loc.label, cls.name))
        out.append(Violation(
            gate=GATE, rule_id="gov.replication", stage=stage,
            field=class_field(ctx.inp, cls, "allow_replication"), measured=option.access.value,
            allowed="direct",
            message=f"class '{cls.name}' forbids the {loc.kind.value} of dataset '{loc.dataset}'",
        ))
    return out


def encryption_copy(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.encryption.copy``: a copy of an SSE-KMS dataset can use its key where it lives.

    A multi-Region key (``mrk-``) has a replica in every region; a single-Region key does
    not follow a copy into another region, and the copy would be left without the
    dataset's encryption.
    """
    out: list[Violation] = []
    for loc in ctx.locations(stage, option):
        if not loc.is_copy or loc.kms_key_arn is not None or loc.dataset is None:
            continue
        key = ctx.inp.pipeline.dataset_by_name[loc.dataset].kms_key_arn
        if key is None:
            continue
        out.append(Violation(
            gate=GATE, rule_id="gov.encryption.copy", stage=stage,
            field=f"datasets[{loc.dataset}].kms_key_arn", measured=loc.region,
            allowed=loc.home_region,
            message=(f"dataset '{loc.dataset}' is encrypted with the single-Region key {key}; "
                     f"its {loc.kind.value} in '{loc.region}' could not use it (use a "
                     "multi-Region key, mrk-…, or direct access)"),
        ))
    return out


def public_endpoint(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.public_endpoint``: a public endpoint only for classes that allow one."""
    if not ctx.inp.pipeline.stage_by_name[stage].public_endpoint:
        return []
    return [
        Violation(
            gate=GATE, rule_id="gov.public_endpoint", stage=stage,
            field=class_field(ctx.inp, cls, "allow_public_endpoint"), measured="public",
            allowed="private",
            message=f"stage '{stage}' exposes a public endpoint over '{cls.name}' data",
        )
        for _, cls in ctx.placement_classes(stage)
        if not cls.allow_public_endpoint
    ]


def scoped_identity(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.identity.scoped``: shared credentials only where policy and classes allow."""
    if option.isolation != Isolation.SHARED:
        return []
    gov = ctx.inp.policy.governance
    out: list[Violation] = []
    if gov.require_scoped_credentials:
        out.append(Violation(
            gate=GATE, rule_id="gov.identity.scoped", stage=stage,
            field="policy.governance.require_scoped_credentials", measured="shared",
            allowed="scoped", message="the policy requires per-stage scoped credentials",
        ))
    out.extend(
        Violation(
            gate=GATE, rule_id="gov.identity.scoped", stage=stage,
            field=class_field(ctx.inp, cls, "allow_shared_identity"), measured="shared",
            allowed="scoped",
            message=f"class '{cls.name}' forbids running under a shared identity",
        )
        for _, cls in ctx.placement_classes(stage)
        if not cls.allow_shared_identity
    )
    return out


def audit_tier(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.audit.tier``: classes that require audit run only on tiers with data-plane audit."""
    try:
        tier = ctx.inp.catalog.tier(option.tier)
    except KeyError:
        return []
    if tier.capabilities.data_plane_audit:
        return []
    return [
        Violation(
            gate=GATE, rule_id="gov.audit.tier", stage=stage,
            field=class_field(ctx.inp, cls, "require_audit"), measured=option.tier,
            allowed="a tier with data_plane_audit",
            message=(f"tier '{option.tier}' cannot log data-plane access of '{cls.name}' "
                     "data immutably to the central audit store"),
        )
        for _, cls in ctx.placement_classes(stage)
        if cls.require_audit
    ]


def exposure_stage(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``gov.exposure.stage``: the option's exposure units stay within the per-stage budget."""
    budget = ctx.inp.policy.governance.exposure_budget.per_stage
    units = ctx.exposure(stage, option).units
    if budget is None or units <= budget:
        return []
    return [Violation(
        gate=GATE, rule_id="gov.exposure.stage", stage=stage,
        field="policy.governance.exposure_budget.per_stage", measured=f"{units:g}",
        allowed=f"{budget:g}",
        message=f"option exposes {units:g} units, over the per-stage budget of {budget:g}",
    )]


RULES: tuple[Rule, ...] = (
    residency_placement,
    residency_stage,
    residency_write,
    replication,
    encryption_copy,
    public_endpoint,
    scoped_identity,
    audit_tier,
    exposure_stage,
)


def check_plan_governance(
    inp: PlanningInput, ctx: GateContext, assignment: Mapping[str, StageOption]
) -> list[Violation]:
    """Plan-level coupling rules: ``gov.exposure.total`` and ``gov.shared_identity``."""
    gov = inp.policy.governance
    out: list[Violation] = []
    total_budget = gov.exposure_budget.total
    if total_budget is not None:
        total = sum(ctx.exposure(k, o).units for k, o in assignment.items())
        if total > total_budget:
            out.append(Violation(
                gate=GATE, rule_id="gov.exposure.total",
                field="policy.governance.exposure_budget.total", measured=f"{total:g}",
                allowed=f"{total_budget:g}",
                message=f"the plan exposes {total:g} units, over the total budget",
            ))
    if gov.forbid_shared_identity_across_classes:
        shared: dict[str, list[str]] = {}
        for k in sorted(assignment):
            if assignment[k].isolation == Isolation.SHARED:
                cls = stage_sensitivity(inp, k)
                shared.setdefault(cls.name if cls else "(none)", []).append(k)
        if len(shared) > 1:
            detail = "; ".join(f"{c}: {', '.join(s)}" for c, s in sorted(shared.items()))
            out.append(Violation(
                gate=GATE, rule_id="gov.shared_identity",
                field="policy.governance.forbid_shared_identity_across_classes",
                measured=",".join(sorted(shared)), allowed="one class",
                message=f"one shared identity would span sensitivity classes ({detail})",
            ))
    return out
