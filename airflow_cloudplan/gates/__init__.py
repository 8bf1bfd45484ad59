"""Feasibility gates: governance (C1), observability (C2), SLO (C3) and user Rego rules.

Governance and observability are *feasibility* constraints applied before scoring, not
scores: :func:`screen_options` prunes every candidate option that breaks a per-option rule
and keeps the reasons (gate, rule id, stage, field, measured vs allowed) for the report and
the UI's "why not". Rules that couple stages (total exposure budget, one shared identity
across sensitivity classes, observability coverage below 100 %) cannot be decided per
option: the optimizer enforces them as MILP constraints and :func:`check_plan` re-checks a
finished assignment (baselines are reported against it too).

Gates run in order governance → observability → slo → rego; an option is charged to every
rule it breaks in the first gate that rejects it (later gates do not see it), so
``options_after`` shrinks monotonically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airflow_cloudplan.gates import governance, observability, slo
from airflow_cloudplan.gates.context import GateContext, Rule
from airflow_cloudplan.gates.document import DocumentBuilder
from airflow_cloudplan.gates.exposure import Exposure, exposure_of, identity_reach
from airflow_cloudplan.gates.iam import residency_guardrail
from airflow_cloudplan.gates.observability import observability_coverage
from airflow_cloudplan.gates.rego import RegoRule
from airflow_cloudplan.gates.relax import smallest_relaxation
from airflow_cloudplan.gates.validate import validate_policy
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import GateReport, StageGateSummary, StageOption, Violation

__all__ = [
    "GATES",
    "Exposure",
    "GateOutcome",
    "check_option",
    "check_plan",
    "exposure_of",
    "identity_reach",
    "observability_coverage",
    "screen_options",
    "validate_policy",
]

GATES: tuple[tuple[str, tuple[Rule, ...]], ...] = (
    (governance.GATE, governance.RULES),
    (observability.GATE, observability.RULES),
    (slo.GATE, slo.RULES),
)
"""Built-in gates in the order they run, each with its rules."""


@dataclass
class GateOutcome:
    """What screening did: admitted options, rejected ones with reasons, and the report."""

    admitted: dict[str, list[StageOption]] = field(default_factory=dict)
    rejected: dict[str, list[tuple[StageOption, list[Violation]]]] = field(default_factory=dict)
    report: GateReport = field(default_factory=GateReport)

    @property
    def empty_stages(self) -> list[str]:
        """Stages with no admitted option (the plan is infeasible until a policy changes)."""
        return [k for k, opts in self.admitted.items() if not opts]


@dataclass(frozen=True)
class _UserRule:
    """Adapts a compiled Rego file to the built-in rule signature."""

    rule: RegoRule
    builder: DocumentBuilder

    def __call__(self, ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
        return self.rule.evaluate_parts(stage, self.builder.KEYS,
                                        lambda key: self.builder.part(stage, option, key))


def _gate_sequence(
    ctx: GateContext, base_dir: Path | None
) -> list[tuple[str, list[Rule]]]:
    from airflow_cloudplan.gates.rego import load_rules

    gates: list[tuple[str, list[Rule]]] = [(name, list(rules)) for name, rules in GATES]
    paths = ctx.inp.policy.governance.rego_rules
    if paths:
        builder = DocumentBuilder(ctx)
        user_rules: list[Rule] = [_UserRule(r, builder) for r in load_rules(paths, base_dir)]
        gates.append(("rego", user_rules))
    return gates


def screen_options(
    inp: PlanningInput,
    options: Mapping[str, Sequence[StageOption]],
    *,
    base_dir: Path | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> GateOutcome:
    """Run every gate over the candidate options of every stage.

    ``base_dir`` resolves relative Rego rule paths (the spec file's folder). Raises
    :class:`GateError` when the policy itself is inconsistent or a rule does not compile.
    ``progress("gates", detail)`` is called before each stage is screened.
    """
    validate_policy(inp)
    ctx = GateContext(inp)
    gates = _gate_sequence(ctx, base_dir)
    outcome = GateOutcome()
    summaries: list[StageGateSummary] = []
    names = [s.name for s in inp.pipeline.stages]
    for i, stage in enumerate(names):
        remaining = list(options.get(stage, ()))
        if progress is not None:
            progress("gates", f"stage {i + 1}/{len(names)} {stage}: {len(remaining)} options")
        before = len(remaining)
        after: dict[str, int] = {}
        reasons: dict[str, int] = {}
        rejected: list[tuple[StageOption, list[Violation]]] = []
        for gate_name, rules in gates:
            kept: list[StageOption] = []
            for option in remaining:
                found = [v for rule in rules for v in rule(ctx, stage, option)]
                if found:
                    rejected.append((option, found))
                    for rid in dict.fromkeys(v.rule_id for v in found):
                        reasons[rid] = reasons.get(rid, 0) + 1
                else:
                    kept.append(option)
            remaining = kept
            after[gate_name] = len(remaining)
        outcome.admitted[stage] = remaining
        outcome.rejected[stage] = rejected
        summaries.append(StageGateSummary(
            stage=stage, options_before=before, options_after=after,
            reasons=dict(sorted(reasons.items())),
            smallest_relaxation=smallest_relaxation(rejected) if not remaining else None,
        ))
    outcome.report = GateReport(
        stages=tuple(summaries),
        total_before=sum(s.options_before for s in summaries),
        total_after=sum(len(v) for v in outcome.admitted.values()),
        artifacts={"residency_guardrail": residency_guardrail(inp)},
    )
    return outcome


def check_option(inp: PlanningInput, stage_name: str, option: StageOption) -> list[Violation]:
    """Every built-in per-option rule applied to one option (user Rego rules excluded)."""
    ctx = GateContext(inp)
    return [v for _, rules in GATES for rule in rules for v in rule(ctx, stage_name, option)]


def check_plan(
    inp: PlanningInput,
    assignment: Mapping[str, StageOption],
    *,
    base_dir: Path | None = None,
) -> list[Violation]:
    """All violations of a whole assignment: per-option rules on each stage + coupling rules.

    Used to report plans that did not come through the gates (baselines, hand-made plans)
    and to re-check solver output. Stages missing from ``assignment`` are violations too.
    """
    ctx = GateContext(inp)
    gates = _gate_sequence(ctx, base_dir)
    out: list[Violation] = []
    for stage in (s.name for s in inp.pipeline.stages):
        option = assignment.get(stage)
        if option is None:
            out.append(Violation(gate="plan", rule_id="plan.complete", stage=stage,
                                 message=f"the plan assigns no option to stage '{stage}'"))
            continue
        out.extend(v for _, rules in gates for rule in rules for v in rule(ctx, stage, option))
    out.extend(governance.check_plan_governance(inp, ctx, assignment))
    out.extend(observability.check_plan_observability(inp, assignment))
    return out
