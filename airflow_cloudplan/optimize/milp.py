"""One MILP over a :class:`PlanningProblem`, built once and re-solved with new objectives.

Symbols are those of ``problem.py``: stages k (topological order), options o ∈ O_k with
stage-local cost c[k,o] (USD/month), latency l[k,o] (ms), exposure e[k,o] (units) and
shared[k,o] ∈ {0,1}; reach[k]; data edges (i, j) with g_m = GB/month and g_r = GB/run;
egress[r,s] (USD/GB) and transfer[r,s] (ms/GB) between regions; R_k = regions of O_k.

Variables
    x[k,o] ∈ {0,1}                 option o chosen for stage k
    z[k,r] ∈ [0,1]                 region indicator, z[k,r] = Σ_{o ∈ O_k, region(o)=r} x[k,o]
    f[e,r,s] ≥ 0                   edge e=(i,j) runs from region r to region s
    λ[k] ≥ 0                       stage latency, λ[k] = Σ_o l[k,o] x[k,o]
    S[k] ≥ 0                       start time of stage k on the critical-path graph
    E[k] ≥ 0, y[k] ∈ [0,1]         shared exposure E[k] = Σ_{o shared} e[k,o] x[k,o],
                                   shared use y[k] = Σ_{o shared} x[k,o]
    w[k,j] ≥ 0                     McCormick product E[k]·y[j] (k ≠ j)
    u[c] ∈ [0,1]                   "sensitivity class c uses the shared identity"
    C, L, R                        the three objectives
    (data) covered[k,o] ∈ {0,1}     option o's tier emits every signal stage k must emit

Constraints
    Σ_o x[k,o] = 1                                     one option per stage
    Σ_s f[e,r,s] = z[i,r],  Σ_r f[e,r,s] = z[j,s]      egress on region pairs (a
        transportation polytope: with z binary, f[e,r,s] = z[i,r]·z[j,s] exactly; its LP
        relaxation is tighter than f ≥ z[i,r] + z[j,s] − 1, and it never enumerates pairs
        of full options — |R_i|·|R_j| variables per edge instead of |O_i|·|O_j|)
    C = Σ c[k,o] x[k,o] + Σ_e Σ_{r,s} g_m(e)·egress[r,s]·f[e,r,s]
    S[j] ≥ S[i] + λ[i] + Σ_{r,s} g_r(e)·transfer[r,s]·f[e,r,s]   edges with both ends on path
    L ≥ S[k] + λ[k]                                    on-path stages without on-path successor
    w[k,j] ≥ E[k] − U_k·(1 − y[j])                     U_k = max_{o shared} e[k,o]
    R ≥ Σ_k Σ_{o scoped} e[k,o]·reach[k]·x[k,o] + Σ_k reach[k]·E[k] + Σ_{k≠j} reach[j]·w[k,j]
    Σ_k Σ_o e[k,o] x[k,o] ≤ exposure_budget_total       (group "exposure_budget")
    L ≤ deadline_ms                                     (group "deadline")
    C ≤ budget_usd_month                                (group "budget")
    y[k] ≤ u[class(k)],  Σ_c u[c] ≤ 1                  (group "shared_across_classes")
    Σ_k Σ_{o covered} x[k,o] ≥ ⌈m · n⌉                  (group "observability_coverage";
        m = min_coverage, n stages; stated when some admitted option is not covered)

Why the risk linearisation is exact: risk of a shared stage k is e[k]·Σ_{j shared} reach[j]
= reach[k]·E[k] + Σ_{j≠k} reach[j]·E[k]·y[j]; for binary y[j] the McCormick lower bound
max(0, E[k] − U_k(1 − y[j])) equals E[k]·y[j]. Only lower bounds are needed because R is
only ever minimised or bounded from above (every coefficient is ≥ 0), so the solver can
always choose w at its bound. L is the longest path for the same reason.

Objective: a·C + b·L + c·R with caller-given (a, b, c) ≥ 0 and optional upper bounds on C,
L, R (the ε-constraints of ``pareto.py``).

Statuses are claims, so they come from the solver's own stop reason, never from PuLP's
mapped status (PuLP calls a CBC time-out with an incumbent "Optimal", and HiGHS's
"unbounded or infeasible" "Infeasible"): CBC's ``Result -`` line in its log (else the
first line of its solution file), HiGHS's model status and primal solution status.
``optimal`` and ``infeasible`` are reported only when the solver proved them; a stop
on a limit is ``feasible_not_proven`` with a solution and ``no_solution`` without one
(feasibility unknown). See :func:`outcome_status`.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from airflow_cloudplan.errors import Problem, SolverError
from airflow_cloudplan.optimize.problem import PlanningProblem

if TYPE_CHECKING:
    import pulp

SolverName = Literal["cbc", "highs"]
CONSTRAINT_GROUPS = ("exposure_budget", "deadline", "budget", "shared_across_classes",
                     "observability_coverage")
"""Coupling constraint groups the MILP holds (and infeasibility explanation relaxes)."""

Choice = dict[str, int]
"""An assignment: stage -> index into ``problem.options[stage]``."""


@dataclass(frozen=True)
class ObjectivePoint:
    """(C, L, R) of one plan: USD/month, ms, risk units."""

    cost: float
    latency: float
    risk: float

    def as_tuple(self) -> tuple[float, float, float]:
        """The point as (C, L, R)."""
        return (self.cost, self.latency, self.risk)

    def dominates(self, other: ObjectivePoint, rel_tol: float = 1e-9) -> bool:
        """True when self ≤ other everywhere and < somewhere (beyond ``rel_tol``)."""
        strictly = False
        for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True):
            tol = rel_tol * max(1.0, abs(a), abs(b))
            if a > b + tol:
                return False
            if a < b - tol:
                strictly = True
        return strictly

    def same_as(self, other: ObjectivePoint, rel_tol: float = 1e-9) -> bool:
        """True when the points agree on every objective within ``rel_tol``."""
        return all(
            abs(a - b) <= rel_tol * max(1.0, abs(a), abs(b))
            for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)
        )


def _on_path(problem: PlanningProblem, stage: str) -> bool:
    return problem.on_path.get(stage, True)


def egress_price(problem: PlanningProblem, src: str, dst: str) -> float:
    """USD/GB from region src to dst (0 within a region unless the problem says otherwise)."""
    if (src, dst) in problem.egress_usd_per_gb:
        return problem.egress_usd_per_gb[(src, dst)]
    if src == dst:
        return 0.0
    raise SolverError(
        "egress price missing",
        [Problem(f"no egress price from {src} to {dst}", path="egress_usd_per_gb",
                 hint="the problem builder must price every region pair it admits")],
    )


def transfer_time(problem: PlanningProblem, src: str, dst: str) -> float:
    """ms/GB from region src to dst (0 within a region unless the problem says otherwise)."""
    if (src, dst) in problem.transfer_ms_per_gb:
        return problem.transfer_ms_per_gb[(src, dst)]
    if src == dst:
        return 0.0
    raise SolverError(
        "transfer time missing",
        [Problem(f"no transfer time from {src} to {dst}", path="transfer_ms_per_gb",
                 hint="the problem builder must give a throughput for every region pair")],
    )


def validate_problem(problem: PlanningProblem) -> None:
    """Reject a malformed problem with every problem located (not just the first)."""
    problems: list[Problem] = []
    names = set(problem.stages)
    if len(names) != len(problem.stages):
        problems.append(Problem("stage names repeat", path="stages"))
    for k in problem.stages:
        if not problem.options.get(k):
            problems.append(Problem(
                f"stage {k!r} has no admitted option", path=f"options[{k}]",
                hint="see the gate report for what would admit one"))
        for o, opt in enumerate(problem.options.get(k, [])):
            for label, value in (("cost", opt.cost_usd), ("latency", opt.latency_ms),
                                 ("exposure", opt.exposure)):
                if not (value >= 0 and math.isfinite(value)):
                    problems.append(Problem(
                        f"{label} must be finite and >= 0 (got {value})",
                        path=f"options[{k}][{o}]"))
        if not problem.reach.get(k, 0.0) >= 0:
            problems.append(Problem("reach must be >= 0", path=f"reach[{k}]"))
    position = {k: i for i, k in enumerate(problem.stages)}
    for n, e in enumerate(problem.edges):
        if e.src not in names or e.dst not in names:
            problems.append(Problem(f"edge {e.src}->{e.dst} names an unknown stage",
                                    path=f"edges[{n}]"))
        elif position[e.src] >= position[e.dst]:
            problems.append(Problem(f"edge {e.src}->{e.dst} goes against the topological "
                                    "order of stages", path=f"edges[{n}]",
                                    hint="list stages in dependency order (no cycles)"))
    if problems:
        raise SolverError("the planning problem is malformed", problems)


def evaluate_choice(problem: PlanningProblem, choice: Mapping[str, int]) -> ObjectivePoint:
    """(C, L, R) of an assignment, computed directly (no solver): the MILP's reference."""
    opts = {k: problem.options[k][choice[k]] for k in problem.stages}
    cost = sum(o.cost_usd for o in opts.values())
    for e in problem.edges:
        if e.gb_per_month:
            cost += e.gb_per_month * egress_price(problem, opts[e.src].region,
                                                  opts[e.dst].region)
    finish = _finish_times(problem, opts)
    latency = max(finish.values(), default=0.0)
    shared_reach = sum(problem.reach.get(k, 0.0) for k, o in opts.items() if o.shared)
    risk = sum(
        o.exposure * (shared_reach if o.shared else problem.reach.get(k, 0.0))
        for k, o in opts.items()
    )
    return ObjectivePoint(cost, latency, risk)


