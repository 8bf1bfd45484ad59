"""Run-time predictor vs the naive baseline on a request trace, strictly chronologically.

Usage: ``python bench/predictor.py TRACE [--score-after TIMESTAMP] [--min-confidence X]``

Every request is predicted only from earlier requests (then observed). Prints, for our
predictor at full coverage, for its confident subset (abstaining on noisy keys), and for
the naive "median of earlier runs of the same groupId": coverage (share of scored
requests that got a prediction) and the share within 25% of the actual run time.
Defaults fit ``../shared/data/traces/alibaba_genai_lora_requests_part1.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_cloudplan.profile.predictor import WITHIN  # noqa: E402
from airflow_cloudplan.profile.trace import LORA_LEVELS, lora_predictor, read_rows  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("--score-after", default=None, help="score rows with time > this")
    parser.add_argument("--time-col", default="gmt_create")
    parser.add_argument("--target-col", default="exec_time_seconds")
    parser.add_argument("--group-col", default="groupId")
    parser.add_argument("--min-confidence", type=float, default=0.7)
    args = parser.parse_args(argv)

    full = lora_predictor()
    naive: dict[str, list[float]] = {}
    scored = 0
    tallies = {"ours": [0, 0], "ours_confident": [0, 0], "naive": [0, 0]}
    for row in read_rows(Path(args.trace)):
        actual = float(row[args.target_col])
        score = args.score_after is None or row[args.time_col] > args.score_after
        if score:
            scored += 1
            est = full.estimate(row)
            if est is not None:
                hit = abs(est.prediction.seconds - actual) <= WITHIN * actual
                tallies["ours"][0] += 1
                tallies["ours"][1] += hit
                if est.confidence >= args.min_confidence:
                    tallies["ours_confident"][0] += 1
                    tallies["ours_confident"][1] += hit
            past = naive.get(row[args.group_col])
            if past:
                tallies["naive"][0] += 1
                tallies["naive"][1] += abs(statistics.median(past) - actual) <= WITHIN * actual
        full.observe(row, actual)
        naive.setdefault(row[args.group_col], []).append(actual)

    print(f"trace: {args.trace}  scored requests: {scored}")
    print(f"key levels (specific → general): {' → '.join('+'.join(lv) for lv in LORA_LEVELS)}")
    print(f"{'predictor':<34}{'coverage':>10}{'within 25%':>12}")
    rates = {}
    for name, (covered, hits) in tallies.items():
        label = {"ours": "ours (all keys)",
                 "ours_confident": f"ours (confidence ≥ {args.min_confidence:g})",
                 "naive": "naive groupId median"}[name]
        rate = hits / covered if covered else 0.0
        rates[name] = rate
        print(f"{label:<34}{covered / max(scored, 1):>10.1%}{rate:>12.1%}   ({hits}/{covered})")
    if rates["naive"]:
        print(f"ratio ours/naive within-25%: {rates['ours'] / rates['naive']:.2f}x (all keys), "
              f"{rates['ours_confident'] / rates['naive']:.2f}x (confident)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
