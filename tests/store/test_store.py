from __future__ import annotations

import threading
from pathlib import Path

import pytest

from airflow_cloudplan.errors import PlanStoreError
from airflow_cloudplan.store import PlanStore, open_store, plan_version
from airflow_cloudplan.store.cache import CachedPlan, read_cache, with_pipeline, write_cache
from airflow_cloudplan.store.diff import diff_plans
from tests.factories import plan_result


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PlanStore:
    if request.param == "local":
        return open_store(tmp_path / "plans")
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    request.addfinalizer(mock.stop)
    import boto3

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="plans")
    from airflow_cloudplan.store.s3 import S3Backend

    return PlanStore(S3Backend("plans", "cloudplan", boto3.client("s3", region_name="us-east-1")))


def test_put_is_content_addressed_and_idempotent(store: PlanStore, tmp_path: Path) -> None:
    plan = plan_result()
    art = tmp_path / "art"
    (art / "otel").mkdir(parents=True)
    (art / "otel" / "ingest.yaml").write_text("a: 1\n")
    v1 = store.put(plan, art)
    v2 = store.put(plan, art)
    assert v1 == v2 == plan_version(plan)
    assert store.get(v1) == plan
    assert store.get(v1[:8]) == plan
    assert store.artifacts(v1) == ["otel/ingest.yaml"]
    assert store.artifact(v1, "otel/ingest.yaml") == b"a: 1\n"
    assert [e.event for e in store.history("demo")] == ["stored"]
    other = plan_result(cost=200.0)
    assert store.put(other) != v1
    assert len(store.versions("demo")) == 2


def test_unknown_and_ambiguous_versions_are_explained(store: PlanStore) -> None:
    store.put(plan_result())
    with pytest.raises(PlanStoreError, match="no plan version"):
        store.get("abcdef0")
    with pytest.raises(PlanStoreError, match="too short"):
        store.get("ab")


def test_activate_is_compare_and_swap(store: PlanStore) -> None:
    v1 = store.put(plan_result())
    v2 = store.put(plan_result(cost=50.0))
    assert store.active("demo") is None
    store.activate("demo", v1, expected=None)
    with pytest.raises(PlanStoreError, match="changed concurrently"):
        store.activate("demo", v2, expected=None)
    assert store.active("demo").version == v1  # type: ignore[union-attr]
    pointer = store.activate("demo", v2, expected=v1)
    assert pointer.previous == v1
    assert store.previous_applied("demo") == v1
    assert [e.event for e in store.history("demo")] == ["stored", "stored", "applied", "applied"]


def test_activate_rejects_plan_of_another_pipeline(store: PlanStore) -> None:
    v = store.put(plan_result(pipeline="other"))
    with pytest.raises(PlanStoreError, match="not of 'demo'"):
        store.activate("demo", v, expected=None)


def test_corrupt_version_is_detected(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    v = store.put(plan_result())
    path = tmp_path / "versions" / v / "plan.json"
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"100.0", b"101.0"))
    with pytest.raises(PlanStoreError, match="corrupt"):
        store.get(v)


def test_concurrent_activation_has_exactly_one_winner(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    versions = [store.put(plan_result(cost=float(c))) for c in range(1, 9)]
    wins: list[str] = []

    def attempt(v: str) -> None:
        try:
            store.activate("demo", v, expected=None)
            wins.append(v)
        except PlanStoreError:
            pass

    threads = [threading.Thread(target=attempt, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.active("demo").version == wins[0]  # type: ignore[union-attr]


def test_relative_store_resolves_under_base(tmp_path: Path) -> None:
    store = open_store("cloudplan/plans", base=tmp_path)
    store.put(plan_result())
    assert (tmp_path / "cloudplan" / "plans" / "versions").is_dir()


def test_cache_round_trip_and_task_index(tmp_path: Path) -> None:
    plan = plan_result()
    assert plan.airflow is not None
    cache = with_pipeline(None, "demo", CachedPlan(version="v1", airflow=plan.airflow))
    path = tmp_path / "active-plan.json"
    write_cache(path, cache)
    back = read_cache(path)
    assert back == cache
    assert back.task_index()[("demo_dag", "train")] == ("demo", "v1")
    assert with_pipeline(back, "demo", None).pipelines == {}
    assert read_cache(tmp_path / "missing.json") is None


def test_diff_names_every_changed_field() -> None:
    old = plan_result(region="eu-west-1")
    new = plan_result(region="eu-central-1", cost=80.0)
    d = diff_plans(old, new, old_version="a" * 64, new_version="b" * 64)
    assert d.changed_stages() == ["ingest", "train"]
    fields = {(c.stage, c.field) for c in d.changes}
    assert ("ingest", "region") in fields and ("train", "airflow.pool") in fields
    assert ("ingest", "instance_type") not in fields
    assert d.relative_delta()["cost_usd_month"] == pytest.approx(-0.2)
    text = d.render_text()
    assert "eu-west-1" in text and "eu-central-1" in text
    first = diff_plans(None, new, old_version=None, new_version="b" * 64)
    assert first.objectives_before is None and first.relative_delta()["risk"] is None