def _finish_times(problem: PlanningProblem, opts: Mapping[str, Any]) -> dict[str, float]:
    start = {k: 0.0 for k in problem.stages if _on_path(problem, k)}
    finish: dict[str, float] = {}
    preds: dict[str, list[tuple[str, float]]] = {k: [] for k in start}
    for e in problem.edges:
        if e.src in start and e.dst in start:
            t = e.gb_per_run * transfer_time(problem, opts[e.src].region, opts[e.dst].region)
            preds[e.dst].append((e.src, t))
    for k in problem.stages:
        if k not in start:
            continue
        s = max((finish[i] + t for i, t in preds[k]), default=0.0)
        finish[k] = s + opts[k].latency_ms
    return finish


def critical_path(problem: PlanningProblem, choice: Mapping[str, int]) -> list[str]:
    """The on-path stages whose chain sets the end-to-end latency of ``choice``."""
    opts = {k: problem.options[k][choice[k]] for k in problem.stages}
    finish = _finish_times(problem, opts)
    if not finish:
        return []
    path = [max(finish, key=lambda k: finish[k])]
    while True:
        k = path[-1]
        begin = finish[k] - opts[k].latency_ms
        prev = None
        for e in problem.edges:
            if e.dst == k and e.src in finish:
                t = e.gb_per_run * transfer_time(problem, opts[e.src].region, opts[k].region)
                if abs(finish[e.src] + t - begin) <= 1e-9 * max(1.0, begin):
                    prev = e.src
                    break
        if prev is None or begin <= 0:
            return list(reversed(path))
        path.append(prev)


