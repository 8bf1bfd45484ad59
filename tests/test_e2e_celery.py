"""Queue routing on the distributed engine: a plan moves a task onto a Celery worker.

Real Airflow (api-server, scheduler, DAG processor, triggerer) with
``[core] executor = LocalExecutor,CeleryExecutor``, a Redis broker, the Celery result
backend on the metadata DB, and one ``airflow celery worker`` that listens only on the
planned queue. A hand-built plan is applied through the REST API; the run then shows the
managed task on the Celery worker (planned executor, queue and pool) while the unmanaged
task stays on the default LocalExecutor. A plan naming an executor this deployment does
not run leaves the task on the default executor and the run still succeeds.

Where a task ran is read from the task itself: each one echoes the pids of its shell's
ancestors, which include the Celery worker's pid when the worker ran it and the
scheduler's pid when the LocalExecutor (a child of the scheduler) did.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.apply import apply_plan
from airflow_cloudplan.demo import (
    COMPONENTS,
    DemoError,
    DemoRun,
    airflow_running,
    free_port,
    prepare_home,
)
from airflow_cloudplan.model import PlanResult
from airflow_cloudplan.store import PlanStore, open_store
from tests.factories import plan_result

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(600)]

DAG_ID = "cp_celery_routing"
PIPELINE = "celery-routing"
REGION = "eu-west-1"
QUEUE = f"cp-{REGION}-vm"
POOL = f"cp-{PIPELINE}-{REGION}"
POOL_SLOTS = 3
WORKER = "celery-worker"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

# The last line of a BashOperator's output is its XCom: the pids of the shell's ancestors.
DAG_SOURCE = textwrap.dedent(
    f"""
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG

    ANCESTORS = (
        'p=$$; chain=""; '
        'while [ -n "$p" ] && [ "$p" -gt 1 ]; do '
        'chain="$chain $p"; p=$(ps -o ppid= -p "$p" | tr -d " "); done; '
        'echo "ancestors=$chain"'
    )

    with DAG("{DAG_ID}", schedule=None, catchup=False) as dag:
        managed = BashOperator(task_id="managed", bash_command=ANCESTORS)
        unmanaged = BashOperator(task_id="unmanaged", bash_command=ANCESTORS)
        managed >> unmanaged
    """
)


def _say(msg: str) -> None:
    print(f"[e2e-celery] {msg}", flush=True)


@pytest.fixture(scope="module")
def broker_db() -> Iterator[int]:
    """An empty Redis database of our own (flushed at the end); skip when Redis is down."""
    import redis

    probe = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2)
    try:
        probe.ping()
        count = int(probe.config_get("databases").get("databases") or 16)
    except (OSError, redis.RedisError) as exc:
        reason = f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} ({exc})"
        if os.environ.get("CLOUDPLAN_REQUIRE_SERVICES"):
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        probe.close()
    empty = []
    for n in range(1, count):
        with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=n) as client:
            if client.dbsize() == 0:
                empty.append(n)
    if not empty:
        pytest.fail(f"every Redis database on {REDIS_HOST}:{REDIS_PORT} holds keys; "
                    "free one for the Celery broker")
    db = random.choice(empty)
    yield db
    with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db) as client:
        client.flushdb()


@dataclass
class CeleryAirflow:
    """A running Airflow with a Celery worker on the planned queue."""

    demo: DemoRun
    airflow_home: Path
    worker_log: Path
    worker_pid: int
    scheduler_pid: int

    @property
    def store(self) -> PlanStore:
        """The plan store at its default place under AIRFLOW_HOME."""
        return open_store(self.airflow_home / "cloudplan" / "plans")

    @property
    def cache(self) -> Path:
        """The parse-time cache the cluster policy reads (default ``plan_cache``)."""
        return self.airflow_home / "cloudplan" / "active-plan.json"

    def run(self) -> tuple[str, dict[str, dict[str, Any]]]:
        """Trigger a run, wait for success; return its id and task instances by task."""
        run_id = self.demo.trigger(DAG_ID)
        try:
            self.demo.wait_run(DAG_ID, run_id, timeout_s=180)
        except DemoError as exc:
            states = {ti["task_id"]: ti["state"]
                      for ti in self.demo.task_instances(DAG_ID, run_id)}
            tail = self.worker_log.read_text(errors="replace")[-2000:]
            pytest.fail(f"{exc.summary}; task states {states}; Celery worker log ends:\n{tail}")
        return run_id, {ti["task_id"]: ti for ti in self.demo.task_instances(DAG_ID, run_id)}

    def launched_by(self, run_id: str, task_id: str) -> str:
        """Which Airflow process the task's shell descends from: worker or scheduler."""
        path = (f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}"
                "/xcomEntries/return_value")
        value = self.demo.api.call("GET", path, params={"deserialize": True})["value"]
        text = str(value).strip().strip('"')
        assert text.startswith("ancestors="), f"{task_id} printed {value!r}"
        ancestors = {int(pid) for pid in text.removeprefix("ancestors=").split()}
        found = [name for name, pid in (("worker", self.worker_pid),
                                        ("scheduler", self.scheduler_pid))
                 if pid in ancestors]
        assert len(found) == 1, f"{task_id} ancestors {sorted(ancestors)}: {found}"
        return found[0]


