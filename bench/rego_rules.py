"""What the two shipped Rego rules add to ``cloudplan gate`` on the ML example.

Runs exactly the product's command, ``cloudplan gate SPEC --quiet``, as a subprocess:
the baseline on ``docs/examples/ml_pipeline.yaml`` as shipped, and the same spec with
``policy.governance.rego_rules`` naming both ``docs/examples/rules/*.rego`` (a temporary
copy of the spec; nothing in the repository changes). Runs alternate, so a busy machine
slows both alike; the median wall and CPU time of each are printed with their ratio
(target: ≤ 2×). Then, in-process, how many times the Rego interpreter ran against how
many options the rules judged, and — for comparison with evaluating every option
separately (what ``gate`` did before) — that cost measured on a sample of options and
scaled to all of them.

Run: ``uv run python bench/rego_rules.py [repeats]`` (default 3).
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "docs" / "examples" / "ml_pipeline.yaml"
RULES = sorted((REPO / "docs" / "examples" / "rules").glob("*.rego"))
REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SAMPLE = 200


def spec_with_rules(folder: Path) -> Path:
    doc = yaml.safe_load(SPEC.read_text())
    doc["policy"]["governance"]["rego_rules"] = [str(p) for p in RULES]
    out = folder / "ml_pipeline_with_rules.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def run_gate(spec: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``cloudplan gate`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "airflow_cloudplan", "gate", str(spec),
                           "--quiet"], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        sys.exit(f"cloudplan gate failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def interpreter_counts(spec: Path) -> tuple[int, int, float]:
    """Interpreter runs, options the rules judged, and seconds per separate evaluation."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.gates import rego, screen_options
    from airflow_cloudplan.gates.context import GateContext
    from airflow_cloudplan.gates.document import DocumentBuilder
    from airflow_cloudplan.optimize.candidates import enumerate_options
    from airflow_cloudplan.spec import load_spec

    catalog = load_catalog()
    inp = load_spec(spec, catalog).planning_input(catalog)
    loaded: list[rego.RegoRule] = []
    load_rules = rego.load_rules

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        rules = load_rules(*args, **kwargs)
        loaded.extend(rules)
        return rules

    rego.load_rules = recording
    try:
        outcome = screen_options(inp, enumerate_options(inp), base_dir=spec.parent)
    finally:
        rego.load_rules = load_rules
    judged = sum(s.options_after["slo"] for s in outcome.report.stages)
    runs = sum(r.evaluations for r in loaded)
    # The cost of evaluating whole documents one by one, on a random sample.
    fresh = load_rules([str(p) for p in RULES])
    builder = DocumentBuilder(GateContext(inp))
    pairs = [(k, o) for k, opts in outcome.admitted.items() for o in opts]
    sample = random.Random(7).sample(pairs, min(SAMPLE, len(pairs)))
    started = time.perf_counter()
    for stage, option in sample:
        doc = builder.document(stage, option)
        for rule in fresh:
            rule._query(doc)
    per_option = (time.perf_counter() - started) / len(sample)
    return runs, judged, per_option


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cp-bench-rego-") as tmp:
        ruled = spec_with_rules(Path(tmp))
        run_gate(SPEC)  # warm the file cache and the bytecode
        base, rules = [], []
        for _ in range(REPEATS):
            base.append(run_gate(SPEC))
            rules.append(run_gate(ruled))
        runs, judged, per_option = interpreter_counts(ruled)
    b_wall = statistics.median(w for w, _ in base)
    b_cpu = statistics.median(c for _, c in base)
    r_wall = statistics.median(w for w, _ in rules)
    r_cpu = statistics.median(c for _, c in rules)
    print(f"cloudplan gate on the ML example, median of {REPEATS} alternating runs:")
    print(f"  without rules (baseline)      wall {b_wall:6.2f} s   cpu {b_cpu:6.2f} s")
    print(f"  with the two shipped rules    wall {r_wall:6.2f} s   cpu {r_cpu:6.2f} s")
    print(f"  ratio with/without            wall {r_wall / b_wall:6.2f}x   "
          f"cpu {r_cpu / b_cpu:6.2f}x   (target <= 2x)")
    print(f"Rego interpreter runs: {runs} for {judged:,} options x {len(RULES)} rules "
          f"({judged * len(RULES):,} verdicts)")
    print(f"evaluating every option separately instead: {per_option * 1000:.1f} ms per option "
          f"(sample of {SAMPLE}) x {judged:,} options = ~{per_option * judged:,.0f} s "
          f"for the rules alone ({per_option * judged / max(r_cpu - b_cpu, 1e-9):,.0f}x "
          "the rules' added CPU time now)")
    print(json.dumps({"baseline_wall_s": b_wall, "rules_wall_s": r_wall,
                      "ratio_wall": r_wall / b_wall, "ratio_cpu": r_cpu / b_cpu,
                      "interpreter_runs": runs, "options_judged": judged}))


if __name__ == "__main__":
    main()