def violated_constraints(problem: PlanningProblem, choice: Mapping[str, int],
                         rel_tol: float = 1e-9) -> list[str]:
    """Coupling constraint groups that ``choice`` violates (empty = feasible)."""
    point = evaluate_choice(problem, choice)
    out: list[str] = []
    opts = {k: problem.options[k][choice[k]] for k in problem.stages}

    def over(value: float, bound: float) -> bool:
        return value > bound + rel_tol * max(1.0, abs(bound))

    exposure = sum(o.exposure for o in opts.values())
    if problem.exposure_budget_total is not None and over(exposure,
                                                          problem.exposure_budget_total):
        out.append("exposure_budget")
    if problem.deadline_ms is not None and over(point.latency, problem.deadline_ms):
        out.append("deadline")
    if problem.budget_usd_month is not None and over(point.cost, problem.budget_usd_month):
        out.append("budget")
    if problem.forbid_shared_across_classes:
        classes = {problem.sensitivity[k] for k, o in opts.items()
                   if o.shared and k in problem.sensitivity}
        if len(classes) > 1:
            out.append("shared_across_classes")
    if sum(o.covered for o in opts.values()) < problem.min_covered:
        out.append("observability_coverage")
    return out


def coverage_binds(problem: PlanningProblem) -> bool:
    """Whether the coverage rule can exclude anything (some admitted option is uncovered)."""
    return problem.min_covered > 0 and any(
        not o.covered for k in problem.stages for o in problem.options[k])


