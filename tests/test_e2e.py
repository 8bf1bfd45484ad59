"""End to end on real Airflow: api-server, scheduler, DAG processor, triggerer.

The example pipeline builds history; the planning DAG plans, waits in the HITL review,
is rejected (nothing changes) or approved through the same REST call the UI makes
(pools, active plan, cluster policy take effect); rollback restores the earlier plan.
Runs on SQLite (full flow) and PostgreSQL (approve flow). The README's demo runs under a
background CPU load with --keep-running; its printed addresses must answer, and the
command-line lifecycle written in docs/airflow.md runs verbatim against that Airflow.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from airflow_cloudplan.demo import (
    COMPONENTS,
    PIPELINE_DAG,
    PLANNER_DAG,
    DemoRun,
    airflow_running,
    prepare_home,
)
from tests.conftest import REPO

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
    demo.wait_review(run_id)
    demo.respond(run_id, choice)
    demo.wait_run(PLANNER_DAG, run_id)
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
    with airflow_running(home, env, _say) as procs, DemoRun(
            base, password, _say, home=home,
            components=dict(zip(COMPONENTS, procs, strict=True))) as demo:
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
    with airflow_running(home, env, _say) as procs, DemoRun(
            base, password, _say, home=home,
            components=dict(zip(COMPONENTS, procs, strict=True))) as demo:
        demo.wait_dag(PIPELINE_DAG)
        demo.wait_dag(PLANNER_DAG, unpause=False)
        demo.wait_run(PIPELINE_DAG, demo.trigger(PIPELINE_DAG))
        _review(demo, "Approve", first=True)
        _version, planned = _planned_state(demo, home / "airflow")
        _assert_tasks_carry(demo, planned)


# -- the README's demo on a busy machine, then the documented CLI lifecycle against it -----

BUSY = ("import sys, time\nend = time.time() + float(sys.argv[1])\n"
        "while time.time() < end:\n    pass\n")


def _readme_demo_args() -> list[str]:
    """The README's first command, from `cloudplan` on (after the uv bootstrap)."""
    text = (REPO / "README.md").read_text()
    first = text.split("```bash\n", 1)[1].split("```", 1)[0].strip()
    assert first.startswith("python3 -m pip install -q uv=="), first
    args = shlex.split(first.split("--all-extras ", 1)[1])
    assert args[:2] == ["cloudplan", "demo"], args
    return args[1:]


def _documented_lifecycle() -> list[str]:
    text = (REPO / "docs" / "airflow.md").read_text()
    block = text.split("<!-- cli-lifecycle -->", 1)[1].split("<!-- /cli-lifecycle -->", 1)[0]
    return [line.strip() for line in block.splitlines() if line.startswith("cloudplan ")]


