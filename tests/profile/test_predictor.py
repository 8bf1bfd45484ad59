"""The online run-time predictor: fallback, recency, outliers, and the real LoRA trace."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from airflow_cloudplan.profile.predictor import WITHIN, RuntimePredictor
from airflow_cloudplan.profile.trace import TraceColumns, lora_predictor, profile_trace, read_rows

LEVELS = [("task", "user", "size"), ("task",)]


def test_falls_back_from_specific_to_general_key() -> None:
    p = RuntimePredictor(LEVELS, bucketed=["size"])
    p.observe({"task": "train", "user": "ana", "size": 1000}, 100)
    p.observe({"task": "train", "user": "bo", "size": 10**6}, 400)
    specific = p.predict({"task": "train", "user": "ana", "size": 1020})
    assert specific is not None and specific.seconds == 100
    assert specific.key == "task+user+size"
    general = p.predict({"task": "train", "user": "cy", "size": 5})
    assert general is not None and general.key == "task" and general.support == 2
    assert p.predict({"task": "score"}) is None


def test_one_outlier_does_not_move_the_estimate() -> None:
    p = RuntimePredictor([("task",)])
    for s in [10, 11, 10, 9, 10, 500, 10]:
        p.observe({"task": "t"}, s)
    est = p.predict({"task": "t"})
    assert est is not None and est.seconds == 10


def test_recent_runs_weigh_more_after_a_shift() -> None:
    p = RuntimePredictor([("task",)], window=16, half_life=3)
    for _ in range(10):
        p.observe({"task": "t"}, 10)
    for _ in range(5):
        p.observe({"task": "t"}, 20)
    est = p.predict({"task": "t"})
    assert est is not None and est.seconds == 20


def test_abstains_on_noisy_keys_when_asked() -> None:
    p = RuntimePredictor([("task",)], min_confidence=0.5)
    for s in [1, 10, 100, 3, 30, 300]:
        p.observe({"task": "noisy"}, s)
    for _ in range(6):
        p.observe({"task": "steady"}, 50)
    assert p.predict({"task": "noisy"}) is None
    assert p.predict({"task": "steady"}) is not None


def _replay(trace: Path) -> tuple[int, int, int, int, int]:
    ours = lora_predictor()
    naive: dict[str, list[float]] = {}
    n = ours_cov = ours_hit = naive_cov = naive_hit = 0
    for row in read_rows(trace):
        actual = float(row["exec_time_seconds"])
        n += 1
        pred = ours.predict(row)
        if pred is not None:
            ours_cov += 1
            ours_hit += abs(pred.seconds - actual) <= WITHIN * actual
        past = naive.get(row["groupId"])
        if past:
            naive_cov += 1
            naive_hit += abs(statistics.median(past) - actual) <= WITHIN * actual
        ours.observe(row, actual)
        naive.setdefault(row["groupId"], []).append(actual)
    return n, ours_cov, ours_hit, naive_cov, naive_hit


@pytest.mark.shared_data
def test_beats_naive_group_median_on_the_real_lora_trace(shared_data: Path) -> None:
    trace = shared_data / "traces" / "alibaba_genai_lora_requests_part1.csv"
    n, ours_cov, ours_hit, naive_cov, naive_hit = _replay(trace)
    # Measured: ours 60.5% within 25% at 99.3% coverage; naive 52.3% at 82.9%.
    assert ours_cov / n >= 0.99
    assert ours_hit / ours_cov >= 0.60
    assert naive_hit / naive_cov == pytest.approx(0.523, abs=0.005)
    assert ours_hit / ours_cov >= naive_hit / naive_cov + 0.07


@pytest.mark.shared_data
def test_trace_profiles_per_group(shared_data: Path) -> None:
    trace = shared_data / "traces" / "alibaba_genai_lora_requests_part1.csv"
    profiles = profile_trace(trace, TraceColumns())
    assert sum(p.n_runs for p in profiles.profiles) == sum(1 for _ in read_rows(trace))
    top = max(profiles.profiles, key=lambda p: p.n_runs)
    assert top.source == "trace" and top.duration is not None and top.arrivals is not None


def test_trace_jsonl_and_bad_column(tmp_path: Path) -> None:
    from airflow_cloudplan.errors import ProfileError

    path = tmp_path / "t.jsonl"
    path.write_text('{"ts": 0, "secs": 2, "job": "a"}\n{"ts": 10, "secs": 4, "job": "a"}\n')
    profiles = profile_trace(path, TraceColumns(time="ts", duration="secs", stage=("job",),
                                                status=None))
    (p,) = profiles.profiles
    assert p.n_runs == 2 and p.duration is not None and p.duration.mean_s == 3
    with pytest.raises(ProfileError, match="lacks a mapped column"):
        profile_trace(path, TraceColumns(time="missing", duration="secs", status=None))