@dataclass(frozen=True)
class StopReason:
    """Why the solver stopped, in its own words, and whether it holds a solution.

    ``kind``: ``optimal`` | ``infeasible`` | ``unbounded`` (each a proof by the solver),
    ``time_limit`` or ``stopped`` (any other limit or interruption: no proof).
    """

    kind: str
    has_solution: bool
    text: str


_CBC_RESULT = re.compile(r"^Result - (.+?)\s*$", re.M)


def cbc_stop_reason(log: str, status_line: str) -> StopReason:
    """CBC's own stop reason: its log's ``Result -`` line, else its solution file's header.

    The solution header alone is not enough: a stop on the time limit during
    preprocessing can leave an "infeasible" header next to a log that says "Stopped on
    time limit"; the log's verdict wins.
    """
    found = _CBC_RESULT.findall(log)
    header = status_line.strip()
    if found:
        verdict = found[-1]
        solution = ("Objective value:" in log and "No feasible solution found" not in log
                    and "(no integer solution" not in header)
        lowered = verdict.lower()
        if lowered.startswith("optimal solution found"):
            kind = "optimal"
        elif ("infeasible" in lowered and "proven" in lowered) or lowered.startswith(
                "linear relaxation infeasible"):
            kind, solution = "infeasible", False
        elif "unbounded" in lowered:
            kind, solution = "unbounded", False
        elif lowered.startswith("stopped on time"):
            kind = "time_limit"
        else:
            kind = "stopped"
        return StopReason(kind, solution, f"CBC: Result - {verdict}")
    if "Pre-processing says infeasible" in log or "Problem is infeasible" in log:
        # CBC's presolve proved it before any search (its "or unbounded" cannot apply:
        # every objective of this model is bounded below by 0).
        return StopReason("infeasible", False, f"CBC: {header or 'infeasible at presolve'}")
    first = header.split(" ", 1)[0] if header else ""
    if first == "Optimal":
        return StopReason("optimal", True, f"CBC: {header}")
    if first == "Infeasible" or header.startswith("Integer infeasible"):
        return StopReason("infeasible", False, f"CBC: {header}")
    if first == "Unbounded":
        return StopReason("unbounded", False, f"CBC: {header}")
    if header.startswith("Stopped on time"):
        return StopReason("time_limit", "(no integer solution" not in header, f"CBC: {header}")
    return StopReason("stopped", False, f"CBC: {header or 'no status written'}")


def highs_stop_reason(model_status: str, primal_feasible: bool) -> StopReason:
    """HiGHS's own stop reason from its model status text and primal solution status.

    "Primal infeasible or unbounded" proves infeasibility here: every objective of this
    model is bounded below by 0, so it cannot be unbounded.
    """
    text = f"HiGHS: {model_status}"
    status = model_status.lower()
    if status == "optimal":
        return StopReason("optimal", primal_feasible, text)
    if "infeasible" in status:
        return StopReason("infeasible", False, text)
    if "unbounded" in status:
        return StopReason("unbounded", False, text)
    if "time limit" in status:
        return StopReason("time_limit", primal_feasible, text)
    return StopReason("stopped", primal_feasible, text)


def outcome_status(reason: StopReason) -> str:
    """The status a solve may claim from the solver's stop reason.

    ``optimal`` and ``infeasible`` only when the solver proved them; a solution without
    the proof is ``feasible_not_proven``; no solution without a proof is ``no_solution``.
    An unbounded verdict raises (a model bug: every objective is bounded below).
    """
    if reason.kind == "unbounded":
        raise SolverError("the MILP is unbounded", [Problem(
            f"a model bug ({reason.text}): every objective is bounded below by 0",
            hint="report this with the problem that triggered it")])
    if reason.kind == "optimal" and reason.has_solution:
        return "optimal"
    if reason.kind == "infeasible":
        return "infeasible"
    return "feasible_not_proven" if reason.has_solution else "no_solution"


