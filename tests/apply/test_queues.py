"""Queue safety in apply: planned Celery queues are checked with the workers through the
broker (a real Redis and a real Celery worker) before the active plan moves."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_cloudplan.apply import apply_plan, planned_queue_report
from airflow_cloudplan.apply.queues import celery_queues, check_queues, parse_executors
from airflow_cloudplan.apply.rest import AirflowApi
from airflow_cloudplan.errors import ApplyError
from airflow_cloudplan.store import open_store
from airflow_cloudplan.store.cache import read_cache
from tests.conftest import REPO, free_port
from tests.factories import plan_result

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
SERVED = "cp-eu-west-1-vm"


def _settings(queue_by_stage: dict[str, str], executor: str | None) -> object:
    plan = plan_result(stages=tuple(queue_by_stage))
    assert plan.airflow is not None
    return plan.airflow.model_copy(update={"tasks": tuple(
        t.model_copy(update={"queue": queue_by_stage[t.stage], "executor": executor})
        for t in plan.airflow.tasks)})


@pytest.mark.parametrize(("executors", "planned", "celery"), [
    ("LocalExecutor", "CeleryExecutor", False),            # not run here: left unchanged
    ("LocalExecutor,CeleryExecutor", "CeleryExecutor", True),
    ("LocalExecutor,CeleryExecutor", None, False),         # default executor is Local
    ("CeleryExecutor,LocalExecutor", None, True),          # default executor is Celery
    ("LocalExecutor,remote:airflow.providers.celery.executors.celery_executor.CeleryExecutor",
     "remote", True),                                       # an alias
    ("LocalExecutor,CeleryExecutor", "KubernetesExecutor", False),
])
def test_only_queues_celery_will_see_are_checked(executors: str, planned: str | None,
                                                 celery: bool) -> None:
    settings = _settings({"train": SERVED}, planned)
    queues = celery_queues(settings, parse_executors(executors))  # type: ignore[arg-type]
    assert queues == ({SERVED: ["demo_dag.train"]} if celery else {})


def test_the_check_stops_as_soon_as_every_queue_is_served() -> None:
    calls: list[float] = []

    def workers(timeout: float) -> dict[str, list[dict[str, str]]]:
        calls.append(timeout)
        return {"w1@host": [{"name": SERVED}]} if len(calls) > 1 else {}

    report = check_queues({SERVED: ["d.t"]}, workers, timeout_s=30, round_s=0.01)
    assert report.served == {SERVED: ["w1@host"]} and report.unserved == {}
    assert len(calls) == 2


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    """A Redis database of our own as the Celery broker (skip when Redis is down)."""
    import redis

    probe = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2)
    try:
        probe.ping()
    except (OSError, redis.RedisError) as exc:
        if os.environ.get("CLOUDPLAN_REQUIRE_SERVICES"):
            pytest.fail(f"Redis is not reachable: {exc}")
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} ({exc})")
    finally:
        probe.close()
    free = []
    for n in range(1, 16):
        with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=n) as client:
            if client.dbsize() == 0:
                free.append(n)
    if not free:
        pytest.skip("no empty Redis database for the broker")
    db = random.choice(free)
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db) as client:
        client.flushdb()


@pytest.fixture(scope="module")
def worker(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Celery worker consuming only the served queue; waits until it answers."""
    from celery import Celery

    log = tmp_path_factory.mktemp("worker") / "worker.log"
    name = f"cp-{uuid.uuid4().hex[:8]}@localhost"
    env = {**os.environ, "CLOUDPLAN_TEST_BROKER": broker, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.apply.celery_worker_app", "worker",
             "-Q", SERVED, "-n", name, "--pool", "solo", "--without-mingle",
             "--without-gossip", "--loglevel", "WARNING"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    probe = Celery("probe", broker=broker)
    deadline = time.monotonic() + 120
    try:
        while name not in (probe.control.inspect(timeout=1).active_queues() or {}):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not come up:\n{log.read_text()[-2000:]}")
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_live_worker_serves_its_queue_and_a_missing_queue_is_named(
        worker: str, broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", broker)
    settings = _settings({"train": SERVED, "serve": "cp-us-east-1-gpu"}, "CeleryExecutor")
    report = planned_queue_report(settings,  # type: ignore[arg-type]
                                  executors="LocalExecutor,CeleryExecutor", timeout_s=3)
    assert report.served == {SERVED: [worker]}
    assert report.unserved == {"cp-us-east-1-gpu": ["demo_dag.serve"]}


def test_apply_refuses_before_touching_anything_and_lists_the_missing_queues(
        worker: str, broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", broker)
    plan = plan_result(stages=("train", "serve"))
    assert plan.airflow is not None
    plan = plan.model_copy(update={"airflow": _settings(
        {"train": SERVED, "serve": "cp-us-east-1-gpu"}, "CeleryExecutor")})
    store = open_store(tmp_path / "plans")
    version = store.put(plan)
    cache = tmp_path / "active-plan.json"
    api = AirflowApi(f"http://127.0.0.1:{free_port()}")  # nothing listens: any call fails
    try:
        with pytest.raises(ApplyError) as err:
            apply_plan(store, version, api, cache, executors="LocalExecutor,CeleryExecutor",
                       queue_timeout_s=3)
    finally:
        api.close()
    text = str(err.value)
    assert "1 planned Celery queue(s) have no live worker" in text
    assert "queue 'cp-us-east-1-gpu' has no consumer" in text and "demo_dag.serve" in text
    assert SERVED not in text
    assert store.active(plan.pipeline) is None and read_cache(cache) is None


def test_an_unreachable_broker_is_a_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    settings = _settings({"train": SERVED}, "CeleryExecutor")
    with pytest.raises(ApplyError, match="cannot reach the Celery broker"):
        planned_queue_report(settings,  # type: ignore[arg-type]
                             executors="LocalExecutor,CeleryExecutor", timeout_s=2)
