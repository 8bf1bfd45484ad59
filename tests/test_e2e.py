"""End to end on real Airflow: api-server, scheduler, DAG processor, triggerer.

The example pipeline builds history; the planning DAG plans, waits in the HITL review,
is rejected (nothing changes) or approved through the same REST call the UI makes
(pools, active plan, cluster policy take effect); rollback restores the earlier plan.
Runs on SQLite (full flow) and PostgreSQL (approve flow).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_cloudplan.demo import (
    PIPELINE_DAG,
    PLANNER_DAG,
    DemoRun,
    airflow_running,
    prepare_home,
    wait_for,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(1200)]


def _say(msg: str) -> None:
    print(f"[e2e] {msg}", flush=True)


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"cp_e2e_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _review(demo: DemoRun, choice: str, *, first: bool = False) -> str:
    run_id = demo.start_planner() if first else demo.trigger(PLANNER_DAG)
    wait_for("the review step", lambda: demo.approval_pending(run_id), 600)
    demo.respond(run_id, choice)
    demo.wait_run(PLANNER_DAG, run_id, timeout_s=600)
    return run_id


def _planned_state(demo: DemoRun, airflow_home: Path) -> tuple[str, dict[str, dict[str, object]]]:
    from airflow_cloudplan.store import open_store

    store = open_store(airflow_home / "cloudplan" / "plans")
    pointer = store.active(PIPELINE_DAG)
    assert pointer is not None
    plan = store.get(pointer.version)
    assert plan.airflow is not None
    return pointer.version, {t.task_id: {"pool": t.pool, "queue": t.queue,
                                         "pool_slots": t.pool_slots}
                             for t in plan.airflow.tasks}


def _assert_tasks_carry(demo: DemoRun, planned: dict[str, dict[str, object]]) -> None:
    tasks = demo.api.tasks(PIPELINE_DAG)
    for task_id, want in planned.items():
        got = tasks[task_id]
        assert (got["pool"], got["queue"]) == (want["pool"], want["queue"]), task_id
        assert got["pool_slots"] == want["pool_slots"], task_id


def test_reject_then_approve_then_rollback_on_sqlite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env, base, password = prepare_home(home, say=_say)
    airflow_home = home / "airflow"
    with airflow_running(home, env, _say), DemoRun(base, password, _say) as demo:
        demo.wait_dag(PIPELINE_DAG)
        demo.wait_dag(PLANNER_DAG, unpause=False)
        demo.wait_run(PIPELINE_DAG, demo.trigger(PIPELINE_DAG))
        pools_before = set(demo.api.pools())

        # A rejected plan changes nothing: no pools, no active plan, no policy cache.
        _review(demo, "Reject", first=True)
        assert set(demo.api.pools()) == pools_before
        assert not (airflow_home / "cloudplan" / "active-plan.json").exists()
        from airflow_cloudplan.store import open_store

        store = open_store(airflow_home / "cloudplan" / "plans")
        assert store.active(PIPELINE_DAG) is None
        assert [e.event for e in store.history(PIPELINE_DAG)][-1] == "rejected"

        # Approved: pools exist with the planned slots; re-parsed tasks carry the plan.
        _review(demo, "Approve")
        v1, planned = _planned_state(demo, airflow_home)
        plan = store.get(v1)
        assert plan.airflow is not None
        pools = demo.api.pools()
        for pool in plan.airflow.pools:
            assert pools[pool.name]["slots"] == pool.slots
        _assert_tasks_carry(demo, planned)
        run_id = demo.trigger(PIPELINE_DAG)
        demo.wait_run(PIPELINE_DAG, run_id)
        for ti in demo.task_instances(PIPELINE_DAG, run_id):
            assert ti["pool"] == planned[ti["task_id"]]["pool"]
            assert ti["queue"] == planned[ti["task_id"]]["queue"]

        # A second plan (other queues and slots) applied, then rolled back exactly.
        from airflow_cloudplan.apply import apply_plan, rollback

        airflow2 = plan.airflow.model_copy(update={
            "pools": tuple(p.model_copy(update={"slots": p.slots + 3})
                           for p in plan.airflow.pools),
            "tasks": tuple(t.model_copy(update={"queue": t.queue + "-v2"})
                           for t in plan.airflow.tasks)})
        v2 = store.put(plan.model_copy(update={"airflow": airflow2, "notes": ("v2",)}))
        cache = airflow_home / "cloudplan" / "active-plan.json"
        apply_plan(store, v2, demo.api, cache, verify_timeout_s=180)
        assert demo.api.tasks(PIPELINE_DAG)["train"]["queue"].endswith("-v2")
        report = rollback(store, PIPELINE_DAG, demo.api, cache)
        assert report.version == v1
        _assert_tasks_carry(demo, planned)
        pools = demo.api.pools()
        for pool in plan.airflow.pools:
            assert pools[pool.name]["slots"] == pool.slots


def test_approve_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    home = tmp_path / "home"
    env, base, password = prepare_home(home, sql_alchemy_conn=postgres_url, say=_say)
    with airflow_running(home, env, _say), DemoRun(base, password, _say) as demo:
        demo.wait_dag(PIPELINE_DAG)
        demo.wait_dag(PLANNER_DAG, unpause=False)
        demo.wait_run(PIPELINE_DAG, demo.trigger(PIPELINE_DAG))
        _review(demo, "Approve", first=True)
        _version, planned = _planned_state(demo, home / "airflow")
        _assert_tasks_carry(demo, planned)
