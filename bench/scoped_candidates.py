"""Planning only scoped identities: what it saves, and proof that it loses no plan.

A shared identity changes neither a stage's cost, latency nor exposure and only raises its
blast radius, so it never beats the scoped option (optimize/candidates.py). This bench runs
exactly what ``cloudplan plan`` runs up to the solver — candidates, every gate, scoring,
exact dominance pruning — once with the scoped candidates the planner now uses and once
with the scoped + shared candidates it used before, on both example specs, and prints:

* candidate and admitted counts, and the CPU seconds of each run, with the ratio;
* whether every option the shared run keeps after pruning is matched by a scoped option
  the scoped run keeps, in the same stage and region, with cost, latency and exposure no
  higher. Then any plan using a shared option is matched or beaten on (C, L, R) by the
  plan with that scoped option instead (same or lower risk for the stage, and every other
  sharer's blast radius shrinks), so the frontier in objective space and the
  recommendation are the same.

Run: ``uv run python bench/scoped_candidates.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.gates import screen_options
from airflow_cloudplan.model import Isolation
from airflow_cloudplan.optimize.candidates import enumerate_options
from airflow_cloudplan.optimize.dominance import prune_dominated
from airflow_cloudplan.optimize.scoring import build_problem
from airflow_cloudplan.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


Scores = dict[str, list[tuple[str, str, float, float, float]]]


def run(spec: Path, shared: bool) -> tuple[int, int, Scores, float]:
    catalog = load_catalog()
    inp = load_spec(spec, catalog).planning_input(catalog)
    start = time.process_time()
    candidates = enumerate_options(inp, include_shared=shared)
    outcome = screen_options(inp, candidates, base_dir=spec.parent)
    problem = build_problem(inp, outcome.admitted)
    pruned, _ = prune_dominated(problem)
    cpu = time.process_time() - start
    kept = {k: [(po.option.id, po.region, po.cost_usd, po.latency_ms, po.exposure)
                for po in v] for k, v in pruned.options.items()}
    before = sum(len(v) for v in candidates.values())
    after = sum(len(v) for v in outcome.admitted.values())
    return before, after, kept, cpu


def main() -> None:
    print(f"{'example':<22} {'candidates':>21} {'admitted':>17} {'CPU s':>17} {'ratio':>6}  "
          "pruned problem")
    print(f"{'':<22} {'scoped':>10} {'+shared':>10} {'scoped':>8} {'+shared':>8} "
          f"{'scoped':>8} {'+shared':>8}")
    for name in ("ml_pipeline", "regulated_pipeline"):
        spec = EXAMPLES / f"{name}.yaml"
        n0, a0, kept0, t0 = run(spec, shared=False)
        n1, a1, kept1, t1 = run(spec, shared=True)
        unmatched = 0
        shared_left = 0
        for stage, options in kept1.items():
            for oid, region, c, lat, e in options:
                if not oid.endswith(f"/{Isolation.SHARED.value}"):
                    continue
                shared_left += 1
                if not any(r == region and c0 <= c and l0 <= lat and e0 <= e
                           for _, r, c0, l0, e0 in kept0[stage]):
                    unmatched += 1
        scoped1 = {k: {o[0] for o in v if not o[0].endswith("/shared")} for k, v in kept1.items()}
        same_scoped = scoped1 == {k: {o[0] for o in v} for k, v in kept0.items()}
        same = (f"{shared_left} shared kept, all matched by a scoped option; scoped sets "
                f"{'identical' if same_scoped else 'DIFFER'}" if unmatched == 0 else
                f"{unmatched} shared options NOT matched")
        print(f"{name:<22} {n0:>10,} {n1:>10,} {a0:>8,} {a1:>8,} {t0:>8.2f} {t1:>8.2f} "
              f"{t1 / t0:>5.2f}x  {same}")


if __name__ == "__main__":
    main()
