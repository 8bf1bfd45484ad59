"""The exact Pareto frontier over (C, L, R), the weighted recommendation, and "why infeasible".

Method: a box search over the *search region* in (C, L, R), kept as a set U of local
upper bounds (Klamroth, Lacour & Vanderpooten 2015; for three objectives |U| grows
linearly with the number of points, Dächert & Klamroth 2015). For a box u ∈ U solve

    min  C/s_C + L/s_L + R/s_R     s.t.  C ≤ u_C − δ,  L ≤ u_L − δ,  R ≤ u_R − δ

(an ε-constraint on every objective with a strictly positive weighted sum; s_j are fixed
normalisers). Its optimum z is non-dominated: a plan dominating z lies in the same box and
has a smaller weighted sum. An infeasible box holds no new point and is dropped; otherwise
z is added and every box u > z is split into (z_C, u_L, u_R), (u_C, z_L, u_R),
(u_C, u_L, z_R) (non-maximal boxes are removed). When U is empty every non-dominated point
has been found (values equal within ``rel_tol`` count as one point, δ = rel_tol·|u|).
Answers are reused for nested boxes (an optimum of a larger box lying inside a smaller box
is its optimum; a larger infeasible box makes the smaller one infeasible). Before the box
search, weighted sums on a simplex grid add the cheap *supported* points, so that an early
stop still returns a spread-out frontier.

A ``max_points`` / ``total_time_s`` limit stops early: the points found are still proven
non-dominated, but the frontier is then flagged incomplete. A solve that hit its time
limit flags its point "not proven" and the frontier incomplete. A box is closed as empty
only when the solver *proved* it infeasible; a box whose solve stopped without a plan
(``no_solution``) is not empty — it is counted in ``Frontier.unresolved_boxes``, named in
the notes, and the frontier is incomplete. Nothing is silent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from airflow_cloudplan.errors import Problem, SolverError
from airflow_cloudplan.optimize.milp import (
    CONSTRAINT_GROUPS,
    Choice,
    ObjectivePoint,
    PlanningModel,
    SolveOutcome,
    SolverName,
    coverage_binds,
    critical_path,
)
from airflow_cloudplan.optimize.problem import PlanningProblem

INF = math.inf
OBJECTIVE_SCALE = 1e6
"""Normalised objectives are multiplied by this before solving: CBC ignores improvements
smaller than its cutoff increment (1e-5), which would otherwise let a plan that is worse
by a few dollars on an objective of range 10⁶ pass as optimal."""
Bounds = tuple[float, float, float]


@dataclass(frozen=True)
class FrontierPoint:
    """A plan on the frontier: its choice, its (C, L, R), and whether it is proven."""

    choice: Choice
    point: ObjectivePoint
    proven: bool
    status: str


@dataclass(frozen=True)
class FrontierProgress:
    """Progress of a frontier search (for a progress display)."""

    points: int
    open_boxes: int
    solves: int
    elapsed_s: float


@dataclass
class Frontier:
    """The result of :func:`pareto_frontier`."""

    points: list[FrontierPoint]
    complete: bool
    solves: int
    wall_time_s: float
    build_time_s: float
    n_variables: int
    n_constraints: int
    notes: list[str] = field(default_factory=list)
    unresolved_boxes: int = 0
    """Search boxes whose solve stopped without a plan and without a proof of emptiness."""

    @property
    def all_proven(self) -> bool:
        """Every point's solves were proven optimal."""
        return all(p.proven for p in self.points)


def ideal_nadir(points: Sequence[ObjectivePoint]) -> tuple[Bounds, Bounds]:
    """Component-wise best and worst over ``points`` (the frontier's ideal and nadir)."""
    vals = [p.as_tuple() for p in points]
    ideal = (min(v[0] for v in vals), min(v[1] for v in vals), min(v[2] for v in vals))
    nadir = (max(v[0] for v in vals), max(v[1] for v in vals), max(v[2] for v in vals))
    return ideal, nadir