@dataclass(frozen=True)
class SolveOutcome:
    """What one MILP solve gave, with an honest status.

    ``status``: ``optimal`` (proven), ``feasible_not_proven`` (a solution, but a limit
    stopped the proof), ``infeasible`` (proven by the solver), ``no_solution`` (nothing
    found within the limit: feasibility unknown). ``stop_reason`` is the solver's own
    words.
    """

    status: str
    choice: Choice | None
    point: ObjectivePoint | None
    milp_point: ObjectivePoint | None
    wall_time_s: float
    stop_reason: str = ""

    @property
    def proven(self) -> bool:
        """The solver proved optimality (or infeasibility)."""
        return self.status in ("optimal", "infeasible")


@cache
def _cbc_class() -> Any:
    """COIN_CMD that keeps the first line of CBC's solution file (its own status words)."""
    import pulp

    class _RecordingCbc(pulp.COIN_CMD):  # type: ignore[misc]
        status_line = ""

        def get_status(self, filename: str) -> Any:
            with open(filename) as f:
                self.status_line = f.readline()
            return super().get_status(filename)

    return _RecordingCbc


def _make_solver(solver: SolverName, time_limit_s: float, gap_rel: float,
                 warm_start: bool, log_path: str | None = None) -> Any:
    import pulp

    if solver == "cbc":
        # The CBC binary bundled with PuLP, driven through COIN_CMD: PuLP 3.3 deprecates
        # the PULP_CBC_CMD wrapper, not the bundled solver.
        from pulp.apis import coin_api

        return _cbc_class()(path=coin_api.pulp_cbc_path, msg=False, timeLimit=time_limit_s,
                            gapRel=gap_rel, gapAbs=0.0, warmStart=warm_start, threads=1,
                            logPath=log_path)
    if solver == "highs":
        if "HiGHS" not in pulp.listSolvers(onlyAvailable=True):
            raise SolverError("HiGHS was requested but is not available", [Problem(
                "highspy is not installed", path="--solver",
                hint="install the 'highs' extra (pip install airflow-cloudplan[highs]) "
                     "or use --solver cbc")])
        return pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=gap_rel, gapAbs=0.0,
                          threads=1)
    raise SolverError(f"unknown solver {solver!r}", [Problem(
        f"unknown solver {solver!r}", path="--solver", hint="use 'cbc' or 'highs'")])


def run_solver(lp: Any, solver: SolverName, *, time_limit_s: float, gap_rel: float = 1e-9,
               warm_start: bool = False) -> StopReason:
    """Solve a PuLP model and return the solver's own stop reason (see the module doc).

    Raises :class:`SolverError` when the solver itself fails.
    """
    import pulp

    fd, log_path = tempfile.mkstemp(prefix="cloudplan-cbc-", suffix=".log")
    os.close(fd)
    try:
        engine = _make_solver(solver, time_limit_s, gap_rel, warm_start,
                              log_path if solver == "cbc" else None)
        try:
            lp.solve(engine)
        except pulp.PulpSolverError as exc:
            raise SolverError(f"the {solver} solver failed", [Problem(
                str(exc), hint="retry with the other solver (--solver cbc|highs)")]) from exc
        if solver == "cbc":
            with open(log_path, errors="replace") as f:
                return cbc_stop_reason(f.read(), engine.status_line)
        highs = lp.solverModel
        status = highs.modelStatusToString(highs.getModelStatus())
        return highs_stop_reason(status, highs.getInfo().primal_solution_status == 2)
    finally:
        os.unlink(log_path)


