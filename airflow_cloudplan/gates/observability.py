"""Observability gate (C2): the option's service tier must emit the signals its stage needs.

Required signals of a stage = the policy's requirement for its criticality, plus traces
for online (latency-sensitive) stages when ``traces_for_online`` is set. A tier emits the
signals in ``capabilities.signals``; an option on a tier that cannot emit a required
signal cannot be instrumented to the required coverage.

``min_coverage`` (share of stages that must meet their signals) decides where the check
lives: at 1.0 every stage must meet its signals, so options are pruned one by one (rules
``obs.signals.<signal>``); below 1.0 the requirement couples stages: the optimizer holds
it as the MILP constraint Σ_k Σ_{o covered} x[k,o] ≥ ⌈min_coverage · n⌉ (an option is
*covered* when :func:`option_covered`), and :func:`check_plan_observability` re-checks a
finished plan (``obs.coverage``). Traces for online stages stay a per-option rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_cloudplan.gates.context import GateContext, Rule
from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import StageOption, Violation
from airflow_cloudplan.model.workload import ExecutionMode

GATE = "observability"
_ORDER = (Signal.LOGS, Signal.METRICS, Signal.TRACES)


def required_signals(inp: PlanningInput, stage_name: str) -> frozenset[Signal]:
    """Signals a stage must emit under the observability policy."""
    obs = inp.policy.observability
    stage = inp.pipeline.stage_by_name[stage_name]
    req = obs.requirements.get(stage.criticality)
    signals = set(req.signals) if req is not None else set()
    if obs.traces_for_online and stage.mode == ExecutionMode.ONLINE:
        signals.add(Signal.TRACES)
    return frozenset(signals)


def _tier_signals(inp: PlanningInput, option: StageOption) -> frozenset[Signal]:
    try:
        return inp.catalog.tier(option.tier).capabilities.signals
    except KeyError:
        return frozenset()


def option_covered(inp: PlanningInput, stage_name: str, option: StageOption) -> bool:
    """Whether the option's tier emits every signal the stage must emit (coverage counts it)."""
    return required_signals(inp, stage_name) <= _tier_signals(inp, option)


def signals_covered(ctx: GateContext, stage: str, option: StageOption) -> list[Violation]:
    """``obs.signals.<signal>``: the tier emits every signal the stage must emit."""
    inp = ctx.inp
    required = required_signals(inp, stage)
    if inp.policy.observability.min_coverage < 1.0:
        online = inp.pipeline.stage_by_name[stage].mode == ExecutionMode.ONLINE
        required = required & (
            frozenset({Signal.TRACES}) if online and inp.policy.observability.traces_for_online
            else frozenset()
        )
    emitted = _tier_signals(inp, option)
    crit = inp.pipeline.stage_by_name[stage].criticality
    return [
        Violation(
            gate=GATE, rule_id=f"obs.signals.{sig.value}", stage=stage,
            field=f"policy.observability.requirements[{crit.value}].signals",
            measured=",".join(s.value for s in _ORDER if s in emitted) or "none",
            allowed=",".join(s.value for s in _ORDER if s in required),
            message=f"tier '{option.tier}' cannot emit {sig.value} required for this stage",
        )
        for sig in _ORDER
        if sig in required and sig not in emitted
    ]


RULES: tuple[Rule, ...] = (signals_covered,)


def observability_coverage(
    inp: PlanningInput, assignment: Mapping[str, StageOption]
) -> dict[str, float]:
    """Percent of stages meeting each signal threshold under ``assignment``.

    Keys: each signal (share of the stages that *require* it whose tier emits it; 100 when
    no stage requires it) and ``all`` (share of stages meeting every required signal).
    """
    out: dict[str, float] = {}
    met_all = 0
    per_signal: dict[Signal, list[bool]] = {s: [] for s in _ORDER}
    for k, option in assignment.items():
        required = required_signals(inp, k)
        emitted = _tier_signals(inp, option)
        for sig in required:
            per_signal[sig].append(sig in emitted)
        met_all += option_covered(inp, k, option)
    for sig in _ORDER:
        flags = per_signal[sig]
        out[sig.value] = 100.0 * sum(flags) / len(flags) if flags else 100.0
    out["all"] = 100.0 * met_all / len(assignment) if assignment else 100.0
    return out


def check_plan_observability(
    inp: PlanningInput, assignment: Mapping[str, StageOption]
) -> list[Violation]:
    """``obs.coverage``: the share of stages meeting their signals reaches ``min_coverage``."""
    need = inp.policy.observability.min_coverage
    share = observability_coverage(inp, assignment)["all"] / 100.0
    if share + 1e-12 >= need:
        return []
    return [Violation(
        gate=GATE, rule_id="obs.coverage", field="policy.observability.min_coverage",
        measured=f"{share:.3f}", allowed=f"{need:.3f}",
        message=f"only {share:.0%} of stages meet their required signals (need {need:.0%})",
    )]
