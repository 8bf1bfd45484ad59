"""The evaluation protocol as a benchmark: recommended plan vs each baseline, in simulation.

Usage: ``python bench/protocol.py [--data ../shared/data] [--seeds 0,1,2,3,4]
[--scenarios LIST] [--window-hours H] [--out DIR]``

Runs exactly what ``cloudplan evaluate-protocol`` runs (:func:`run_builtin`, then
:func:`write_outputs` when ``--out`` is given) and prints, per scenario, the recommended
plan's simulated cost, p95 and SLO violation ratio next to each baseline's with their
ratio, the planner's predicted-vs-simulated error, how many frontier points dominate each
baseline in simulation, and the wall time next to the 10-minute budget (2 cores).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_cloudplan.commands.evaluate_protocol import KEYS, parse_seeds  # noqa: E402
from airflow_cloudplan.simulate.protocol import run_builtin, write_outputs  # noqa: E402
from airflow_cloudplan.simulate.protocol.report import dur  # noqa: E402
from airflow_cloudplan.simulate.protocol.run import stderr_progress  # noqa: E402

BUDGET_S = 600.0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 and math.isfinite(a) and math.isfinite(b) else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CLOUDPLAN_SHARED_DATA",
                                                         str(REPO.parent / "shared" / "data")))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--scenarios", default=",".join(KEYS))
    parser.add_argument("--window-hours", type=float, default=None)
    parser.add_argument("--out", default=None, help="also write evaluation.md etc. here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    window = args.window_hours * 3600.0 if args.window_hours else None
    ev = run_builtin(Path(args.data), only=tuple(args.scenarios.split(",")),
                     seeds=parse_seeds(args.seeds), window_s=window, progress=stderr_progress)
    if args.out:
        write_outputs(ev, Path(args.out), command="python bench/protocol.py")
    wall = time.perf_counter() - started
    for sc in ev.scenarios:
        rec = next(p for p in sc.plans if p.kind == "recommended")
        print(f"\n{sc.key}: SLO {sc.slo}; recommended {', '.join(rec.options.values())}")
        print(f"  {'plan':<24} {'cost $/mo':>12} {'ratio':>7} {'p95':>10} {'ratio':>7} "
              f"{'SLO viol.':>9}  {'C error':>8} {'L error':>8}  dominated by")
        for p in sc.plans:
            dom = next((f"{d.simulated}/{d.frontier} (model: {d.predicted})"
                        for d in sc.dominance if d.baseline == p.label), "")
            print(f"  {p.label:<24} {p.sim['cost_total'].mean:>12,.0f} "
                  f"{_ratio(rec.sim['cost_total'].mean, p.sim['cost_total'].mean):>7} "
                  f"{dur(p.sim['p95_s'].mean):>10} "
                  f"{_ratio(rec.sim['p95_s'].mean, p.sim['p95_s'].mean):>7} "
                  f"{100 * p.sim['violation_ratio'].mean:>8.1f}%  {p.cost_error:>+8.0%} "
                  f"{p.latency_error:>+8.0%}  {dom}")
    print(f"\nwall time {wall:.1f} s vs budget {BUDGET_S:.0f} s on 2 cores: "
          f"{wall / BUDGET_S:.2f}× the budget (ratio column: recommended / that plan)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