class PlanningModel:
    """The MILP of one problem, built once; :meth:`solve` changes objective and bounds.

    ``relaxed`` names constraint groups (see :data:`CONSTRAINT_GROUPS`) to leave out; the
    infeasibility explanation uses it.
    """

    def __init__(self, problem: PlanningProblem, *,
                 relaxed: frozenset[str] = frozenset()) -> None:
        import pulp

        validate_problem(problem)
        unknown = relaxed - set(CONSTRAINT_GROUPS)
        if unknown:
            raise SolverError("unknown constraint group", [Problem(
                f"cannot relax {sorted(unknown)}", hint=f"use {CONSTRAINT_GROUPS}")])
        started = time.perf_counter()
        self.problem = problem
        self.relaxed = relaxed
        self.lp = pulp.LpProblem("cloudplan", pulp.LpMinimize)
        self.x: dict[str, list[pulp.LpVariable]] = {}
        self._build_choice()
        cost_terms = self._build_choice_terms()
        cost_terms += self._build_edges()
        self._build_latency()
        self._build_risk()
        self._build_coupling()
        self.C = self.lp.add_variable("C", lowBound=0)
        self.L = self.lp.add_variable("L", lowBound=0)
        self.R = self.lp.add_variable("R", lowBound=0)
        self.lp += (pulp.LpAffineExpression(cost_terms) - self.C == 0, "def_C")
        for n, expr in enumerate(self._path_ends):
            self.lp += (self.L - expr >= 0, f"def_L_{n}")
        self.lp += (self.R - pulp.LpAffineExpression(self._risk_terms) >= 0, "def_R")
        self.build_time_s = time.perf_counter() - started

    # --- construction -------------------------------------------------------------
    def _build_choice(self) -> None:
        import pulp

        p = self.problem
        for ki, k in enumerate(p.stages):
            xs = [self.lp.add_variable(f"x_{ki}_{o}", 0, 1, cat=pulp.LpBinary)
                  for o in range(len(p.options[k]))]
            self.x[k] = xs
            self.lp += (pulp.LpAffineExpression([(v, 1.0) for v in xs]) == 1, f"one_{ki}")

    def _build_choice_terms(self) -> list[tuple[Any, float]]:
        import pulp

        p = self.problem
        self.z: dict[str, dict[str, Any]] = {}
        self.lat: dict[str, Any] = {}
        terms: list[tuple[Any, float]] = []
        for ki, k in enumerate(p.stages):
            by_region: dict[str, list[Any]] = {}
            for o, opt in enumerate(p.options[k]):
                by_region.setdefault(opt.region, []).append(self.x[k][o])
                terms.append((self.x[k][o], opt.cost_usd))
            self.z[k] = {}
            for ri, (r, xs) in enumerate(sorted(by_region.items())):
                if len(by_region) == 1:
                    self.z[k][r] = 1.0
                    continue
                zv = self.lp.add_variable(f"z_{ki}_{ri}", lowBound=0, upBound=1)
                self.lp += (zv - pulp.LpAffineExpression([(v, 1.0) for v in xs]) == 0,
                            f"reg_{ki}_{ri}")
                self.z[k][r] = zv
            if _on_path(p, k):
                lv = self.lp.add_variable(f"lat_{ki}", lowBound=0)
                self.lp += (lv - pulp.LpAffineExpression(
                    [(self.x[k][o], opt.latency_ms) for o, opt in enumerate(p.options[k])]
                ) == 0, f"def_lat_{ki}")
                self.lat[k] = lv
        return terms

    def _build_edges(self) -> list[tuple[Any, float]]:
        """Region-pair flows per edge; returns egress cost terms, keeps transfer terms."""
        import pulp

        p = self.problem
        self.transfer: dict[int, pulp.LpAffineExpression | float] = {}
        cost_terms: list[tuple[Any, float]] = []
        for n, e in enumerate(p.edges):
            on_path = _on_path(p, e.src) and _on_path(p, e.dst)
            zi, zj = self.z[e.src], self.z[e.dst]
            egress = {(r, s): e.gb_per_month * egress_price(p, r, s) for r in zi for s in zj}
            ttime = {(r, s): (e.gb_per_run * transfer_time(p, r, s) if on_path else 0.0)
                     for r in zi for s in zj}
            if len(zi) == 1 and len(zj) == 1:
                (pair,) = egress
                self._constant_cost = getattr(self, "_constant_cost", 0.0) + egress[pair]
                self.transfer[n] = ttime[pair]
                continue
            if not any(egress.values()) and not any(ttime.values()):
                self.transfer[n] = 0.0
                continue
            f = {(r, s): self.lp.add_variable(f"f_{n}_{a}_{b}", lowBound=0)
                 for a, r in enumerate(sorted(zi)) for b, s in enumerate(sorted(zj))}
            for a, r in enumerate(sorted(zi)):
                self.lp += (pulp.LpAffineExpression([(f[(r, s)], 1.0) for s in zj])
                            - zi[r] == 0, f"out_{n}_{a}")
            for b, s in enumerate(sorted(zj)):
                self.lp += (pulp.LpAffineExpression([(f[(r, s)], 1.0) for r in zi])
                            - zj[s] == 0, f"in_{n}_{b}")
            cost_terms += [(f[rs], c) for rs, c in egress.items() if c]
            self.transfer[n] = pulp.LpAffineExpression(
                [(f[rs], t) for rs, t in ttime.items() if t])
        return cost_terms

    def _build_latency(self) -> None:

        p = self.problem
        self._path_ends: list[Any] = []
        path = [k for k in p.stages if _on_path(p, k)]
        start = {k: self.lp.add_variable(f"S_{p.stages.index(k)}", lowBound=0) for k in path}
        has_succ: set[str] = set()
        for n, e in enumerate(p.edges):
            if e.src in start and e.dst in start:
                has_succ.add(e.src)
                self.lp += (start[e.dst] - start[e.src] - self.lat[e.src]
                            - self.transfer[n] >= 0, f"prec_{n}")
        for k in path:
            if k not in has_succ:
                self._path_ends.append(start[k] + self.lat[k])

    def _build_risk(self) -> None:
        import pulp

        p = self.problem
        terms: list[tuple[Any, float]] = []
        shared_e: dict[str, Any] = {}
        shared_y: dict[str, Any] = {}
        upper: dict[str, float] = {}
        for ki, k in enumerate(p.stages):
            reach = p.reach.get(k, 0.0)
            sh = [(self.x[k][o], opt.exposure) for o, opt in enumerate(p.options[k])
                  if opt.shared]
            terms += [(self.x[k][o], opt.exposure * reach)
                      for o, opt in enumerate(p.options[k]) if not opt.shared and reach]
            if not sh:
                continue
            yv = self.lp.add_variable(f"y_{ki}", lowBound=0, upBound=1)
            self.lp += (yv - pulp.LpAffineExpression([(v, 1.0) for v, _ in sh]) == 0,
                        f"def_y_{ki}")
            shared_y[k] = yv
            upper[k] = max(e for _, e in sh)
            if upper[k] > 0:
                ev = self.lp.add_variable(f"E_{ki}", lowBound=0)
                self.lp += (ev - pulp.LpAffineExpression(sh) == 0, f"def_E_{ki}")
                shared_e[k] = ev
                if reach:
                    terms.append((ev, reach))
        index = {k: i for i, k in enumerate(p.stages)}
        for k, ev in shared_e.items():
            for j, yv in shared_y.items():
                reach_j = p.reach.get(j, 0.0)
                if j == k or not reach_j:
                    continue
                w = self.lp.add_variable(f"w_{index[k]}_{index[j]}", lowBound=0)
                self.lp += (w - ev - upper[k] * yv >= -upper[k],
                            f"mc_{index[k]}_{index[j]}")
                terms.append((w, reach_j))
        self._risk_terms = terms
        self.shared_y = shared_y

    def _build_coupling(self) -> None:
        import pulp

        p = self.problem
        if p.exposure_budget_total is not None and "exposure_budget" not in self.relaxed:
            self.lp += (pulp.LpAffineExpression(
                [(self.x[k][o], opt.exposure) for k in p.stages
                 for o, opt in enumerate(p.options[k]) if opt.exposure]
            ) <= p.exposure_budget_total, "exposure_budget")
        if p.forbid_shared_across_classes and "shared_across_classes" not in self.relaxed:
            classes = sorted({p.sensitivity[k] for k in self.shared_y if k in p.sensitivity})
            if len(classes) > 1:
                u = {c: self.lp.add_variable(f"u_{n}", lowBound=0, upBound=1)
                     for n, c in enumerate(classes)}
                for k, yv in self.shared_y.items():
                    if k in p.sensitivity:
                        self.lp += (yv - u[p.sensitivity[k]] <= 0,
                                    f"cls_{p.stages.index(k)}")
                self.lp += (pulp.LpAffineExpression([(v, 1.0) for v in u.values()]) <= 1,
                            "one_shared_class")
        if coverage_binds(p) and "observability_coverage" not in self.relaxed:
            self.lp += (pulp.LpAffineExpression(
                [(self.x[k][o], 1.0) for k in p.stages
                 for o, opt in enumerate(p.options[k]) if opt.covered]
            ) >= p.min_covered, "observability_coverage")

    # --- facts ----------------------------------------------------------------------
    @property
    def n_variables(self) -> int:
        """Number of MILP variables."""
        return int(self.lp.numVariables())

    @property
    def n_constraints(self) -> int:
        """Number of MILP constraints."""
        return int(self.lp.numConstraints())

    def upper_bound(self, which: str) -> float | None:
        """The coupling bound on C ("budget") or L ("deadline") unless relaxed."""
        p = self.problem
        if which == "cost" and "budget" not in self.relaxed:
            return p.budget_usd_month
        if which == "latency" and "deadline" not in self.relaxed:
            return p.deadline_ms
        return None

    # --- solving --------------------------------------------------------------------
    def solve(self, *, weights: tuple[float, float, float] = (1.0, 0.0, 0.0),
              bounds: tuple[float | None, float | None, float | None] = (None, None, None),
              solver: SolverName = "cbc", time_limit_s: float = 60.0,
              gap_rel: float = 1e-9, warm_start: bool = False) -> SolveOutcome:
        """Minimise a·C + b·L + c·R subject to C ≤ bounds[0], L ≤ bounds[1], R ≤ bounds[2].

        Raises :class:`SolverError` when the solver itself fails; an infeasible or timed-out
        solve is a status, not an exception (the caller decides what it means).
        """
        import pulp

        if any(w < 0 for w in weights) or not any(weights):
            raise SolverError("invalid objective", [Problem(
                f"weights must be >= 0 and not all zero (got {weights})")])
        constant = getattr(self, "_constant_cost", 0.0)
        self.lp.setObjective(pulp.LpAffineExpression(
            [(v, w) for v, w in zip((self.C, self.L, self.R), weights, strict=True) if w]))
        caps = (self.upper_bound("cost"), self.upper_bound("latency"), None)
        for var, bound, cap, shift in zip((self.C, self.L, self.R), bounds, caps,
                                          (constant, 0.0, 0.0), strict=True):
            limits = [b for b in (bound, cap) if b is not None]
            var.upBound = (min(limits) - shift) if limits else None
        started = time.perf_counter()
        reason = run_solver(self.lp, solver, time_limit_s=time_limit_s, gap_rel=gap_rel,
                            warm_start=warm_start)
        wall = time.perf_counter() - started
        return self.outcome(reason, wall, constant)

    def outcome(self, reason: StopReason, wall: float, constant: float = 0.0) -> SolveOutcome:
        """The outcome of the last solve, from the solver's stop reason."""
        status = outcome_status(reason)
        if status in ("infeasible", "no_solution"):
            return SolveOutcome(status, None, None, None, wall, reason.text)
        choice: Choice = {}
        for k, xs in self.x.items():
            values = [v.varValue or 0.0 for v in xs]
            best = max(range(len(values)), key=values.__getitem__)
            if values[best] < 0.5:
                raise SolverError("the solver returned a fractional choice", [Problem(
                    f"stage {k!r}: no option has x >= 0.5", path=f"x[{k}]",
                    hint="retry with the other solver (--solver cbc|highs)")])
            choice[k] = best
        milp = ObjectivePoint((self.C.varValue or 0.0) + constant, self.L.varValue or 0.0,
                              self.R.varValue or 0.0)
        return SolveOutcome(status, choice, evaluate_choice(self.problem, choice), milp, wall,
                            reason.text)
