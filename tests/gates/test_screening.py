"""Gate invariants: tightening never admits more, admitted options satisfy every rule,
verdicts are deterministic; and the individual rules fire with their reasons."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_cloudplan.errors import GateError
from airflow_cloudplan.gates import (
    check_option,
    check_plan,
    observability_coverage,
    screen_options,
    validate_policy,
)
from airflow_cloudplan.gates.exposure import exposure_of, identity_reach
from airflow_cloudplan.model import (
    AccessStrategy,
    Criticality,
    ExposureBudget,
    GovernancePolicy,
    Isolation,
    ObservabilityPolicy,
    PlanningInput,
    Policy,
    SensitivityClass,
    Signal,
    SignalRequirement,
)

from .conftest import REGIONS, all_options, make_catalog, make_pipeline

JURISDICTIONS = ("eu", "us")
SIGNALS = (Signal.LOGS, Signal.METRICS, Signal.TRACES)


@st.composite
def class_policies(draw: st.DrawFn) -> tuple[SensitivityClass, ...]:
    classes = []
    for rank, name in enumerate(("public", "internal", "confidential", "restricted")):
        jur = draw(st.one_of(st.none(), st.sets(st.sampled_from(JURISDICTIONS), min_size=1)))
        regs = draw(st.one_of(st.none(), st.sets(st.sampled_from(REGIONS), min_size=1)))
        if jur is not None and regs is not None:
            regs = {r for r in regs if make_catalog().region(r).jurisdiction in jur} or None
        classes.append(SensitivityClass(
            name=name, rank=rank,
            allowed_jurisdictions=tuple(sorted(jur)) if jur else None,
            allowed_regions=tuple(sorted(regs)) if regs else None,
            require_audit=draw(st.booleans()), allow_shared_identity=draw(st.booleans()),
            allow_public_endpoint=draw(st.booleans()), allow_replication=draw(st.booleans()),
        ))
    return tuple(classes)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    budget = ExposureBudget(per_stage=draw(st.one_of(st.none(), st.floats(1, 30))),
                            total=draw(st.one_of(st.none(), st.floats(1, 60))))
    gov = GovernancePolicy(classes=draw(class_policies()), exposure_budget=budget,
                           require_scoped_credentials=draw(st.booleans()))
    reqs = {c: SignalRequirement(signals=frozenset(draw(st.sets(st.sampled_from(SIGNALS)))))
            for c in Criticality}
    obs = ObservabilityPolicy(requirements=reqs, min_coverage=draw(st.sampled_from([0.5, 1.0])),
                              traces_for_online=draw(st.booleans()))
    return Policy(governance=gov, observability=obs)


def _tighten(policy: Policy, draw: st.DrawFn) -> Policy:
    """One tightening step of any kind."""
    gov, obs = policy.governance, policy.observability
    kind = draw(st.sampled_from(["jurisdiction", "region", "budget", "audit", "scoped",
                                 "signals", "coverage", "replication", "endpoint", "shared"]))
    idx = draw(st.integers(0, len(gov.classes) - 1))
    cls = gov.classes[idx]
    update: dict[str, object] = {}
    if kind == "jurisdiction":
        current = cls.allowed_jurisdictions or JURISDICTIONS
        keep = tuple(j for j in current if j != draw(st.sampled_from(current)))
        update = {"allowed_jurisdictions": keep or None} if keep else {}
    elif kind == "region":
        current = cls.allowed_regions or REGIONS
        drop = draw(st.sampled_from(current))
        keep = tuple(r for r in current if r != drop)
        update = {"allowed_regions": keep} if keep else {}
    elif kind == "audit":
        update = {"require_audit": True}
    elif kind == "replication":
        update = {"allow_replication": False}
    elif kind == "endpoint":
        update = {"allow_public_endpoint": False}
    elif kind == "shared":
        update = {"allow_shared_identity": False}
    classes = tuple(c if i != idx else c.model_copy(update=update)
                    for i, c in enumerate(gov.classes))
    gov = gov.model_copy(update={"classes": classes})
    if kind == "budget":
        per = gov.exposure_budget.per_stage
        gov = gov.model_copy(update={"exposure_budget": ExposureBudget(
            per_stage=(per if per is not None else 40.0) * draw(st.floats(0.1, 1.0)),
            total=gov.exposure_budget.total)})
    elif kind == "scoped":
        gov = gov.model_copy(update={"require_scoped_credentials": True})
    elif kind == "signals":
        crit = draw(st.sampled_from(list(Criticality)))
        req = obs.requirements[crit]
        reqs = {**obs.requirements, crit: SignalRequirement(
            signals=req.signals | {draw(st.sampled_from(SIGNALS))})}
        obs = obs.model_copy(update={"requirements": reqs})
    elif kind == "coverage":
        obs = obs.model_copy(update={"min_coverage": 1.0, "traces_for_online": True})
    return Policy(governance=gov, observability=obs)


def _inp(policy: Policy) -> PlanningInput:
    return PlanningInput(pipeline=make_pipeline(), policy=policy, catalog=make_catalog())


def _admitted_ids(inp: PlanningInput) -> dict[str, set[str]] | None:
    """Admitted option ids, or None when validation rejects the policy as a whole."""
    try:
        outcome = screen_options(inp, all_options(inp))
    except GateError:
        return None
    return {k: {o.id for o in v} for k, v in outcome.admitted.items()}


def _valid(policy: Policy) -> bool:
    try:
        validate_policy(_inp(policy))
    except GateError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_tightening_a_policy_never_admits_more(data: st.DataObject) -> None:
    loose = data.draw(policies())
    tight = _tighten(loose, data.draw)
    before, after = _admitted_ids(_inp(loose)), _admitted_ids(_inp(tight))
    assume(before is not None)
    assert before is not None
    if after is None:  # the tightened policy is rejected outright: it admits nothing
        return
    for stage, ids in after.items():
        assert ids <= before[stage], stage


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), data=st.data())
def test_every_admitted_option_satisfies_every_rule(policy: Policy, data: st.DataObject) -> None:
    assume(_valid(policy))
    inp = _inp(policy)
    outcome = screen_options(inp, all_options(inp))
    for stage, options in outcome.admitted.items():
        for option in options:
            assert check_option(inp, stage, option) == []
        for _option, reasons in outcome.rejected[stage]:
            assert reasons and all(v.stage == stage for v in reasons)
    if all(outcome.admitted.values()):
        assignment = {k: data.draw(st.sampled_from(v)) for k, v in outcome.admitted.items()}
        coupling = {"gov.exposure.total", "gov.shared_identity", "obs.coverage"}
        assert {v.rule_id for v in check_plan(inp, assignment)} <= coupling


@settings(max_examples=10, deadline=None)
@given(policy=policies())
def test_same_input_gives_same_verdicts_in_same_order(policy: Policy) -> None:
    assume(_valid(policy))
    inp = _inp(policy)
    a = screen_options(inp, all_options(inp))
    b = screen_options(inp, all_options(inp))
    assert a.admitted == b.admitted
    assert a.rejected == b.rejected
    assert a.report == b.report


def test_residency_placement_and_copies(planning_input: Callable[..., PlanningInput]) -> None:
    classes = tuple(c.model_copy(update={"allowed_jurisdictions": ("eu",)})
                    if c.name == "restricted" else c for c in GovernancePolicy().classes)
    inp = planning_input(governance=GovernancePolicy(classes=classes))
    outcome = screen_options(inp, all_options(inp))
    assert outcome.admitted["prepare"]
    assert all(o.region.startswith("eu-") for o in outcome.admitted["prepare"])
    rejected = dict((o.id, vs) for o, vs in outcome.rejected["prepare"])
    us = next(o for o in all_options(inp)["prepare"] if o.region == "us-east-1")
    assert "gov.residency.placement" in {v.rule_id for v in rejected[us.id]}
    placement = next(v for v in rejected[us.id] if v.rule_id == "gov.residency.placement")
    assert placement.measured == "us-east-1"
    assert placement.allowed == "eu-central-1,eu-west-1"
    assert placement.field == "policy.governance.classes[3].allowed_regions"


def test_copy_outside_jurisdiction_is_rejected(
    planning_input: Callable[..., PlanningInput],
) -> None:
    # 'train' reads internal features; make internal EU-only and place train in the US
    classes = tuple(c.model_copy(update={"allowed_jurisdictions": ("eu",)})
                    if c.name == "internal" else c for c in GovernancePolicy().classes)
    inp = planning_input(governance=GovernancePolicy(classes=classes))
    option = next(o for o in all_options(inp)["train"]
                  if o.region == "us-east-1" and o.access == AccessStrategy.SELECTIVE_REPLICATION)
    rules = {v.rule_id for v in check_option(inp, "train", option)}
    assert {"gov.residency.placement", "gov.residency.copy"} <= rules


def test_exposure_counts_and_reach(planning_input: Callable[..., PlanningInput]) -> None:
    inp = planning_input()
    opts = all_options(inp)["prepare"]
    direct = next(o for o in opts if o.access == AccessStrategy.DIRECT)
    cache_us = next(o for o in opts if o.access == AccessStrategy.REGIONAL_CACHE
                    and o.region == "us-east-1")
    e0, e1 = exposure_of(inp, "prepare", direct), exposure_of(inp, "prepare", cache_us)
    assert (e0.copies, e0.units) == ((), 4.0)  # one identity of a restricted stage
    # caches: customers (restricted, 4, cross-region x2) + weather (public, 1, home) + id 4
    assert e1.copies_by_class == {"public": 1, "restricted": 1}
    assert e1.cross_region_copies == 1
    assert e1.units == 4 + 4 + 1 + 4
    # reach: reads customers (4) + weather (1), writes features (2)
    assert identity_reach(inp, "prepare") == 7.0


def test_plan_level_coupling_rules(planning_input: Callable[..., PlanningInput]) -> None:
    inp = planning_input(governance=GovernancePolicy(
        exposure_budget=ExposureBudget(total=5.0)))
    opts = all_options(inp)
    assignment = {k: next(o for o in v if o.isolation == Isolation.SHARED and o.tier == "fargate")
                  for k, v in opts.items()}
    rules = {v.rule_id for v in check_plan(inp, assignment)}
    assert {"gov.exposure.total", "gov.shared_identity", "gov.identity.scoped"} <= rules


def test_observability_traces_for_online_and_coverage(
    planning_input: Callable[..., PlanningInput],
) -> None:
    inp = planning_input()
    opts = all_options(inp)
    on_lambda = next(o for o in opts["serve"] if o.tier == "lambda")
    assert {v.rule_id for v in check_option(inp, "serve", on_lambda)} == {"obs.signals.traces"}
    assignment = {k: next(o for o in v if o.tier == "ec2") for k, v in opts.items()}
    coverage = observability_coverage(inp, assignment)
    # ec2 emits logs only: prepare/train (standard) need metrics, serve needs all three
    assert coverage == {"logs": 100.0, "metrics": 0.0, "traces": 0.0, "all": 0.0}


def test_empty_stage_gets_smallest_relaxation(planning_input: Callable[..., PlanningInput]) -> None:
    classes = tuple(c.model_copy(update={"allow_public_endpoint": False})
                    if c.name == "internal" else c for c in GovernancePolicy().classes)
    inp = planning_input(governance=GovernancePolicy(classes=classes))
    outcome = screen_options(inp, all_options(inp))
    assert outcome.empty_stages == ["serve"]
    summary = next(s for s in outcome.report.stages if s.stage == "serve")
    assert summary.options_after["governance"] == 0
    assert summary.reasons["gov.public_endpoint"] == summary.options_before
    assert summary.smallest_relaxation is not None
    assert summary.smallest_relaxation.startswith(
        "policy.governance.classes[1].allow_public_endpoint: allow public")


def test_slo_gate_prunes_options_over_the_stage_slo(
    planning_input: Callable[..., PlanningInput],
) -> None:
    pytest.importorskip("airflow_cloudplan.optimize.latency")
    from airflow_cloudplan.optimize.latency import stage_latency_ms

    base = make_pipeline()
    inp0 = planning_input(pipeline=base)
    opts = all_options(inp0)["train"]
    latencies = sorted({stage_latency_ms(inp0, "train", o) for o in opts})
    limit_ms = latencies[len(latencies) // 2]
    stages = tuple(s.model_copy(update={"slo": s.slo.model_copy(
        update={"deadline_minutes": limit_ms / 60_000.0})}) if s.name == "train" else s
        for s in base.stages)
    inp = planning_input(pipeline=make_pipeline(stages=stages))
    outcome = screen_options(inp, all_options(inp))
    for o in outcome.admitted["train"]:
        assert stage_latency_ms(inp, "train", o) <= limit_ms
    slow = [o for o, vs in outcome.rejected["train"] if any(v.rule_id == "slo.deadline"
                                                            for v in vs)]
    assert slow and all(stage_latency_ms(inp, "train", o) > limit_ms for o in slow)