def weighted_scores(points: Sequence[ObjectivePoint],
                    weights: tuple[float, float, float]) -> list[float]:
    """Σ_j w_j (z_j − ideal_j)/(nadir_j − ideal_j) per point (a zero range counts 0)."""
    ideal, nadir = ideal_nadir(points)
    out = []
    for p in points:
        s = 0.0
        for w, v, lo, hi in zip(weights, p.as_tuple(), ideal, nadir, strict=True):
            if hi > lo:
                s += w * (v - lo) / (hi - lo)
        out.append(s)
    return out


def recommend(points: Sequence[ObjectivePoint], weights: tuple[float, float, float]) -> int:
    """Index of the frontier point with the least normalised weighted score (ties: cost)."""
    if not points:
        raise SolverError("no frontier point to recommend", [Problem(
            "the frontier is empty", hint="see the infeasibility explanation")])
    scores = weighted_scores(points, weights)
    return min(range(len(points)), key=lambda i: (scores[i], points[i].as_tuple()))


def objective_scales(problem: PlanningProblem) -> Bounds:
    """Rough ranges of C, L, R from per-stage extremes (normalisers; any > 0 stay exact)."""
    spans = []
    reach = max(1.0, sum(problem.reach.values()))
    for attr, factor in (("cost_usd", 1.0), ("latency_ms", 1.0), ("exposure", reach)):
        lo = sum(min(getattr(o, attr) for o in problem.options[k]) for k in problem.stages)
        hi = sum(max(getattr(o, attr) for o in problem.options[k]) for k in problem.stages)
        spans.append(factor * max(hi - lo, 1e-6 * max(1.0, hi), 1e-9))
    return spans[0], spans[1], spans[2]


class _Search:
    """State of one frontier search (see the module docstring)."""

    def __init__(self, model: PlanningModel, solver: SolverName, time_limit_s: float,
                 rel_tol: float) -> None:
        self.model, self.solver, self.time_limit_s = model, solver, time_limit_s
        self.rel_tol = rel_tol
        s = objective_scales(model.problem)
        self.weights = (OBJECTIVE_SCALE / s[0], OBJECTIVE_SCALE / s[1], OBJECTIVE_SCALE / s[2])
        self.points: list[FrontierPoint] = []
        self.boxes: list[Bounds] = [(INF, INF, INF)]
        self.solves = 0
        self.complete = True
        self.notes: list[str] = []
        self.unresolved: list[tuple[Bounds, SolveOutcome]] = []
        self._answers: list[tuple[Bounds, SolveOutcome]] = []

    def _below(self, u: float) -> float | None:
        return None if u == INF else u - self.rel_tol * max(1.0, abs(u))

    def _inside(self, z: ObjectivePoint, u: Bounds) -> bool:
        limits = (self._below(u[0]), self._below(u[1]), self._below(u[2]))
        return all(b is None or v <= b for v, b in zip(z.as_tuple(), limits, strict=True))

    def solve_box(self, u: Bounds) -> SolveOutcome:
        """Minimise Σ w_j z_j inside box u, reusing an earlier answer that still applies.

        An optimum of a larger box that lies inside u is u's optimum (same objective); a
        larger infeasible box makes u infeasible.
        """
        for b, out in self._answers:
            if (all(bi >= ui for bi, ui in zip(b, u, strict=True)) and out.proven
                    and (out.point is None or self._inside(out.point, u))):
                return out
        self.solves += 1
        out = self.model.solve(weights=self.weights,
                               bounds=(self._below(u[0]), self._below(u[1]),
                                       self._below(u[2])),
                               solver=self.solver, time_limit_s=self.time_limit_s)
        self._answers.append((u, out))
        return out

    def add(self, fp: FrontierPoint) -> bool:
        """Add a point unless already known; split the boxes it lies in."""
        if any(fp.point.same_as(p.point, self.rel_tol) for p in self.points):
            return False
        self.points.append(fp)
        z = fp.point.as_tuple()
        hit = [u for u in self.boxes if all(zi < ui for zi, ui in zip(z, u, strict=True))]
        rest = [u for u in self.boxes if u not in hit]
        cands: set[Bounds] = {
            (z[0], u[1], u[2]) if j == 0 else (u[0], z[1], u[2]) if j == 1 else
            (u[0], u[1], z[2]) for u in hit for j in range(3)}
        pool = rest + [c for c in cands if c not in rest]
        self.boxes = [u for u in pool if not any(
            w != u and all(a <= b for a, b in zip(u, w, strict=True)) for w in pool)]
        return True

    def pick_box(self) -> Bounds:
        """The open box with the largest normalised volume (spreads an early stop)."""
        if len(self.points) < 2:
            return self.boxes[0]
        ideal, nadir = ideal_nadir([p.point for p in self.points])

        def volume(u: Bounds) -> float:
            v = 1.0
            for ui, lo, hi in zip(u, ideal, nadir, strict=True):
                span = max(hi - lo, 1e-12)
                v *= (min(ui, hi + 0.1 * span) - lo) / span
            return v

        return max(self.boxes, key=volume)

    def step(self, u: Bounds) -> None:
        """Solve one box: add its point, close it (proven empty) or set it aside (unknown)."""
        out = self.solve_box(u)
        if out.point is None or out.choice is None:
            if out.status != "infeasible":  # not proven empty: keep it on record
                self.complete = False
                self.unresolved.append((u, out))
            self.boxes.remove(u)
            return
        if not out.proven:
            self.complete = False
        self.add(FrontierPoint(out.choice, out.point, out.proven, out.status))
        if u in self.boxes:  # numerics put the point on the box edge: close it
            self.boxes.remove(u)


