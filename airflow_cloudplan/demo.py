"""The end-to-end demo: real Airflow on SQLite, real runs, the planning DAG, an applied plan.

``cloudplan demo`` starts Airflow's api-server, scheduler, DAG processor and triggerer in a
project-local ``AIRFLOW_HOME`` (LocalExecutor, SQLite), runs the example ML pipeline a few
times to build history, triggers ``cloudplan_replan``, waits for the review step (or
approves it with ``--auto-approve``), and shows the production DAG's tasks running with
the planned pools and queues. Every process it starts is stopped at the end or on Ctrl-C,
and it can be re-run (the demo home is recreated each time).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from airflow_cloudplan.apply import OWNER_MARK
from airflow_cloudplan.errors import CloudplanError, Problem

PIPELINE_DAG = "example_ml_pipeline"
PLANNER_DAG = "cloudplan_replan"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class DemoError(CloudplanError):
    """The demo could not complete a step."""


def repo_root() -> Path:
    """The source checkout the demo runs from (it needs ``dags/`` and ``docs/examples``)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "dags" / f"{PLANNER_DAG}.py").is_file():
        raise DemoError("the demo runs from a source checkout",
                        [Problem(f"{root / 'dags'} has no {PLANNER_DAG}.py",
                                 hint="clone the repository and run the README's command")])
    return root


def demo_env(home: Path, port: int, password: str, *, specs: Path | None = None,
             sql_alchemy_conn: str | None = None) -> dict[str, str]:
    """Environment for every Airflow process of the demo (SQLite unless told otherwise)."""
    root = repo_root()
    af = home / "airflow"
    db = af / "airflow.db"
    conn = sql_alchemy_conn or f"sqlite:///{db}"
    metadb = ({"conn_type": "sqlite", "host": str(db)} if sql_alchemy_conn is None
              else {"conn_type": "postgres", "extra": {"url": conn}})
    api_conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
                "login": "cloudplan", "password": password}
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(af),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "cloudplan:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # A demo-sized Pareto search (the nightly default is 40 points / 300 s).
        "AIRFLOW__CLOUDPLAN__FRONTIER_MAX_POINTS": "12",
        "AIRFLOW__CLOUDPLAN__FRONTIER_TIME_S": "60",
        "AIRFLOW__CLOUDPLAN__TIME_LIMIT_S": "30",
        "AIRFLOW__CLOUDPLAN__SPECS": str(specs or root / "docs" / "examples" / "ml_pipeline.yaml"),
        "AIRFLOW_CONN_CLOUDPLAN_METADB": json.dumps(metadb),
        "AIRFLOW_CONN_CLOUDPLAN_API": json.dumps(api_conn),
        "CLOUDPLAN_DATA_ROOT": str(home / "data"),
        "NO_PROXY": "*",
    })
    return env


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def airflow_running(home: Path, env: dict[str, str], say: Callable[[str], None], *,
                    extra: Mapping[str, Sequence[str]] | None = None,
                    ) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start the Airflow components; stop all of them (process groups) on exit.

    ``extra`` adds more ``airflow`` commands by log name (e.g. ``{"celery-worker":
    ["celery", "worker", "--queues", "q"]}``), started after the core components and
    stopped with them.
    """
    procs: list[subprocess.Popen[bytes]] = []
    outputs: list[BinaryIO] = []
    previous = signal.signal(signal.SIGTERM, _terminate)
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    commands: dict[str, Sequence[str]] = {comp: [comp] for comp in COMPONENTS}
    commands.update(extra or {})
    try:
        for comp, args in commands.items():
            out = open(logs / f"{comp}.log", "wb")  # noqa: SIM115 - closed after the process
            outputs.append(out)
            procs.append(subprocess.Popen([_airflow(), *args], env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True))
            say(f"started airflow {comp} (pid {procs[-1].pid}, log {logs / (comp + '.log')})")
        yield procs
    finally:
        # A second Ctrl-C must not abandon the shutdown half way.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for log in outputs:
            log.close()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        say("stopped every Airflow process the demo started")


def _terminate(signum: int, frame: object) -> None:
    """Turn SIGTERM into KeyboardInterrupt so the processes are stopped on the way out."""
    raise KeyboardInterrupt

def _airflow() -> str:
    exe = Path(sys.executable).with_name("airflow")
    return str(exe) if exe.exists() else "airflow"


def wait_for(what: str, check: Callable[[], Any], timeout_s: float,
             poll_s: float = 2.0) -> Any:
    """Poll ``check`` until it returns something truthy; raise a DemoError on timeout."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except CloudplanError as exc:
            last_error = exc.summary
        time.sleep(poll_s)
    raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}",
                    [Problem(last_error or "no answer", hint="see the logs under the demo home")])