@pytest.fixture(scope="module")
def celery_airflow(tmp_path_factory: pytest.TempPathFactory,
                   broker_db: int) -> Iterator[CeleryAirflow]:
    home = tmp_path_factory.mktemp("celery") / "home"
    env, base, password = prepare_home(home, say=_say)
    airflow_home = home / "airflow"
    dags = home / "dags"
    dags.mkdir()
    (dags / f"{DAG_ID}.py").write_text(DAG_SOURCE)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor,CeleryExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{broker_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{airflow_home / 'airflow.db'}",
        # The scheduler serves LocalExecutor logs; keep it off the shared default port.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    })
    _assert_celery_executor_loads(env)
    worker = ["celery", "worker", "--queues", QUEUE, "--concurrency", "1",
              "--celery-hostname", f"cp-{uuid.uuid4().hex[:8]}@%h", "--skip-serve-logs",
              "--without-mingle", "--without-gossip"]
    with airflow_running(home, env, _say, extra={WORKER: worker}) as procs:
        demo = DemoRun(base, password, _say)
        try:
            demo.wait_dag(DAG_ID)
            yield CeleryAirflow(demo=demo, airflow_home=airflow_home,
                                worker_log=home / "logs" / f"{WORKER}.log",
                                worker_pid=procs[len(COMPONENTS)].pid,
                                scheduler_pid=procs[COMPONENTS.index("scheduler")].pid)
        finally:
            demo.api.close()


def _assert_celery_executor_loads(env: dict[str, str]) -> None:
    """Fail at once, with the reason, when the scheduler could not load CeleryExecutor.

    Otherwise a broken provider/Celery pairing shows up only as a run that never ends.
    """
    done = subprocess.run(
        [sys.executable, "-c", "import airflow.providers.celery.executors.celery_executor"],
        env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        pytest.fail(f"CeleryExecutor cannot be imported with the installed packages: {last}. "
                    "Pin a celery release the installed apache-airflow-providers-celery "
                    "supports (celery 5.7.0 removed celery.backends.database.retry, which "
                    "provider 3.26.0 imports; celery<5.7 works)")


def _store_plan(store: PlanStore, *, executor: str, queue: str) -> tuple[str, PlanResult]:
    """A hand-built plan for the managed task only; return its version and the plan."""
    plan = plan_result(pipeline=PIPELINE, stages=("managed",), region=REGION, dag_id=DAG_ID)
    assert plan.airflow is not None
    airflow = plan.airflow.model_copy(update={
        "pools": tuple(p.model_copy(update={"slots": POOL_SLOTS}) for p in plan.airflow.pools),
        "tasks": tuple(t.model_copy(update={"executor": executor, "queue": queue})
                       for t in plan.airflow.tasks)})
    plan = plan.model_copy(update={"airflow": airflow, "notes": (f"{executor} {queue}",)})
    return store.put(plan), plan


def _assert_unmanaged_on_default(cluster: CeleryAirflow, run_id: str,
                                 ti: dict[str, Any]) -> None:
    assert ti["state"] == "success"
    assert ti["executor"] in (None, "LocalExecutor")
    assert ti["queue"] == "default"
    assert ti["pool"] == "default_pool"
    assert cluster.launched_by(run_id, "unmanaged") == "scheduler"


def test_plan_routes_managed_task_to_celery_worker(celery_airflow: CeleryAirflow) -> None:
    cluster = celery_airflow
    version, _plan = _store_plan(cluster.store, executor="CeleryExecutor", queue=QUEUE)
    report = apply_plan(cluster.store, version, cluster.demo.api, cluster.cache,
                        verify_timeout_s=120)
    assert report.dags_verified == (DAG_ID,)
    assert cluster.demo.api.pools()[POOL]["slots"] == POOL_SLOTS

    run_id, tis = cluster.run()
    managed = tis["managed"]
    assert managed["state"] == "success"
    assert managed["executor"] == "CeleryExecutor"
    assert managed["queue"] == QUEUE
    assert (managed["pool"], managed["pool_slots"]) == (POOL, 1)
    assert cluster.launched_by(run_id, "managed") == "worker"
    worker_log = cluster.worker_log.read_text(errors="replace")
    assert run_id in worker_log and "task_id='managed'" in worker_log
    assert "task_id='unmanaged'" not in worker_log
    _assert_unmanaged_on_default(cluster, run_id, tis["unmanaged"])


def test_unconfigured_executor_falls_back_to_default(celery_airflow: CeleryAirflow) -> None:
    cluster = celery_airflow
    # Another queue than the worker's, so verify() proves the re-parse saw this plan.
    queue = f"cp-{REGION}-k8s"
    version, _plan = _store_plan(cluster.store, executor="KubernetesExecutor", queue=queue)
    apply_plan(cluster.store, version, cluster.demo.api, cluster.cache, verify_timeout_s=120)

    run_id, tis = cluster.run()  # never left `scheduled`: the run finishes
    managed = tis["managed"]
    assert managed["state"] == "success"
    assert managed["executor"] in (None, "LocalExecutor")
    assert managed["queue"] == queue
    assert managed["pool"] == POOL
    assert cluster.launched_by(run_id, "managed") == "scheduler"
    assert run_id not in cluster.worker_log.read_text(errors="replace")
    _assert_unmanaged_on_default(cluster, run_id, tis["unmanaged"])


def test_apply_refuses_a_plan_whose_celery_queue_no_worker_serves(
        celery_airflow: CeleryAirflow, broker_db: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_cloudplan.errors import ApplyError

    cluster = celery_airflow
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL",
                       f"redis://{REDIS_HOST}:{REDIS_PORT}/{broker_db}")
    before = cluster.store.active(PIPELINE)
    unserved = f"cp-{REGION}-gpu"
    version, _plan = _store_plan(cluster.store, executor="CeleryExecutor", queue=unserved)
    with pytest.raises(ApplyError, match=f"queue '{unserved}' has no consumer"):
        apply_plan(cluster.store, version, cluster.demo.api, cluster.cache,
                   executors="LocalExecutor,CeleryExecutor", verify_timeout_s=120)
    assert cluster.store.active(PIPELINE) == before  # nothing moved


def test_an_unserved_queue_applied_anyway_is_left_unchanged_and_the_task_runs(
        celery_airflow: CeleryAirflow, broker_db: int, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = celery_airflow
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL",
                       f"redis://{REDIS_HOST}:{REDIS_PORT}/{broker_db}")
    unserved = f"cp-{REGION}-gpu"
    version, _plan = _store_plan(cluster.store, executor="CeleryExecutor", queue=unserved)
    report = apply_plan(cluster.store, version, cluster.demo.api, cluster.cache,
                        executors="LocalExecutor,CeleryExecutor", allow_unserved_queues=True,
                        verify_timeout_s=120)
    assert report.queues_unserved == (unserved,)
    # verify() cannot tell "left unchanged" from "not re-parsed yet" (pool and priority
    # equal the previous plan's): wait for the task to show its own queue again.
    deadline = time.monotonic() + 120
    while cluster.demo.api.tasks(DAG_ID)["managed"]["queue"] != "default":
        assert time.monotonic() < deadline, "the managed task never got its own queue back"
        time.sleep(1)
    run_id, tis = cluster.run()  # not stranded on a queue nobody consumes
    managed = tis["managed"]
    assert managed["state"] == "success"
    assert managed["queue"] == "default"
    assert managed["executor"] in (None, "LocalExecutor")
    assert managed["pool"] == POOL
    assert cluster.launched_by(run_id, "managed") == "scheduler"