def _simplex_grid(divisions: int) -> list[Bounds]:
    """Strictly positive weight vectors on a simplex grid (zeros become 1e-3)."""
    grid = [(a / divisions, b / divisions, (divisions - a - b) / divisions)
            for a in range(divisions, -1, -1) for b in range(divisions - a, -1, -1)]
    return [(max(a, 1e-3), max(b, 1e-3), max(c, 1e-3)) for a, b, c in grid]


def _seed_supported(search: _Search, divisions: int, started: float, *,
                    total_time_s: float | None, max_points: int,
                    progress: Callable[[FrontierProgress], None] | None) -> None:
    """Add weighted-sum optima: each is non-dominated since every weight is > 0."""
    scale = objective_scales(search.model.problem)
    for n, w in enumerate(_simplex_grid(divisions)):
        if len(search.points) >= max_points:
            return
        if total_time_s is not None and time.perf_counter() - started > total_time_s / 2:
            search.notes.append("weighted-sum seeding stopped at half the time budget")
            return
        if n == 3 and len(search.points) >= 2:  # vertices known: normalise by their range
            ideal, nadir = ideal_nadir([p.point for p in search.points])
            scale = tuple(max(hi - lo, s * 1e-9) for lo, hi, s in  # type: ignore[assignment]
                          zip(ideal, nadir, scale, strict=True))
        search.solves += 1
        k = OBJECTIVE_SCALE
        out = search.model.solve(weights=(k * w[0] / scale[0], k * w[1] / scale[1],
                                          k * w[2] / scale[2]),
                                 solver=search.solver, time_limit_s=search.time_limit_s)
        if out.status == "infeasible":
            return  # the box search reports it with an explanation
        if out.point is None or out.choice is None:
            continue
        if not out.proven:
            search.complete = False
        search.add(FrontierPoint(out.choice, out.point, out.proven, out.status))
        if progress is not None:
            progress(FrontierProgress(len(search.points), len(search.boxes), search.solves,
                                      time.perf_counter() - started))


