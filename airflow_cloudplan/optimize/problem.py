"""The numeric planning problem: the contract between scoring and solving.

Scoring (``optimize.scoring.build_problem``) turns a :class:`PlanningInput` and the
gate-admitted options into a :class:`PlanningProblem` of plain numbers; the solver
(``optimize.milp`` / ``optimize.pareto``) never looks at the catalog or the spec again.
This split (SkyPilot's "cost map, formulation, solve") lets the benchmark generator build
problems directly and keeps the MILP testable against brute force.

Per-option numbers exclude everything that depends on *another* stage's choice; those
couplings are given by region and identity and are linearised by the solver:

* inter-stage egress cost and transfer time along a data edge depend only on the pair of
  regions chosen at its two ends (``egress_usd_per_gb``, ``transfer_ms_per_gb``);
* a stage that runs under the shared identity has a blast radius equal to everything the
  shared identity can reach, i.e. the sum of ``reach`` of every stage that uses it.

Symbols (the same as docs/models.md): for stage k and option o, c[k,o] = cost (USD/month),
l[k,o] = stage latency (ms), e[k,o] = exposure surface (units), shared[k,o] ∈ {0,1},
reach[k] = blast radius of stage k's own scoped identity (units).
Risk of stage k = e[k,o] × (reach[k] if scoped else Σ_{j uses shared} reach[j]).
covered[k,o] ∈ {0,1}: the option's tier emits every signal stage k must emit; with
``min_coverage`` m < 1 the plan must cover at least ⌈m · n⌉ of its n stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_cloudplan.model.plan import StageOption


@dataclass(frozen=True)
class ProblemOption:
    """One admitted option of one stage with its stage-local scores."""

    option: StageOption
    cost_usd: float
    latency_ms: float
    exposure: float
    shared: bool
    covered: bool = True

    @property
    def region(self) -> str:
        """The option's region (the coupling key for egress)."""
        return self.option.region


@dataclass(frozen=True)
class ProblemEdge:
    """A data edge: ``gb_per_month`` drives egress cost, ``gb_per_run`` transfer time."""

    src: str
    dst: str
    gb_per_month: float
    gb_per_run: float


@dataclass
class PlanningProblem:
    """Everything the solver needs, as numbers.

    ``stages`` is in topological order. ``options[k]`` is non-empty for every stage (the
    gates report stages with no admitted option before a problem is built).
    ``on_path[k]`` says whether stage k's latency counts in the end-to-end longest path
    (online stages that serve requests independently of the batch DAG may be excluded
    from the path and bounded by their own SLO only).
    ``forbid_shared_across_classes``: two stages whose ``sensitivity`` classes differ may
    not both use the shared identity (a coupling constraint, so it lives in the MILP).
    ``min_coverage``: share of stages whose chosen option must be ``covered`` (observability
    coverage below 100 % couples stages, so it lives in the MILP too; None = no rule).
    """

    stages: list[str]
    options: dict[str, list[ProblemOption]]
    edges: list[ProblemEdge]
    reach: dict[str, float]
    regions: list[str]
    egress_usd_per_gb: dict[tuple[str, str], float]
    transfer_ms_per_gb: dict[tuple[str, str], float]
    on_path: dict[str, bool] = field(default_factory=dict)
    deadline_ms: float | None = None
    exposure_budget_total: float | None = None
    budget_usd_month: float | None = None
    sensitivity: dict[str, str] = field(default_factory=dict)
    forbid_shared_across_classes: bool = False
    min_coverage: float | None = None

    @property
    def min_covered(self) -> int:
        """⌈min_coverage · n⌉: how many stages must be covered (0 without the rule)."""
        if self.min_coverage is None:
            return 0
        import math

        return math.ceil(self.min_coverage * len(self.stages) - 1e-9)

    @property
    def n_options(self) -> int:
        """Total number of options over all stages."""
        return sum(len(v) for v in self.options.values())
