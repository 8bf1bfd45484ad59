"""Scoring: the models turned into the solver's numbers, and any plan scored with them.

:func:`build_problem` fills a :class:`PlanningProblem` from a planning input and the
gate-admitted options: per option c[k,o] = :func:`cost.stage_cost` total, l[k,o] =
:func:`latency.stage_latency_ms`, e[k,o] = ``exposure_of(...).units``, shared[k,o];
per stage reach[k] and its sensitivity class; per data edge GB/month (GB/run × runs/month
of its source stage) and GB/run; per region pair (r, s) used by an edge,
egress[r,s] = :func:`cost.egress_usd_per_gb` and transfer[r,s] =
:func:`latency.edge_transfer_ms_per_gb`. Every stage is on the latency path (online
stages contribute their p95), and the coupling bounds come from the policy and pipeline.

:func:`evaluate_assignment` scores a full assignment with the *same* functions:

    C = Σ_k c[k,o_k] + Σ_{(i,j)} g_m(i,j) · egress[r_i, r_j]
    L = max over DAG paths of Σ_{k on path} l[k,o_k] + Σ_{(i,j) on path} g_r(i,j)·transfer[r_i, r_j]
    R = Σ_k e[k,o_k] · (reach[k] if scoped else Σ_{j shared} reach[j])

so that (C, L, R) of any plan equals the objective the solver computes from the problem
(tests/optimize/test_scoring.py checks it on random assignments).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from airflow_cloudplan.dataflow.locations import edge_transfer_gb
from airflow_cloudplan.errors import Problem, SolverError
from airflow_cloudplan.gates.exposure import exposure_of, identity_reach, stage_sensitivity
from airflow_cloudplan.gates.observability import option_covered
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import (
    EvaluatedPlan,
    Isolation,
    Objectives,
    StageEvaluation,
    StageOption,
)
from airflow_cloudplan.optimize.cost import (
    data_costs,
    egress_usd_per_gb,
    replica_usd_per_hour,
    stage_cost,
)
from airflow_cloudplan.optimize.demand import resolve_demand
from airflow_cloudplan.optimize.latency import (
    batch_breakdown,
    edge_transfer_ms_per_gb,
    online_breakdown,
    stage_latency_ms,
)
from airflow_cloudplan.optimize.problem import PlanningProblem, ProblemEdge, ProblemOption
from airflow_cloudplan.optimize.risk import plan_risks

NO_CLASS = "unclassified"
"""Sensitivity label of a stage that touches no classified dataset."""


def stage_class(inp: PlanningInput, stage_name: str) -> str:
    """The sensitivity class name a stage obeys (``unclassified`` when none)."""
    cls = stage_sensitivity(inp, stage_name)
    return cls.name if cls is not None else NO_CLASS


def edges_of(inp: PlanningInput) -> list[ProblemEdge]:
    """Data edges with GB per month (source stage's runs) and GB per run.

    An edge whose data goes through dataset homes (``dataflow.via_storage``) moves
    nothing directly: the stages' writes and reads already carry its bytes.
    """
    out: list[ProblemEdge] = []
    for e in inp.pipeline.edges:
        runs = resolve_demand(inp, e.src).runs_per_month
        gb = edge_transfer_gb(inp.pipeline, e)
        out.append(ProblemEdge(e.src, e.dst, gb * runs, gb))
    return out


def build_problem(
    inp: PlanningInput, admitted: Mapping[str, Sequence[StageOption]]
) -> PlanningProblem:
    """The numeric problem over the admitted options (unstable online options excluded).

    An online option whose servers cannot carry the peak load has an unbounded p95; it can
    satisfy no SLO and no deadline, so it is left out (exactly). A stage left with no
    option is an error naming the stage.
    """
    stages = inp.pipeline.topological_order()
    options: dict[str, list[ProblemOption]] = {}
    problems: list[Problem] = []
    for k in stages:
        scored: list[ProblemOption] = []
        # Cost, latency and exposure do not depend on isolation: score each option once.
        memo: dict[str, tuple[float, float, float]] = {}
        for o in admitted.get(k, ()):
            key = o.model_copy(update={"isolation": Isolation.SCOPED}).id
            if key not in memo:
                memo[key] = (
                    stage_cost(inp, k, o).total_usd,
                    stage_latency_ms(inp, k, o),
                    exposure_of(inp, k, o).units,
                )
            cost, latency, exposure = memo[key]
            if not math.isfinite(latency):
                continue
            scored.append(
                ProblemOption(
                    option=o,
                    cost_usd=cost,
                    latency_ms=latency,
                    exposure=exposure,
                    shared=o.isolation is Isolation.SHARED,
                    covered=option_covered(inp, k, o),
                )
            )
        if not scored:
            problems.append(
                Problem(
                    f"stage '{k}' has no admitted option that can carry its load",
                    path=f"stages.{k}",
                    hint="widen its regions, tiers or instance types, or raise replicas_max",
                )
            )
        options[k] = scored
    if problems:
        raise SolverError("no option left to plan some stages", problems)
    edges = edges_of(inp)
    regions = sorted({po.region for opts in options.values() for po in opts})
    egress: dict[tuple[str, str], float] = {}
    transfer: dict[tuple[str, str], float] = {}
    for e in edges:
        for r in {po.region for po in options[e.src]}:
            for s in {po.region for po in options[e.dst]}:
                if (r, s) not in egress:
                    egress[(r, s)] = egress_usd_per_gb(inp.catalog, r, s)
                    transfer[(r, s)] = edge_transfer_ms_per_gb(inp.catalog, r, s)
    deadline = inp.pipeline.deadline_minutes
    return PlanningProblem(
        stages=stages,
        options=options,
        edges=edges,
        reach={k: identity_reach(inp, k) for k in stages},
        regions=regions,
        egress_usd_per_gb=egress,
        transfer_ms_per_gb=transfer,
        on_path=dict.fromkeys(stages, True),
        deadline_ms=deadline * 60_000.0 if deadline is not None else None,
        exposure_budget_total=inp.policy.governance.exposure_budget.total,
        budget_usd_month=inp.pipeline.budget_usd_per_month,
        sensitivity={k: stage_class(inp, k) for k in stages},
        forbid_shared_across_classes=inp.policy.governance.forbid_shared_identity_across_classes,
        min_coverage=inp.policy.observability.min_coverage,
    )


def end_to_end_latency_ms(
    inp: PlanningInput, assignment: Mapping[str, StageOption], stage_latency: Mapping[str, float]
) -> float:
    """Longest path through the DAG: stage latencies plus edge transfer times."""
    finish: dict[str, float] = {}
    preds: dict[str, list[tuple[str, float]]] = {s.name: [] for s in inp.pipeline.stages}
    for e in inp.pipeline.edges:
        t = edge_transfer_gb(inp.pipeline, e) * edge_transfer_ms_per_gb(
            inp.catalog, assignment[e.src].region, assignment[e.dst].region
        )
        preds[e.dst].append((e.src, t))
    for k in inp.pipeline.topological_order():
        start = max((finish[i] + t for i, t in preds[k]), default=0.0)
        finish[k] = start + stage_latency[k]
    return max(finish.values(), default=0.0)


def _detail(inp: PlanningInput, stage_name: str, option: StageOption) -> dict[str, float]:
    demand = resolve_demand(inp, stage_name)
    parts = (
        online_breakdown(inp, option, demand)
        if demand.online
        else batch_breakdown(inp, option, demand)
    )
    return {**parts, "usd_per_replica_hour": replica_usd_per_hour(inp.catalog, option),
            **data_costs(inp, option, demand).as_detail()}


def evaluate_assignment(
    inp: PlanningInput,
    assignment: Mapping[str, StageOption],
    *,
    proven_optimal: bool = False,
    solver_status: str = "evaluated",
) -> EvaluatedPlan:
    """(C, L, R) and per-stage breakdowns of a full assignment, with the solver's models."""
    missing = [s.name for s in inp.pipeline.stages if s.name not in assignment]
    unknown = [k for k in assignment if k not in inp.pipeline.stage_by_name]
    if missing or unknown:
        raise SolverError(
            "the assignment does not cover the pipeline's stages exactly",
            [Problem(f"no option for stage '{k}'", path=k, hint="add it") for k in missing]
            + [Problem(f"unknown stage '{k}'", path=k, hint="remove it") for k in unknown],
        )
    ordered = {k: assignment[k] for k in inp.pipeline.topological_order()}
    latency = {k: stage_latency_ms(inp, k, o) for k, o in ordered.items()}
    risks = {r.stage: r for r in plan_risks(inp, ordered)}
    evaluations: list[StageEvaluation] = []
    stage_cost_total = 0.0
    for k, o in ordered.items():
        cost = stage_cost(inp, k, o)
        stage_cost_total += cost.total_usd
        r = risks[k]
        evaluations.append(
            StageEvaluation(
                stage=k,
                option=o,
                cost=cost,
                latency_ms=latency[k],
                exposure=r.exposure,
                blast_radius=r.blast_radius,
                risk=r.risk,
                detail=_detail(inp, k, o),
            )
        )
    egress = sum(
        e.gb_per_month
        * egress_usd_per_gb(inp.catalog, ordered[e.src].region, ordered[e.dst].region)
        for e in edges_of(inp)
    )
    objectives = Objectives(
        cost_usd_month=stage_cost_total + egress,
        latency_ms=end_to_end_latency_ms(inp, ordered, latency),
        risk=sum(r.risk for r in risks.values()),
    )
    return EvaluatedPlan(
        assignment=dict(ordered),
        objectives=objectives,
        stages=tuple(evaluations),
        egress_usd_month=egress,
        proven_optimal=proven_optimal,
        solver_status=solver_status,
    )
