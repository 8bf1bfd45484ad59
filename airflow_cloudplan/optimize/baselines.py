"""The three baseline planners the optimizer is compared with (the seed paper's baselines).

Each is a real planner over the *ungated* candidate options — what a team would deploy
without this tool — scored with the optimizer's own models (``scoring``) and then checked
against the same gates (``gates.check_plan``) and coupling bounds, so the summary can say
exactly which rules each baseline breaks:

* **compute-centric** — per stage the option with the cheapest compute
  (``stage_cost(...).compute_usd``), read data directly wherever it lives, one shared
  service identity; ignores locality, governance and observability.
* **locality-only** — in DAG order, per stage the most aggressive locality strategy on
  offer (selective replication > partitioned locality > regional cache > direct) and the
  option minimising its own latency plus the transfer time from its already-placed
  predecessors; ignores cost and exposure.
* **rules-based autoscaling** — rule-based scaling on CPU/memory thresholds: the
  container tier when offered, the smallest instance whose memory holds the stage's
  demand at the 80 % memory threshold, in the home region of the stage's data; then
  governance and observability are applied *after* scaling (switch to scoped credentials,
  else to the first compliant option with the same instance type), not optimised for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from airflow_cloudplan.dataflow.locations import edge_transfer_gb
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import (
    AccessStrategy,
    BaselineResult,
    Isolation,
    ScalingPolicy,
    StageOption,
    Violation,
)

MEMORY_THRESHOLD = 0.8
"""Rule-based sizing: an instance is big enough when demand ≤ 80 % of its memory."""

_LOCALITY_ORDER = (AccessStrategy.SELECTIVE_REPLICATION, AccessStrategy.PARTITIONED_LOCALITY,
                   AccessStrategy.REGIONAL_CACHE, AccessStrategy.DIRECT)

Options = Mapping[str, Sequence[StageOption]]


def _usable(inp: PlanningInput, stage: str, options: Sequence[StageOption]
            ) -> list[StageOption]:
    """Options whose latency is finite (an online option below peak capacity is unusable)."""
    from airflow_cloudplan.optimize.latency import stage_latency_ms

    out = [o for o in options if math.isfinite(stage_latency_ms(inp, stage, o))]
    return out or list(options)


def compute_centric(inp: PlanningInput, options: Options) -> dict[str, StageOption]:
    """Cheapest compute per stage, direct data access, one shared identity."""
    from airflow_cloudplan.optimize.cost import stage_cost

    plan: dict[str, StageOption] = {}
    for k in inp.pipeline.topological_order():
        usable = _usable(inp, k, options[k])
        naive = [o for o in usable if o.access is AccessStrategy.DIRECT
                 and o.isolation is Isolation.SHARED] or usable
        plan[k] = min(naive, key=lambda o: (stage_cost(inp, k, o).compute_usd,
                                            stage_cost(inp, k, o).total_usd, o.id))
    return plan


def locality_only(inp: PlanningInput, options: Options) -> dict[str, StageOption]:
    """Most aggressive locality, then least latency incl. transfer from predecessors."""
    from airflow_cloudplan.optimize.latency import edge_transfer_ms_per_gb, stage_latency_ms

    plan: dict[str, StageOption] = {}
    incoming = {k: [e for e in inp.pipeline.edges if e.dst == k]
                for k in inp.pipeline.stage_by_name}
    for k in inp.pipeline.topological_order():
        usable = _usable(inp, k, options[k])
        for access in _LOCALITY_ORDER:
            pool = [o for o in usable if o.access is access]
            if pool:
                break

        def arrival(o: StageOption, k: str = k) -> tuple[float, str]:
            transfer = max((edge_transfer_gb(inp.pipeline, e) * edge_transfer_ms_per_gb(
                inp.catalog, plan[e.src].region, o.region) for e in incoming[k]), default=0.0)
            return (stage_latency_ms(inp, k, o) + transfer, o.id)

        plan[k] = min(pool, key=arrival)
    return plan


def _home_region(inp: PlanningInput, stage: str) -> str | None:
    reads = inp.pipeline.stage_by_name[stage].reads
    datasets = [inp.pipeline.dataset_by_name[d] for d in reads
                if d in inp.pipeline.dataset_by_name]
    if not datasets:
        return None
    return max(datasets, key=lambda d: d.size_gb).home_region


def rules_based_autoscaling(inp: PlanningInput, options: Options) -> dict[str, StageOption]:
    """Threshold-sized rule-based autoscaling; governance/observability fixed afterwards."""
    from airflow_cloudplan.gates import check_option
    from airflow_cloudplan.optimize.cost import stage_cost
    from airflow_cloudplan.optimize.demand import resolve_demand

    plan: dict[str, StageOption] = {}
    for k in inp.pipeline.topological_order():
        usable = _usable(inp, k, options[k])
        memory = resolve_demand(inp, k).memory_gib / MEMORY_THRESHOLD
        home = _home_region(inp, k)
        pool = [o for o in usable if o.scaling is ScalingPolicy.RULE_BASED] or usable
        pool = [o for o in pool if o.region == home] or pool
        pool = [o for o in pool if "eks" in o.tier or "container" in o.tier] or pool
        pool = [o for o in pool if o.access is AccessStrategy.DIRECT] or pool
        big_enough = [o for o in pool
                      if inp.catalog.instance_type(o.instance_type).memory_gib >= memory]
        pool = big_enough or pool
        chosen = min(pool, key=lambda o: (
            inp.catalog.instance_type(o.instance_type).memory_gib, o.isolation is
            Isolation.SCOPED, stage_cost(inp, k, o).total_usd, o.id))
        plan[k] = _apply_after_scaling(inp, k, chosen, options[k], check_option)
    return plan


def _apply_after_scaling(inp: PlanningInput, stage: str, chosen: StageOption,
                         options: Sequence[StageOption],
                         check: Callable[[PlanningInput, str, StageOption], list[Violation]],
                         ) -> StageOption:
    """Post-hoc compliance: scoped credentials, else a compliant same-type option."""
    if not check(inp, stage, chosen):
        return chosen
    scoped = chosen.model_copy(update={"isolation": Isolation.SCOPED})
    if scoped in options and not check(inp, stage, scoped):
        return scoped
    for o in options:
        if o.instance_type == chosen.instance_type and o.scaling is chosen.scaling and not check(
                inp, stage, o):
            return o
    return scoped if scoped in options else chosen


BASELINES: tuple[tuple[str, str, Callable[[PlanningInput, Options], dict[str, StageOption]]],
                 ...] = (
    ("compute-centric", "cheapest compute per stage; ignores locality, governance and "
     "observability", compute_centric),
    ("locality-only", "least transfer latency by aggressive replication/caching; ignores "
     "cost and exposure", locality_only),
    ("rules-based-autoscaling", "CPU/memory threshold autoscaling; governance and "
     "observability applied after scaling", rules_based_autoscaling),
)


def coupling_violations(inp: PlanningInput, latency_ms: float, cost_usd: float
                        ) -> list[Violation]:
    """Deadline and budget of the pipeline (the gates check the rest)."""
    out: list[Violation] = []
    deadline = inp.pipeline.deadline_minutes
    if deadline is not None and not latency_ms <= deadline * 60_000.0:
        out.append(Violation(gate="slo", rule_id="pipeline.deadline", field="deadline_minutes",
                             measured=f"{latency_ms / 60_000:.1f} min",
                             allowed=f"{deadline:g} min",
                             message="end-to-end latency exceeds the pipeline deadline"))
    budget = inp.pipeline.budget_usd_per_month
    if budget is not None and cost_usd > budget:
        out.append(Violation(gate="plan", rule_id="pipeline.budget",
                             field="budget_usd_per_month", measured=f"{cost_usd:,.2f}",
                             allowed=f"{budget:,.2f}",
                             message="monthly cost exceeds the pipeline budget"))
    return out


def run_baselines(inp: PlanningInput, options: Options, *, base_dir: object = None
                  ) -> list[BaselineResult]:
    """Every baseline's plan, scored by the same models and checked by the same gates."""
    from pathlib import Path

    from airflow_cloudplan.gates import check_plan
    from airflow_cloudplan.optimize.scoring import evaluate_assignment

    out: list[BaselineResult] = []
    for name, description, planner in BASELINES:
        assignment = planner(inp, options)
        plan = evaluate_assignment(inp, assignment, solver_status="baseline")
        violations = check_plan(inp, assignment,
                                base_dir=base_dir if isinstance(base_dir, Path) else None)
        violations += coupling_violations(inp, plan.objectives.latency_ms,
                                          plan.objectives.cost_usd_month)
        out.append(BaselineResult(name=name, description=description, plan=plan.model_copy(
            update={"violations": tuple(violations)})))
    return out
