"""Exact frontier vs a naive ε-constraint sweep vs pymoo's NSGA-II, side by side.

On one realistic 20 × 500 problem (``synthetic.catalog_problem``, real catalog prices):

* exact — ``pareto_frontier`` (dominance pruning + box search), wall budget T;
* naive — a 2-objective ε-constraint sweep as commonly written: no dominance pruning,
  min C s.t. L ≤ ε_i on an even grid of ε between the L-extremes, no tightening (points
  may be weakly dominated), stopped at a wall cap;
* NSGA-II — pymoo, one integer gene per stage (option index on the pruned problem),
  population 100, for the same wall time T as the exact search.

Reported: points, time, how many returned points are exact frontier points (equal to a
point found by the exact search, or proven non-dominated by it), and the hypervolume of
each set relative to the exact set's, all normalised by the union's ideal/nadir with
reference point 1.1. Machine: 2 shared cores (load average printed).

    uv run python bench/optimizer_vs_nsga2.py [--budget 30] [--naive-cap 120]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.optimize.dominance import prune_dominated
from airflow_cloudplan.optimize.milp import ObjectivePoint, PlanningModel, egress_price
from airflow_cloudplan.optimize.pareto import pareto_frontier
from airflow_cloudplan.optimize.problem import PlanningProblem
from airflow_cloudplan.optimize.synthetic import catalog_problem


class Vectorised:
    """(C, L, R) and the coupling constraint for a population of option-index vectors."""

    def __init__(self, p: PlanningProblem) -> None:
        self.p = p
        self.k = {s: i for i, s in enumerate(p.stages)}
        regions = sorted(p.regions)
        self.ridx = {r: i for i, r in enumerate(regions)}
        n = len(p.stages)
        self.sizes = [len(p.options[s]) for s in p.stages]
        pad = max(self.sizes)
        self.c = np.zeros((n, pad))
        self.l = np.zeros((n, pad))
        self.e = np.zeros((n, pad))
        self.sh = np.zeros((n, pad), dtype=bool)
        self.reg = np.zeros((n, pad), dtype=int)
        for i, s in enumerate(p.stages):
            for o, opt in enumerate(p.options[s]):
                self.c[i, o], self.l[i, o] = opt.cost_usd, opt.latency_ms
                self.e[i, o], self.sh[i, o] = opt.exposure, opt.shared
                self.reg[i, o] = self.ridx[opt.region]
        self.egress = np.array([[egress_price(p, r, s) for s in regions] for r in regions])
        self.transfer = np.array([[p.transfer_ms_per_gb.get((r, s), 0.0) for s in regions]
                                  for r in regions])
        self.reach = np.array([p.reach.get(s, 0.0) for s in p.stages])
        classes = sorted(set(p.sensitivity.values()))
        self.cls = np.array([classes.index(p.sensitivity[s]) for s in p.stages])
        self.ncls = len(classes)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(self.p.stages))
        c = self.c[rows, x].sum(1)
        reg = self.reg[rows, x]
        lat = self.l[rows, x]
        finish = np.zeros_like(lat)
        for i, s in enumerate(self.p.stages):
            start = np.zeros(x.shape[0])
            for e in self.p.edges:
                if e.dst == s:
                    j = self.k[e.src]
                    start = np.maximum(start, finish[:, j] + e.gb_per_run
                                       * self.transfer[reg[:, j], reg[:, i]])
            finish[:, i] = start + lat[:, i]
        for e in self.p.edges:
            i, j = self.k[e.src], self.k[e.dst]
            c = c + e.gb_per_month * self.egress[reg[:, i], reg[:, j]]
        sh = self.sh[rows, x]
        ex = self.e[rows, x]
        shared_reach = (sh * self.reach).sum(1, keepdims=True)
        r = np.where(sh, ex * shared_reach, ex * self.reach).sum(1)
        used = np.zeros((x.shape[0], self.ncls))
        for i in range(len(self.p.stages)):
            used[:, self.cls[i]] = np.maximum(used[:, self.cls[i]], sh[:, i])
        g = used.sum(1) - 1.0 if self.p.forbid_shared_across_classes else np.zeros(len(c))
        return np.stack([c, finish.max(1), r], 1), g[:, None]


def hypervolume(sets: dict[str, np.ndarray]) -> dict[str, float]:
    from pymoo.indicators.hv import HV

    union = np.vstack([s for s in sets.values() if len(s)])
    lo, hi = union.min(0), union.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    hv = HV(ref_point=np.full(3, 1.1))
    return {k: (float(hv((s - lo) / span)) if len(s) else 0.0) for k, s in sets.items()}


def naive_sweep(problem: PlanningProblem, cap_s: float, levels: int) -> tuple[list, float, int]:
    model = PlanningModel(problem)  # no dominance pruning
    t0 = time.perf_counter()
    lo = model.solve(weights=(0, 1, 0), time_limit_s=cap_s).point
    hi = model.solve(weights=(1, 0, 0), time_limit_s=cap_s).point
    pts = [hi]
    done = 2
    for i in range(1, levels):
        left = cap_s - (time.perf_counter() - t0)
        if left <= 1:
            break
        eps = hi.latency - (hi.latency - lo.latency) * i / levels
        out = model.solve(weights=(1, 0, 0), bounds=(None, eps, None), time_limit_s=left)
        done += 1
        if out.point is not None:
            pts.append(out.point)
    pts.append(lo)
    return pts, time.perf_counter() - t0, done


def nsga2(problem: PlanningProblem, seconds: float, seed: int) -> np.ndarray:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    ev = Vectorised(problem)

    class Plans(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=len(ev.sizes), n_obj=3, n_ieq_constr=1, xl=0,
                             xu=np.array(ev.sizes) - 1, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            f, g = ev(np.asarray(x, dtype=int))
            out["F"], out["G"] = f, g

    algo = NSGA2(pop_size=100, sampling=IntegerRandomSampling(),
                 crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
                 eliminate_duplicates=True)
    res = minimize(Plans(), algo, ("time", seconds), seed=seed, verbose=False)
    if res.F is None:
        return np.zeros((0, 3))
    return np.atleast_2d(res.F)


def exact_matches(found: np.ndarray, exact: list[ObjectivePoint]) -> int:
    return sum(any(ObjectivePoint(*row).same_as(q, 1e-6) for q in exact) for row in found)


def dominated_by_exact(found: np.ndarray, exact: list[ObjectivePoint]) -> int:
    return sum(any(q.dominates(ObjectivePoint(*row), 1e-9) for q in exact) for row in found)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", type=int, default=20)
    ap.add_argument("--options", type=int, default=500)
    ap.add_argument("--budget", type=float, default=30.0, help="exact and NSGA-II wall time")
    ap.add_argument("--naive-cap", type=float, default=120.0)
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    problem = catalog_problem(load_catalog(), args.stages, args.options, seed=args.seed)
    pruned, report = prune_dominated(problem)
    print(f"{args.stages} x {args.options}: pruning {report.before} -> {report.after}")

    t0 = time.perf_counter()
    frontier = pareto_frontier(pruned, total_time_s=args.budget, max_points=1000,
                               time_limit_s=args.budget)
    exact_s = time.perf_counter() - t0
    exact = [fp.point for fp in frontier.points]
    naive, naive_s, naive_solves = naive_sweep(problem, args.naive_cap, args.levels)
    ga = nsga2(pruned, exact_s, args.seed)

    sets = {"exact": np.array([p.as_tuple() for p in exact]),
            "naive": np.array([p.as_tuple() for p in naive]), "nsga2": ga}
    hv = hypervolume(sets)
    print(f"\n{'method':<10} {'points':>7} {'wall s':>8} {'exact pts':>10} "
          f"{'dominated':>10} {'HV':>7} {'HV ratio':>9}")
    for name, wall in (("exact", exact_s), ("naive", naive_s), ("nsga2", exact_s)):
        s = sets[name]
        print(f"{name:<10} {len(s):>7} {wall:>8.1f} {exact_matches(s, exact):>10} "
              f"{dominated_by_exact(s, exact):>10} {hv[name]:>7.4f} "
              f"{hv[name] / hv['exact'] if hv['exact'] else float('nan'):>9.3f}")
    print(f"\nexact frontier complete={frontier.complete}, all proven={frontier.all_proven}, "
          f"{frontier.solves} solves; naive sweep: {naive_solves} solves in {naive_s:.1f} s "
          f"(cap {args.naive_cap:g} s, {args.levels} ε levels, unpruned problem)")
    print(f"load average now: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