def _cloudplan(args: list[str], *, env: dict[str, str], cwd: Path,
               timeout: float = 1800) -> str:
    done = subprocess.run([sys.executable, "-m", "airflow_cloudplan", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, (f"cloudplan {' '.join(args)} exited {done.returncode}\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    assert "Traceback" not in done.stderr
    return done.stdout


@contextmanager
def _cpu_load(seconds: float) -> Iterator[None]:
    """One busy process per core, each ending by itself after ``seconds``."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY, str(seconds)])
             for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


@contextmanager
def _occupied(*ports: int) -> Iterator[None]:
    """Hold Airflow's default log-server ports (when free) as another Airflow would."""
    held = []
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("", port))
            s.listen()
            held.append(s)
        except OSError:
            s.close()  # someone else's Airflow already holds it: even better
    try:
        yield
    finally:
        for s in held:
            s.close()


def _check_printed_addresses(out: str, home: Path) -> tuple[list[str], str]:
    """The demo's output ends with the UI, review and plan-page addresses, all answering."""
    import httpx

    tail = out.strip().splitlines()[-4:]
    labels = [line.split(":", 1)[0].strip() for line in tail]
    assert labels == ["Airflow UI", "review step", "plan page", "stop Airflow"], tail
    urls = [line.split(" : ", 1)[1].strip() for line in tail[:3]]
    assert tail[3].split(" : ", 1)[1].strip() == f"cloudplan demo --stop --home {home}"
    password = json.loads((home / "passwords.json").read_text())["cloudplan"]
    token = httpx.post(f"{urls[0]}/auth/token",
                       json={"username": "cloudplan", "password": password}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    for url in urls:
        resp = httpx.get(url, headers=auth, timeout=60)
        assert resp.status_code == 200, (url, resp.status_code)
    version = urls[2].rsplit("/", 1)[1]
    plan_page = httpx.get(urls[2], headers=auth, timeout=60).text
    assert version in plan_page and PIPELINE_DAG in plan_page
    return urls, password


def _run_documented_lifecycle(env: dict[str, str], work: Path) -> list[str]:
    """Run docs/airflow.md's block step by step; each step must name the doc's next one.

    ``<version>`` in the doc is what the previous step printed. Returns the applied
    versions (12-digit prefixes).
    """
    steps = _documented_lifecycle()
    assert [s.split()[1] for s in steps] == ["plan", "compose", "plans", "apply", "plan",
                                             "plans", "apply", "rollback"]
    printed: str | None = None
    applied: list[str] = []
    for documented in steps:
        command = documented
        if printed is not None and documented.split()[:2] == printed.split()[:2]:
            pattern = re.escape(documented).replace(re.escape("<version>"), "([0-9a-f]{12})")
            assert re.fullmatch(pattern, printed), (
                f"the doc says `{documented}`, the previous step printed `{printed}`")
            command = printed
        assert "<version>" not in command, f"no step named the version for `{documented}`"
        output = _cloudplan(shlex.split(command)[1:], env=env, cwd=work)
        nexts = [line.split(": ", 1)[1] for line in output.splitlines()
                 if line.startswith("next")]
        assert nexts, f"`{command}` did not name the next command:\n{output}"
        printed = nexts[-1].split("   ")[0].strip()
        if command.startswith("cloudplan apply "):
            applied.append(command.split()[2])
    return applied


@pytest.mark.timeout(3600)
def test_readme_demo_under_load_keeps_running_and_the_documented_cli_lifecycle_works(
        tmp_path: Path) -> None:
    from airflow_cloudplan.demo import running_demo
    from airflow_cloudplan.store import open_store

    home = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with _cpu_load(1800), _occupied(8793, 8794):
        out = _cloudplan([*_readme_demo_args(), "--keep-running", "--runs", "1",
                          "--home", str(home)], env=env, cwd=tmp_path, timeout=3000)
    _say(f"demo under load: {time.monotonic() - started:.0f} s")
    try:
        urls, password = _check_printed_addresses(out, home)
        # The lifecycle of docs/airflow.md, verbatim, against the Airflow the demo left up.
        cli_env = {**env, "AIRFLOW_HOME": str(home / "airflow"), "CLOUDPLAN_API_URL": urls[0],
                   "CLOUDPLAN_API_USER": "cloudplan", "CLOUDPLAN_API_PASSWORD": password}
        for var in ("AIRFLOW_CONFIG", "CLOUDPLAN_PLAN_STORE", "CLOUDPLAN_PLAN_CACHE"):
            cli_env.pop(var, None)
        work = tmp_path / "work"
        shutil.copytree(REPO / "docs" / "examples", work / "docs" / "examples")
        applied = _run_documented_lifecycle(cli_env, work)

        store = open_store(home / "airflow" / "cloudplan" / "plans")
        pointer = store.active(PIPELINE_DAG)
        assert pointer is not None and pointer.version.startswith(applied[0])
        assert [e.event for e in store.history(PIPELINE_DAG)][-2:] == ["applied",
                                                                       "rolled_back"]
        plan = store.get(pointer.version)
        assert plan.airflow is not None
        with DemoRun(urls[0], password, _say, home=home) as demo:
            tasks = demo.api.tasks(PIPELINE_DAG)
        for t in plan.airflow.tasks:
            assert (tasks[t.task_id]["pool"], tasks[t.task_id]["queue"]) == (t.pool, t.queue)
    finally:
        _cloudplan(["demo", "--stop", "--home", str(home)], env=env, cwd=tmp_path, timeout=120)
    assert running_demo(home) == []
