"""Optimizer scaling: build, single weighted solve and 3-objective frontier at 3 sizes.

Problems come from ``optimize.synthetic.catalog_problem`` (real prices of the bundled AWS
catalog snapshot, DAG-shaped data edges). Prints each figure next to the issue's target as
a ratio (measured / target; ≤ 1 meets it). The machine has 2 cores shared with other work:
the load average is printed so that contention is visible.

    uv run python bench/optimizer_scaling.py [--sizes 8x100,20x500,50x2000] [--solver cbc]
"""

from __future__ import annotations

import argparse
import os
import time

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.optimize.dominance import prune_dominated
from airflow_cloudplan.optimize.milp import PlanningModel
from airflow_cloudplan.optimize.pareto import objective_scales, pareto_frontier
from airflow_cloudplan.optimize.synthetic import catalog_problem

TARGETS = {  # (weighted solve s, frontier s) from issue 3
    (8, 100): (None, None),
    (20, 500): (1.0, 30.0),
    (50, 2000): (None, 300.0),
}


def ratio(value: float, target: float | None) -> str:
    return "-" if target is None else f"{value / target:.2f}x of {target:g} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8x100,20x500,50x2000")
    ap.add_argument("--solver", default="cbc", choices=("cbc", "highs"))
    ap.add_argument("--max-points", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    catalog = load_catalog()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    for size in args.sizes.split(","):
        n, m = (int(x) for x in size.split("x"))
        t_weighted, t_frontier = TARGETS.get((n, m), (None, None))
        t0 = time.perf_counter()
        problem = catalog_problem(catalog, n, m, seed=args.seed)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pruned, report = prune_dominated(problem)
        prune_s = time.perf_counter() - t0
        model = PlanningModel(pruned)
        scales = objective_scales(pruned)
        out = model.solve(weights=(1 / scales[0], 1 / scales[1], 1 / scales[2]),
                          solver=args.solver, time_limit_s=120)
        budget = t_frontier or 60.0
        frontier = pareto_frontier(pruned, solver=args.solver, model=model,
                                   total_time_s=budget, max_points=args.max_points,
                                   time_limit_s=min(60.0, budget))
        print(f"\n== {n} stages x {m} options ({len(problem.edges)} edges), seed {args.seed}")
        print(f"  generate {gen_s:.2f} s; exact pruning {report.before} -> {report.after} "
              f"options in {prune_s:.2f} s")
        print(f"  MILP build {model.build_time_s:.2f} s: {model.n_variables} variables, "
              f"{model.n_constraints} constraints")
        print(f"  single weighted solve ({args.solver}): {out.wall_time_s:.2f} s, {out.status}"
              f"  [{ratio(out.wall_time_s, t_weighted)}]")
        print(f"  frontier: {len(frontier.points)} points, {frontier.solves} solves, "
              f"{frontier.wall_time_s:.1f} s, complete={frontier.complete}, "
              f"all proven={frontier.all_proven}  [{ratio(frontier.wall_time_s, t_frontier)}]")
        for note in frontier.notes[:3]:
            print(f"    note: {note}")
        print(f"  load average now: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