def pareto_frontier(problem: PlanningProblem, *, solver: SolverName = "cbc",
                    time_limit_s: float = 60.0, total_time_s: float | None = None,
                    max_points: int = 60, rel_tol: float = 1e-6,
                    progress: Callable[[FrontierProgress], None] | None = None,
                    model: PlanningModel | None = None, seed_divisions: int = 3,
                    ) -> Frontier:
    """Every non-dominated (C, L, R) point of ``problem`` (up to ``max_points``).

    ``seed_divisions`` > 0 first adds the supported points found by weighted sums on a
    simplex grid of that many divisions (cheap solves that spread an early stop).

    ``time_limit_s`` bounds each MILP solve, ``total_time_s`` the whole search. Raises
    :class:`SolverError` with an explanation when no plan satisfies the constraints.
    """
    started = time.perf_counter()
    model = model or PlanningModel(problem)
    search = _Search(model, solver, time_limit_s, rel_tol)
    if seed_divisions > 0:
        _seed_supported(search, seed_divisions, started, total_time_s=total_time_s,
                        max_points=max_points, progress=progress)
    while search.boxes:
        if len(search.points) >= max_points:
            search.complete = False
            search.notes.append(f"stopped at max_points={max_points}: the points are "
                                "non-dominated, the frontier may have more")
            break
        if total_time_s is not None and time.perf_counter() - started > total_time_s:
            search.complete = False
            search.notes.append(f"stopped after total_time_s={total_time_s}: the points "
                                "are non-dominated, the frontier may have more")
            break
        search.step(search.pick_box())
        if not search.points and not search.boxes and any(
                out.status == "infeasible" for _, out in search._answers):
            raise SolverError("no plan satisfies the constraints",
                              explain_infeasibility(problem, solver=solver,
                                                    time_limit_s=time_limit_s))
        if progress is not None:
            progress(FrontierProgress(len(search.points), len(search.boxes), search.solves,
                                      time.perf_counter() - started))
    if not search.points:
        reason = search.unresolved[0][1].stop_reason if search.unresolved else ""
        raise SolverError("no plan found within the time limit", [Problem(
            f"no MILP solve found a plan within {time_limit_s} s and none proved that no "
            f"plan exists (feasibility unknown{'; ' + reason if reason else ''})",
            path="--time-limit", hint="raise the time limit or try --solver highs")])
    if search.unresolved:
        reason = search.unresolved[0][1].stop_reason or "no stop reason"
        search.notes.append(
            f"{len(search.unresolved)} search box(es) got neither a plan nor a proof of "
            f"emptiness within {time_limit_s} s ({reason}): the frontier may miss points "
            "there; raise the time limit")
    if not search.complete and not search.notes:
        search.notes.append("some solves were not proven optimal")
    points = sorted(search.points, key=lambda p: p.point.as_tuple())
    beaten = [p for p in points if any(q.point.dominates(p.point, rel_tol) for q in points)]
    if beaten:  # solver tolerances only; keep the invariant and say so
        points = [p for p in points if p not in beaten]
        search.complete = False
        search.notes.append(f"{len(beaten)} point(s) returned within solver tolerance were "
                            "dominated by other points and were removed")
    return Frontier(points, search.complete and all(p.proven for p in points), search.solves,
                    time.perf_counter() - started, model.build_time_s, model.n_variables,
                    model.n_constraints, search.notes, len(search.unresolved))


def weighted_point(model: PlanningModel, weights: tuple[float, float, float],
                   ideal: Bounds, nadir: Bounds, *, solver: SolverName = "cbc",
                   time_limit_s: float = 60.0) -> FrontierPoint:
    """The plan minimising Σ w_j z_j/(nadir_j − ideal_j), tightened to be non-dominated."""
    coeffs = tuple(OBJECTIVE_SCALE * w / max(hi - lo, 1e-9)
                   for w, lo, hi in zip(weights, ideal, nadir, strict=True))
    out = model.solve(weights=(coeffs[0], coeffs[1], coeffs[2]), solver=solver,
                      time_limit_s=time_limit_s)
    if out.point is None or out.choice is None:
        raise SolverError("the weighted solve found no plan", [Problem(
            f"status {out.status} within {time_limit_s} s",
            hint="raise --time-limit or check the infeasibility explanation")])
    z = out.point
    if all(w > 0 for w in weights):
        return FrontierPoint(out.choice, z, out.proven, out.status)
    tighten = tuple(OBJECTIVE_SCALE / max(hi - lo, 1e-9)
                    for lo, hi in zip(ideal, nadir, strict=True))
    bounds = tuple(v + 1e-7 * max(1.0, abs(v)) for v in z.as_tuple())
    second = model.solve(weights=(tighten[0], tighten[1], tighten[2]),
                         bounds=(bounds[0], bounds[1], bounds[2]), solver=solver,
                         time_limit_s=time_limit_s)
    if second.point is None or second.choice is None:
        return FrontierPoint(out.choice, z, False, "feasible_not_proven")
    proven = out.proven and second.proven
    return FrontierPoint(second.choice, second.point, proven,
                         "optimal" if proven else "feasible_not_proven")


