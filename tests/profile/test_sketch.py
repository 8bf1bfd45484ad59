"""The mergeable statistics: quantiles within α, merging equals reading everything at once."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_cloudplan.model.workload import Archetype, IOStats
from airflow_cloudplan.profile.build import arrival_stats, build_profile, decide_archetype
from airflow_cloudplan.profile.sketch import RELATIVE_ACCURACY, Moments, StageState
from airflow_cloudplan.profile.state import ProfileState


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=1e5), min_size=1, max_size=300),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_quantile_is_within_relative_accuracy(values: list[float], q: float) -> None:
    m = Moments()
    for v in values:
        m.add(v)
    exact = nearest_rank(values, q)
    assert m.quantile(q) == pytest.approx(exact, rel=RELATIVE_ACCURACY * 1.0001)
    assert m.count == len(values)
    assert m.mean == pytest.approx(sum(values) / len(values))


def _runs(n: int, seed: int) -> list[tuple[float, float, bool, float]]:
    rng = random.Random(seed)
    t = 1_700_000_000.0
    out = []
    for _ in range(n):
        t += rng.expovariate(1 / 600)
        out.append((t, rng.lognormvariate(3, 0.5), rng.random() < 0.1, rng.uniform(0, 5)))
    return out


def _state(runs: list[tuple[float, float, bool, float]]) -> StageState:
    s = StageState(dag_id="d", task_id="t")
    for arrival, dur, failed, queue in runs:
        s.add_run(arrival=arrival, duration_s=dur, failed=failed, queue_delay_s=queue)
    return s


@pytest.mark.parametrize("cut", [1, 57, 199])
def test_merging_partials_equals_one_pass(cut: int) -> None:
    runs = _runs(200, seed=cut)
    whole = _state(runs)
    merged = _state(runs[:cut])
    merged.merge(_state(runs[cut:]))
    a, b = whole.model_dump(), merged.model_dump()
    for key in ("runs", "failed_runs", "gaps", "peak_hour_count", "first_hour", "last_hour",
                "first_hour_count", "last_hour_count", "recent"):
        assert a[key] == b[key], key
    assert a["duration"]["buckets"] == b["duration"]["buckets"]
    assert merged.gap_sq == pytest.approx(whole.gap_sq)
    assert merged.trend_s_per_day == pytest.approx(whole.trend_s_per_day)


def test_arrivals_hand_computed() -> None:
    # gaps 10, 30, 20 s: mean 20, variance (100 + 100 + 0)/3, cv² = 66.67/400
    s = _state([(3600.0 * 10 + t, 1.0, False, 0.0) for t in (0, 10, 40, 60)])
    arrivals = arrival_stats(s)
    assert arrivals is not None
    assert arrivals.rate_per_s == pytest.approx(3 / 60)
    assert arrivals.cv2 == pytest.approx((200 / 3) / 400)
    assert arrivals.peak_to_mean == pytest.approx(1.0)


def test_peak_to_mean_over_hours_including_empty_ones() -> None:
    # 3 runs in hour 0, none in hour 1, 1 in hour 2: mean 4/3 per hour, peak 3
    s = _state([(0.0, 1, False, 0), (60.0, 1, False, 0), (120.0, 1, False, 0),
                (7300.0, 1, False, 0)])
    arrivals = arrival_stats(s)
    assert arrivals is not None
    assert arrivals.peak_to_mean == pytest.approx(3 / (4 / 3))


def test_failure_rate_retries_and_no_queue_note() -> None:
    s = StageState(dag_id="d", task_id="t")
    for i, failed in enumerate([False, True, False, False]):
        s.add_run(arrival=float(i * 60), duration_s=10.0, failed=failed,
                  earlier_tries=1 if i == 0 else 0)
    p = build_profile(s, source="metadb")
    assert p.failure_rate == 0.25
    assert p.retries_per_run == 0.25
    assert p.queue_delay is None
    assert "queued_dttm is NULL" in p.note


@pytest.mark.parametrize(
    ("io", "expected"),
    [
        (IOStats(bytes_read=2**30, read_ops=64), Archetype.LARGE_SEQUENTIAL),
        (IOStats(bytes_read=2**20, read_ops=256), Archetype.RANDOM_READ),
        (IOStats(bytes_read=2**20, bytes_written=2**24, read_ops=1, write_ops=4096),
         Archetype.STREAM_APPEND),
        (IOStats(bytes_read=2**22, read_ops=2), Archetype.MIXED),
    ],
)
def test_archetype_from_bytes_per_op(io: IOStats, expected: Archetype) -> None:
    archetype, evidence = decide_archetype(io, {})
    assert archetype is expected
    assert any("per read op" in e for e in evidence)


def test_declared_pattern_decides_without_measurements_and_loses_to_them() -> None:
    assert decide_archetype(None, {"random_read": 3})[0] is Archetype.RANDOM_READ
    archetype, evidence = decide_archetype(IOStats(bytes_read=2**30, read_ops=8),
                                           {"random_read": 3})
    assert archetype is Archetype.LARGE_SEQUENTIAL
    assert any("disagrees" in e for e in evidence)


def test_state_round_trips_through_json(tmp_path) -> None:
    state = ProfileState(watermark=123.5, stages=[_state(_runs(20, 1))])
    path = tmp_path / "state.json"
    state.save(path)
    assert ProfileState.load(path) == state