class DemoRun:
    """One demo run against a started Airflow."""

    def __init__(self, base_url: str, password: str, say: Callable[[str], None]) -> None:
        from airflow_cloudplan.apply.rest import AirflowApi

        self.base_url = base_url
        self.say = say
        self.api: AirflowApi = wait_for(
            "the Airflow API server", lambda: AirflowApi(base_url, username="cloudplan",
                                                         password=password), 180)

    def __enter__(self) -> DemoRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    def wait_dag(self, dag_id: str, *, unpause: bool = True) -> None:
        """Wait until the DAG processor has parsed a DAG (and unpause it)."""
        wait_for(f"DAG {dag_id} to be parsed", lambda: self.api.dag(dag_id), 180)
        if unpause:
            self.unpause(dag_id)

    def unpause(self, dag_id: str) -> None:
        """Let the scheduler run the DAG."""
        self.api.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Runs of a DAG, oldest first."""
        page = self.api.call("GET", f"/dags/{dag_id}/dagRuns",
                             params={"order_by": "id", "limit": 100})
        return list(page["dag_runs"])

    def start_planner(self) -> str:
        """Unpause the planning DAG and return the run that will plan.

        Unpausing a nightly DAG makes the scheduler create its latest scheduled run at
        once (``catchup=False``); with ``max_active_runs=1`` a manual trigger would only
        queue behind it. So use that run, and trigger one only if none appears.
        """
        known = {r["dag_run_id"] for r in self.runs(PLANNER_DAG)}
        self.unpause(PLANNER_DAG)
        try:
            fresh = wait_for("the nightly run to be created",
                             lambda: [r for r in self.runs(PLANNER_DAG)
                                      if r["dag_run_id"] not in known], 20, poll_s=2)
            return str(fresh[0]["dag_run_id"])
        except DemoError:
            return self.trigger(PLANNER_DAG)

    def trigger(self, dag_id: str) -> str:
        """Trigger a run now; return its run id."""
        run = self.api.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        """The state of a DAG run."""
        return str(self.api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float = 300) -> str:
        """Wait for a run to finish; fail clearly when it failed."""
        state = wait_for(f"{dag_id} run {run_id}",
                         lambda: (s if (s := self.run_state(dag_id, run_id)) in
                                  ("success", "failed") else None), timeout_s)
        if state != "success":
            raise DemoError(f"{dag_id} run {run_id} {state}",
                            [Problem("a task failed", hint=f"open {self.base_url}/dags/{dag_id}")])
        return str(state)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Task instances of a run."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return list(self.api.call("GET", path)["task_instances"])

    def stage_plan_version(self, run_id: str, task_id: str) -> str | None:
        """The plan version a stage operator ran its telemetry under (from its metrics)."""
        from airflow_cloudplan.model.workload import STAGE_METRICS_XCOM_KEY

        path = (f"/dags/{PIPELINE_DAG}/dagRuns/{run_id}/taskInstances/{task_id}"
                f"/xcomEntries/{STAGE_METRICS_XCOM_KEY}")
        try:
            value = self.api.call("GET", path, params={"deserialize": True})["value"]
        except CloudplanError:
            return None
        if isinstance(value, str):
            try:
                metrics = json.loads(value)
            except ValueError:
                return None
        else:
            metrics = value
        return str(metrics.get("plan_version")) if isinstance(metrics, dict) else None

    def approval_pending(self, run_id: str) -> bool:
        """True when the review task waits for a human."""
        for ti in self.task_instances(PLANNER_DAG, run_id):
            if ti["task_id"] == "review" and ti["state"] in ("awaiting_input", "deferred"):
                return True
        if self.run_state(PLANNER_DAG, run_id) in ("success", "failed"):
            raise DemoError("the planning run ended without asking for review",
                            [Problem(self.run_state(PLANNER_DAG, run_id),
                                     hint="see the plan task's log: nothing was proposed")])
        return False

    def respond(self, run_id: str, choice: str = "Approve", *, settle_s: float = 20.0) -> None:
        """Answer the review step through the same REST call the UI makes.

        Airflow 3.3 races when an answer arrives within about a second of the task
        pausing: the executor's "paused" event lands after the resumed task was queued
        and the scheduler marks the review failed (seen 5.6 s after pausing on a loaded
        machine). People never answer that fast; an automated answer waits ``settle_s``.
        """
        time.sleep(settle_s)
        path = f"/dags/{PLANNER_DAG}/dagRuns/{run_id}/taskInstances/review/-1/hitlDetails"
        self.api.call("PATCH", path, json={"chosen_options": [choice]})

    def approve(self, run_id: str) -> None:
        """Approve the review step (see :meth:`respond`)."""
        self.respond(run_id, "Approve")


def prepare_home(home: Path, *, sql_alchemy_conn: str | None = None,
                 say: Callable[[str], None] = print) -> tuple[dict[str, str], str, str]:
    """Recreate the demo home, write credentials, migrate the DB; return env, URL, password."""
    home = home.resolve()
    if home.exists():
        shutil.rmtree(home)
    (home / "airflow").mkdir(parents=True)
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"cloudplan": password}))
    port = free_port()
    env = demo_env(home, port, password, sql_alchemy_conn=sql_alchemy_conn)
    db = "PostgreSQL" if sql_alchemy_conn else "SQLite"
    say(f"AIRFLOW_HOME={home / 'airflow'} ({db}, LocalExecutor); migrating the metadata DB")
    done = subprocess.run([_airflow(), "db", "migrate"], env=env, capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise DemoError("`airflow db migrate` failed",
                        [Problem(done.stderr.decode()[-500:], hint="check the DB URL")])
    return env, f"http://127.0.0.1:{port}", password


def run_demo(home: Path, *, runs: int = 3, auto_approve: bool = False,
             sql_alchemy_conn: str | None = None,
             say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole demo; return what it found (paths, version, task placements)."""
    home = home.resolve()
    env, base, password = prepare_home(home, sql_alchemy_conn=sql_alchemy_conn, say=say)
    with airflow_running(home, env, say), DemoRun(base, password, say) as demo:
        demo.wait_dag(PIPELINE_DAG)
        demo.wait_dag(PLANNER_DAG, unpause=False)
        say(f"Airflow UI: {base}  (user cloudplan, password in {home / 'passwords.json'})")
        run_ids = [demo.trigger(PIPELINE_DAG) for _ in range(runs)]
        for rid in run_ids:
            demo.wait_run(PIPELINE_DAG, rid)
        say(f"{runs} runs of {PIPELINE_DAG} succeeded (history for the profiler)")
        plan_run = demo.start_planner()
        wait_for("the plan to reach review", lambda: demo.approval_pending(plan_run), 600)
        say(f"review waiting: {base}/dags/{PLANNER_DAG}/runs/{plan_run} → task 'review' → "
            "Approve or Reject")
        if auto_approve:
            demo.approve(plan_run)
            say("approved through the REST API (--auto-approve)")
        demo.wait_run(PLANNER_DAG, plan_run, timeout_s=24 * 3600 if not auto_approve else 600)
        pools = demo.api.pools()
        after = demo.trigger(PIPELINE_DAG)
        demo.wait_run(PIPELINE_DAG, after)
        placements = {ti["task_id"]: {k: ti.get(k) for k in ("pool", "pool_slots", "queue",
                                                              "executor", "priority_weight")}
                      for ti in demo.task_instances(PIPELINE_DAG, after)}
        for task_id, placed in placements.items():
            placed["telemetry_plan"] = demo.stage_plan_version(after, task_id)
    store_dir = home / "airflow" / "cloudplan" / "plans"
    from airflow_cloudplan.store import open_store

    store = open_store(store_dir)
    pointer = store.active(PIPELINE_DAG)
    return {"ui": base, "store": str(store_dir), "active_version": pointer.version if pointer
            else None, "pools": sorted(n for n, p in pools.items()
                                       if OWNER_MARK in str(p.get("description"))),
            "placements": placements,
            "plan_json": str(store_dir / "versions" / pointer.version / "plan.json")
            if pointer else None,
            "artifacts": str(store_dir / "versions" / pointer.version / "artifacts")
            if pointer else None}