def active_groups(problem: PlanningProblem) -> list[str]:
    """Coupling constraint groups this problem actually states."""
    out = []
    if problem.exposure_budget_total is not None:
        out.append("exposure_budget")
    if problem.deadline_ms is not None:
        out.append("deadline")
    if problem.budget_usd_month is not None:
        out.append("budget")
    if problem.forbid_shared_across_classes:
        out.append("shared_across_classes")
    if coverage_binds(problem):
        out.append("observability_coverage")
    return out


def explain_infeasibility(problem: PlanningProblem, *, solver: SolverName = "cbc",
                          time_limit_s: float = 60.0) -> list[Problem]:
    """The smallest sets of constraint groups whose relaxation restores feasibility.

    Every minimal set of the smallest size is reported, each group with the numbers and
    stages that make it bind (e.g. the critical path that cannot meet the deadline).
    """
    groups = active_groups(problem)
    unknown: list[str] = []

    def feasible(relaxed: frozenset[str]) -> bool:
        out = PlanningModel(problem, relaxed=relaxed).solve(solver=solver,
                                                            time_limit_s=time_limit_s)
        if out.status == "no_solution":
            unknown.append("{" + ", ".join(sorted(relaxed)) + "}")
        return out.point is not None

    for size in range(1, len(groups) + 1):
        found = [set(s) for s in combinations(groups, size) if feasible(frozenset(s))]
        if found:
            problems = [Problem(
                "relaxing {" + ", ".join(sorted(s)) + "} restores feasibility",
                path="constraints", hint="relax one of these sets (smallest first)")
                for s in found]
            for g in sorted(set().union(*found)):
                problems.append(_group_detail(problem, g, solver, time_limit_s))
            return problems + _undecided(unknown, time_limit_s)
    if unknown:
        return _undecided(unknown, time_limit_s)
    return [Problem("no plan exists even without the coupling constraints "
                    f"({', '.join(CONSTRAINT_GROUPS)})", path="options",
                    hint="a stage's admitted options are inconsistent; see the gate report")]


def _undecided(relaxations: list[str], time_limit_s: float) -> list[Problem]:
    """Relaxations the solver could neither satisfy nor prove infeasible in time."""
    if not relaxations:
        return []
    return [Problem(f"undecided within {time_limit_s} s: whether relaxing "
                    f"{', '.join(relaxations)} restores feasibility (no plan found, no proof)",
                    path="--time-limit", hint="raise the time limit for a complete explanation")]


