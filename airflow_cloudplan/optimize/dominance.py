"""Exact in-stage pruning of dominated options, before the MILP sees them.

Everything that couples stage k to other stages depends on option o only through its
region (egress cost and transfer time along data edges), its shared flag (blast radius
of the shared identity, the shared-across-classes constraint) and its covered flag (the
observability coverage constraint). All other scores — c, l, e
— enter every objective and every coupling constraint monotonically with non-negative
coefficients (cost, latency on every path, risk = e × reach or e × Σ shared reach, total
exposure). Hence, within one (stage, region, shared, covered) group, an option q with
c[q] ≤ c[o], l[q] ≤ l[o], e[q] ≤ e[o] can replace o in *any* plan without making any
objective worse or any constraint violated: o can be dropped exactly. Options equal on all
three are duplicates in objective space; the first one (in input order) is kept.

The architecture notes measured 10,000 → 3,347 options on a 20 × 500 instance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from airflow_cloudplan.optimize.problem import PlanningProblem, ProblemOption


@dataclass
class StagePruning:
    """What pruning did to one stage: counts, and which option pruned which."""

    stage: str
    before: int
    after: int
    dominated: int = 0
    duplicates: int = 0
    pruned_by: dict[str, str] = field(default_factory=dict)
    """pruned option id -> id of the option in the same region/identity that beats it."""


@dataclass
class PruningReport:
    """Per-stage pruning results and totals."""

    stages: list[StagePruning]

    @property
    def before(self) -> int:
        """Options before pruning."""
        return sum(s.before for s in self.stages)

    @property
    def after(self) -> int:
        """Options after pruning."""
        return sum(s.after for s in self.stages)


def _key(o: ProblemOption) -> tuple[float, float, float]:
    return (o.cost_usd, o.latency_ms, o.exposure)


def _prune_group(group: list[tuple[int, ProblemOption]], report: StagePruning) -> list[int]:
    """Indices of the group's non-dominated options (a 3-D skyline by sweep on cost)."""
    order = sorted(group, key=lambda io: (_key(io[1]), io[0]))
    kept: list[tuple[int, ProblemOption]] = []
    for i, opt in order:
        beaten_by = None
        for _, q in kept:  # every kept option has cost <= this one's (sorted)
            if q.latency_ms <= opt.latency_ms and q.exposure <= opt.exposure:
                beaten_by = q
                break
        if beaten_by is None:
            kept.append((i, opt))
            continue
        if _key(beaten_by) == _key(opt):
            report.duplicates += 1
        else:
            report.dominated += 1
        report.pruned_by[opt.option.id] = beaten_by.option.id
    return [i for i, _ in kept]


def prune_dominated(problem: PlanningProblem) -> tuple[PlanningProblem, PruningReport]:
    """A copy of ``problem`` without options dominated inside their stage, and the report.

    Exact: the Pareto frontier (in objective space) and every constraint's feasibility are
    unchanged — see the module docstring for why.
    """
    options: dict[str, list[ProblemOption]] = {}
    stages: list[StagePruning] = []
    for k in problem.stages:
        opts = problem.options[k]
        report = StagePruning(stage=k, before=len(opts), after=0)
        groups: dict[tuple[str, bool, bool], list[tuple[int, ProblemOption]]] = {}
        for i, o in enumerate(opts):
            groups.setdefault((o.region, o.shared, o.covered), []).append((i, o))
        keep: list[int] = []
        for group in groups.values():
            keep += _prune_group(group, report)
        options[k] = [opts[i] for i in sorted(keep)]
        report.after = len(options[k])
        stages.append(report)
    pruned = dataclasses.replace(problem, options=options)
    return pruned, PruningReport(stages)