def _group_detail(problem: PlanningProblem, group: str, solver: SolverName,
                  time_limit_s: float) -> Problem:
    """What one group demands versus the best any plan achieves on it alone."""
    others = frozenset(g for g in CONSTRAINT_GROUPS if g != group)
    model = PlanningModel(problem, relaxed=others | {group})
    if group == "deadline":
        out = model.solve(weights=(0.0, 1.0, 0.0), solver=solver, time_limit_s=time_limit_s)
        path = " -> ".join(critical_path(problem, out.choice)) if out.choice else "?"
        best = out.point.latency if out.point else float("nan")
        return Problem(f"end-to-end latency cannot go below {best:,.0f} ms but the deadline "
                       f"is {problem.deadline_ms:,.0f} ms (critical path: {path})",
                       path="deadline", hint="raise the deadline or admit faster options "
                       f"for {path}")
    if group == "budget":
        out = model.solve(weights=(1.0, 0.0, 0.0), solver=solver, time_limit_s=time_limit_s)
        best = out.point.cost if out.point else float("nan")
        top = ""
        if out.choice:
            costs = sorted(((problem.options[k][o].cost_usd, k) for k, o in out.choice.items()),
                           reverse=True)[:3]
            top = ", ".join(f"{k} ({c:,.0f} USD)" for c, k in costs)
        return Problem(f"the cheapest plan costs {best:,.2f} USD/month but the budget is "
                       f"{problem.budget_usd_month:,.2f} (largest: {top})", path="budget",
                       hint="raise the budget or admit cheaper options for those stages")
    if group == "observability_coverage":
        coverable = [k for k in problem.stages if any(o.covered for o in problem.options[k])]
        never = sorted(set(problem.stages) - set(coverable))
        return Problem(f"at most {len(coverable)} of {len(problem.stages)} stages can meet their "
                       f"required signals (no admitted option of {', '.join(never) or 'none'} "
                       f"emits them), and min_coverage needs {problem.min_covered}",
                       path="observability_coverage",
                       hint="admit tiers that emit the required signals for those stages or "
                       "lower policy.observability.min_coverage")
    if group == "exposure_budget":
        least = {k: min(o.exposure for o in problem.options[k]) for k in problem.stages}
        largest = sorted(least.items(), key=lambda kv: -kv[1])[:3]
        return Problem(f"the least total exposure is {sum(least.values()):,.2f} units but the "
                       f"budget is {problem.exposure_budget_total:,.2f} (largest: "
                       + ", ".join(f"{k} ({v:.2f})" for k, v in largest) + ")",
                       path="exposure_budget",
                       hint="raise the exposure budget or admit options without replicas/"
                       "caches/public endpoints for those stages")
    only_shared = sorted(k for k in problem.stages
                         if all(o.shared for o in problem.options[k]))
    classes = sorted({problem.sensitivity.get(k, "?") for k in only_shared})
    return Problem(f"stages {', '.join(only_shared) or '(none alone)'} can only run under the "
                   f"shared identity, across sensitivity classes {', '.join(classes)}",
                   path="shared_across_classes",
                   hint="admit scoped-credential options for them or allow the shared "
                   "identity across classes")


def enumerate_frontier(problem: PlanningProblem, *, max_plans: int = 1_000_000,
                       rel_tol: float = 1e-9) -> list[tuple[Choice, ObjectivePoint]]:
    """The frontier by brute force: evaluate every plan (small problems only).

    The reference the MILP search is tested and benchmarked against. Plans that violate
    a coupling constraint are skipped; one plan per distinct objective vector is kept.
    """
    from itertools import product

    from airflow_cloudplan.optimize.milp import evaluate_choice, violated_constraints

    sizes = [len(problem.options[k]) for k in problem.stages]
    if math.prod(sizes) > max_plans:
        raise SolverError("too many plans to enumerate", [Problem(
            f"{math.prod(sizes):,} plans > max_plans={max_plans:,}",
            hint="use pareto_frontier for problems of this size")])
    feasible: list[tuple[Choice, ObjectivePoint]] = []
    for combo in product(*(range(n) for n in sizes)):
        choice = dict(zip(problem.stages, combo, strict=True))
        if not violated_constraints(problem, choice):
            feasible.append((choice, evaluate_choice(problem, choice)))
    feasible.sort(key=lambda cp: cp[1].as_tuple())
    front: list[tuple[Choice, ObjectivePoint]] = []
    for choice, point in feasible:  # sorted: only earlier plans can dominate later ones
        if not any(p.dominates(point, rel_tol) or p.same_as(point, rel_tol)
                   for _, p in front):
            front.append((choice, point))
    return front
