"""The end-to-end demo: real Airflow on SQLite, real runs, the planning DAG, an applied plan.

``cloudplan demo`` starts Airflow's api-server, scheduler, DAG processor and triggerer in a
project-local ``AIRFLOW_HOME`` (LocalExecutor, SQLite), runs the example ML pipeline a few
times to build history, triggers ``cloudplan_replan``, waits for the review step (or
approves it with ``--auto-approve``), and shows the production DAG's tasks running with
the planned pools and queues.

Busy machines are normal, so nothing here waits on a clock: every wait watches for
progress (run and task states, a component's log growing) and gives up only when nothing
has advanced for ``stall_s`` seconds, saying what it waited for, what it saw last and the
end of the relevant log. Every listener gets a free port (API, the scheduler's and the
triggerer's log servers). Every process it starts is stopped at the end or on Ctrl-C —
unless ``keep_running``, which leaves Airflow up (the processes are recorded in the demo
home; :func:`stop_demo` stops them). The demo home is recreated each run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from airflow_cloudplan.apply import OWNER_MARK
from airflow_cloudplan.errors import CloudplanError, Problem

PIPELINE_DAG = "example_ml_pipeline"
PLANNER_DAG = "cloudplan_replan"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
STALL_S = 1200.0
"""Default: give up when nothing has advanced for this long (generous: a loaded 2-core
machine ran single tasks of the example for 65 s)."""
PROCESSES_FILE = "processes.json"
LOG_TAIL_LINES = 25


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


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct TCP ports free on every interface right now.

    Airflow's log servers listen on all interfaces, so the ports are probed there (both
    IPv4 and IPv6 when the host has them); all probes stay open until every port is
    chosen, so no port is handed out twice.
    """
    probes: list[socket.socket] = []
    try:
        while len(probes) < count:
            family = socket.AF_INET6 if socket.has_dualstack_ipv6() else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("", 0))
            probes.append(s)
        return [int(s.getsockname()[1]) for s in probes]
    finally:
        for s in probes:
            s.close()


def free_port() -> int:
    """One free TCP port (see :func:`free_ports`)."""
    return free_ports(1)[0]


def demo_env(home: Path, port: int, password: str, *, specs: Path | None = None,
             sql_alchemy_conn: str | None = None,
             log_ports: tuple[int, int] | None = None) -> dict[str, str]:
    """Environment for every Airflow process of the demo (SQLite unless told otherwise).

    ``log_ports`` are the scheduler's (worker) and the triggerer's log-server ports;
    free ones are chosen when not given.
    """
    root = repo_root()
    af = home / "airflow"
    db = af / "airflow.db"
    conn = sql_alchemy_conn or f"sqlite:///{db}"
    metadb = ({"conn_type": "sqlite", "host": str(db)} if sql_alchemy_conn is None
              else {"conn_type": "postgres", "extra": {"url": conn}})
    api_conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
                "login": "cloudplan", "password": password}
    worker_logs, trigger_logs = log_ports or tuple(free_ports(2))
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
        # Every listener on a free port: another Airflow on this machine keeps its own.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_logs),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
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


# -- logs ---------------------------------------------------------------------------------
def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, JSON log records shown as ``level event``."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            raw = fh.read().decode("utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {path})"
    out = []
    for line in raw:
        try:
            rec = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if isinstance(rec, dict) and "event" in rec:
            detail = rec.get("error_detail") or rec.get("exception") or ""
            out.append(f"{rec.get('level', '')} {rec['event']} {detail}".strip())
        else:
            out.append(line)
    return "\n".join(out)


def task_log(airflow_home: Path, dag_id: str, run_id: str, task_id: str) -> Path | None:
    """The newest attempt's log file of a task instance, if it is on this machine."""
    folder = airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    attempts = sorted(folder.glob("attempt=*.log"), key=lambda p: p.stat().st_mtime)
    return attempts[-1] if attempts else None


# -- processes ----------------------------------------------------------------------------
def _airflow() -> str:
    exe = Path(sys.executable).with_name("airflow")
    return str(exe) if exe.exists() else "airflow"


def _terminate(signum: int, frame: object) -> None:
    """Turn SIGTERM into KeyboardInterrupt so the processes are stopped on the way out."""
    raise KeyboardInterrupt


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child nobody reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _signal_groups(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)


def _stop_groups(pids: Sequence[int], grace_s: float = 20.0,
                 alive: Callable[[int], bool] = _alive) -> None:
    """SIGTERM each process group, then SIGKILL what is left after ``grace_s``.

    ``alive`` tells whether a group leader still runs (our own children must be reaped
    to stop counting as alive, so the caller that started them passes ``Popen.poll``).
    """
    _signal_groups(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    _signal_groups(pids, signal.SIGKILL)


@contextmanager
def airflow_running(home: Path, env: dict[str, str], say: Callable[[str], None], *,
                    extra: Mapping[str, Sequence[str]] | None = None,
                    keep_running: bool = False,
                    ) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start the Airflow components; stop all of them (process groups) on exit.

    ``extra`` adds more ``airflow`` commands by log name (e.g. ``{"celery-worker":
    ["celery", "worker", "--queues", "q"]}``), started after the core components and
    stopped with them. With ``keep_running`` a normal exit leaves them running (their
    pids are in ``home/processes.json`` for :func:`stop_demo`); an error stops them.
    """
    procs: list[subprocess.Popen[bytes]] = []
    outputs: list[BinaryIO] = []
    previous = signal.signal(signal.SIGTERM, _terminate)
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    commands: dict[str, Sequence[str]] = {comp: [comp] for comp in COMPONENTS}
    commands.update(extra or {})
    record: list[dict[str, Any]] = []
    stop = True
    try:
        for comp, args in commands.items():
            out = open(logs / f"{comp}.log", "wb")  # noqa: SIM115 - closed after the process
            outputs.append(out)
            procs.append(subprocess.Popen([_airflow(), *args], env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True))
            record.append({"component": comp, "pid": procs[-1].pid,
                           "log": str(logs / f"{comp}.log")})
            (home / PROCESSES_FILE).write_text(json.dumps(record, indent=1))
            say(f"started airflow {comp} (pid {procs[-1].pid}, log {logs / (comp + '.log')})")
        yield procs
        stop = not keep_running
    finally:
        for log in outputs:
            log.close()
        if stop:
            # A second Ctrl-C must not abandon the shutdown half way.
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            by_pid = {p.pid: p for p in procs}
            _stop_groups(list(by_pid), alive=lambda pid: by_pid[pid].poll() is None)
            for p in procs:
                p.wait()
            (home / PROCESSES_FILE).unlink(missing_ok=True)
            signal.signal(signal.SIGINT, previous_int)
            say("stopped every Airflow process the demo started")
        signal.signal(signal.SIGTERM, previous)


def running_demo(home: Path) -> list[dict[str, Any]]:
    """The recorded processes of a demo left running in ``home`` that are still alive."""
    path = home.resolve() / PROCESSES_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in record if isinstance(r, dict) and _alive(int(r.get("pid", 0)))]


def stop_demo(home: Path, say: Callable[[str], None] = print) -> int:
    """Stop the Airflow processes a ``keep_running`` demo left in ``home``; how many."""
    alive = running_demo(home)
    _stop_groups([int(r["pid"]) for r in alive])
    (home.resolve() / PROCESSES_FILE).unlink(missing_ok=True)
    for r in alive:
        say(f"stopped airflow {r['component']} (pid {r['pid']})")
    return len(alive)


# -- waiting on progress ------------------------------------------------------------------
class Watch:
    """Waits that fail only when nothing advances, with a status line and a diagnosis.

    ``health()`` is called on every poll and raises when a component died; ``status``
    receives a one-line description of what is awaited and the last observed state.
    """

    def __init__(self, stall_s: float = STALL_S, *,
                 status: Callable[[str], None] | None = None,
                 health: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.stall_s = stall_s
        self.status = status or (lambda _text: None)
        self.health = health or (lambda: None)
        self.clock, self.sleep = clock, sleep

    def until(self, what: str, observe: Callable[[], tuple[Hashable, str, Any]], *,
              poll_s: float = 2.0, stall_s: float | None = None,
              diagnose: Callable[[], list[Problem]] | None = None) -> Any:
        """Poll ``observe() -> (state, description, result)`` until ``result`` is truthy.

        A new ``state`` is progress. Raises :class:`DemoError` when the state has not
        changed for ``stall_s`` (default: the watch's), naming what was awaited, the
        last state seen, the last error, and ``diagnose()``'s findings.
        """
        limit = self.stall_s if stall_s is None else stall_s
        started = last_change = self.clock()
        state: Hashable = object()
        seen = "nothing yet"
        last_error = ""
        while True:
            self.health()
            try:
                new_state, seen, result = observe()
                if result:
                    return result
                if new_state != state:
                    state, last_change = new_state, self.clock()
                last_error = ""
            except DemoError:
                raise  # observe decided the wait is hopeless (a failed run, a broken DAG)
            except CloudplanError as exc:  # e.g. the API did not answer this poll
                last_error = exc.render()
            now = self.clock()
            quiet = now - last_change
            self.status(f"waiting for {what}: {seen} ({_secs(now - started)} so far, last "
                        f"change {_secs(quiet)} ago)")
            if quiet >= limit:
                problems = [Problem(f"last seen: {seen}",
                                    hint=f"raise --timeout (now {limit:g} s) if the "
                                         "machine is just slow")]
                if last_error:
                    problems.append(Problem(f"last error: {last_error}",
                                            hint="see the component logs below"))
                problems += diagnose() if diagnose else []
                raise DemoError(f"nothing advanced for {_secs(quiet)} while waiting for "
                                f"{what}", problems)
            self.sleep(poll_s)


def _secs(seconds: float) -> str:
    from airflow_cloudplan.report.units import fmt_duration

    return fmt_duration(seconds)


class DemoRun:
    """One demo run against a started Airflow.

    ``components`` (name -> process) and ``home`` let it notice a dead component at once
    and show the end of the relevant log when something goes wrong.
    """

    def __init__(self, base_url: str, password: str, say: Callable[[str], None], *,
                 watch: Watch | None = None, home: Path | None = None,
                 components: Mapping[str, subprocess.Popen[bytes]] | None = None) -> None:
        from airflow_cloudplan.apply.rest import AirflowApi

        self.base_url = base_url
        self.say = say
        self.home = home.resolve() if home else None
        self.components = dict(components or {})
        self.watch = watch or Watch()
        if self.components:
            self.watch.health = self.check_components

        def connect() -> tuple[Hashable, str, Any]:
            # A growing api-server log is progress while it starts; not answering yet is
            # not an error.
            try:
                api = AirflowApi(base_url, username="cloudplan", password=password)
            except CloudplanError as exc:
                return self._log_size("api-server"), f"starting ({exc.summary})", None
            return None, "up", api

        self.api: AirflowApi = self.watch.until(
            "the Airflow API server", connect,
            diagnose=lambda: self.component_logs("api-server"))

    def __enter__(self) -> DemoRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    # -- diagnosis ------------------------------------------------------------------------
    def _log(self, component: str) -> Path | None:
        return self.home / "logs" / f"{component}.log" if self.home else None

    def _log_size(self, component: str) -> int:
        path = self._log(component)
        try:
            return path.stat().st_size if path else 0
        except OSError:
            return 0

    def component_logs(self, *names: str) -> list[Problem]:
        """The end of each named component's log, as problems to show."""
        out = []
        for name in names:
            path = self._log(name)
            if path is not None:
                out.append(Problem(f"airflow {name} log ({path}) ends with:\n"
                                   f"{log_tail(path)}", hint=f"read {path}"))
        return out

    def check_components(self) -> None:
        """Raise at once, with its log, when an Airflow component exited."""
        for name, proc in self.components.items():
            code = proc.poll()
            if code is not None:
                raise DemoError(f"airflow {name} exited with code {code}",
                                self.component_logs(name))

    def task_logs(self, dag_id: str, run_id: str, task_ids: Sequence[str]) -> list[Problem]:
        """The end of the newest attempt's log of each task, when it is on this machine."""
        out = []
        for task_id in task_ids:
            path = task_log(self.home / "airflow", dag_id, run_id, task_id) if self.home else None
            if path is not None:
                out.append(Problem(f"task {task_id} log ({path}) ends with:\n{log_tail(path)}",
                                   hint=f"read {path}"))
        return out

    # -- DAGs and runs --------------------------------------------------------------------
    def wait_dag(self, dag_id: str, *, unpause: bool = True) -> None:
        """Wait until the DAG processor has parsed a DAG (and unpause it)."""
        def observe() -> tuple[Hashable, str, Any]:
            try:
                self.raise_import_errors(dag_id)
                found = self.api.dag(dag_id)
            except DemoError:
                raise
            except CloudplanError:
                found = None
            return self._log_size("dag-processor"), "not parsed yet", found

        self.watch.until(f"DAG {dag_id} to be parsed", observe,
                         diagnose=lambda: self.component_logs("dag-processor"))
        if unpause:
            self.unpause(dag_id)

    def raise_import_errors(self, dag_id: str) -> None:
        """Fail at once when the DAG's file does not import."""
        errors = self.api.call("GET", "/importErrors", params={"limit": 100})
        for err in errors.get("import_errors", []):
            if Path(str(err.get("filename", ""))).stem == dag_id or dag_id in str(
                    err.get("stack_trace", "")):
                raise DemoError(f"DAG {dag_id} does not import", [Problem(
                    str(err.get("stack_trace", "")).strip()[-1500:],
                    file=str(err.get("filename")), hint="fix the DAG file")])

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
        queue behind it. So use that run; trigger one only when the scheduler, having
        worked through a few loops (its log grew), still created none.
        """
        known = {r["dag_run_id"] for r in self.runs(PLANNER_DAG)}
        self.unpause(PLANNER_DAG)
        start = self._log_size("scheduler")

        def observe() -> tuple[Hashable, str, Any]:
            fresh = [r["dag_run_id"] for r in self.runs(PLANNER_DAG)
                     if r["dag_run_id"] not in known]
            grown = self._log_size("scheduler") - start
            if not fresh and (grown > 16 * 1024 or not self.home):
                return grown, "no scheduled run", "trigger"
            return grown, "waiting for the scheduled run", fresh[0] if fresh else None

        found = self.watch.until("the nightly run to be created", observe,
                                 diagnose=lambda: self.component_logs("scheduler"))
        return self.trigger(PLANNER_DAG) if found == "trigger" else str(found)

    def trigger(self, dag_id: str) -> str:
        """Trigger a run now; return its run id."""
        run = self.api.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        """The state of a DAG run."""
        return str(self.api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Task instances of a run."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return list(self.api.call("GET", path)["task_instances"])

    def run_progress(self, dag_id: str, run_id: str) -> tuple[Hashable, str, str]:
        """(state to compare, description, run state) of a run and its tasks."""
        state = self.run_state(dag_id, run_id)
        tis = self.task_instances(dag_id, run_id)
        done = sum(1 for ti in tis if ti["state"] in ("success", "skipped", "failed",
                                                      "upstream_failed", "removed"))
        active = sorted(ti["task_id"] for ti in tis
                        if ti["state"] in ("running", "queued", "deferred", "awaiting_input"))
        snapshot = (state, tuple(sorted((ti["task_id"], str(ti["state"]),
                                         ti.get("try_number")) for ti in tis)))
        now = f" (now: {', '.join(active)})" if active else ""
        return snapshot, f"{state}, {done}/{len(tis)} tasks done{now}", state

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float | None = None) -> str:
        """Wait for a run to finish; fail clearly (with the failed tasks' logs) if it failed.

        ``timeout_s`` overrides the watch's stall period for this wait.
        """
        def observe() -> tuple[Hashable, str, Any]:
            snapshot, text, state = self.run_progress(dag_id, run_id)
            return snapshot, text, state if state in ("success", "failed") else None

        state = self.watch.until(f"{dag_id} run {run_id}", observe, stall_s=timeout_s,
                                 diagnose=lambda: self.stalled_run(dag_id, run_id))
        if state != "success":
            failed = [ti["task_id"] for ti in self.task_instances(dag_id, run_id)
                      if ti["state"] in ("failed", "upstream_failed")]
            raise DemoError(f"{dag_id} run {run_id} {state}", [
                Problem(f"failed tasks: {', '.join(failed) or 'none recorded'}",
                        hint=f"open {self.base_url}/dags/{dag_id}/runs/{run_id}"),
                *self.task_logs(dag_id, run_id, failed)])
        return str(state)

    def stalled_run(self, dag_id: str, run_id: str) -> list[Problem]:
        """What a run that stopped advancing shows: its active tasks' and the scheduler log."""
        try:
            active = [ti["task_id"] for ti in self.task_instances(dag_id, run_id)
                      if ti["state"] in ("running", "queued", "scheduled")]
        except CloudplanError:
            active = []
        return [*self.task_logs(dag_id, run_id, active), *self.component_logs("scheduler")]

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

    # -- the review step ------------------------------------------------------------------
    def approval_pending(self, run_id: str) -> bool:
        """True when the review task waits for a human; an error when it never will."""
        tis = {ti["task_id"]: ti for ti in self.task_instances(PLANNER_DAG, run_id)}
        review = tis.get("review", {}).get("state")
        if review in ("awaiting_input", "deferred"):
            return True
        ended = review in ("success", "failed", "skipped", "upstream_failed", "removed")
        if ended or self.run_state(PLANNER_DAG, run_id) in ("success", "failed"):
            failed = [t for t, ti in tis.items() if ti["state"] == "failed"]
            reason = (f"tasks failed: {', '.join(failed)}" if failed else
                      f"the review step is {review or 'missing'}: nothing was proposed")
            raise DemoError("the planning run ended without asking for review", [
                Problem(reason, hint=f"open {self.base_url}/dags/{PLANNER_DAG}/runs/{run_id}"),
                *self.task_logs(PLANNER_DAG, run_id, failed or ["plan"])])
        return False

    def wait_review(self, run_id: str) -> None:
        """Wait (on progress) until the planning run's review step waits for a person."""
        def observe() -> tuple[Hashable, str, Any]:
            snapshot, text, _state = self.run_progress(PLANNER_DAG, run_id)
            return snapshot, text, self.approval_pending(run_id)

        self.watch.until("the plan to reach review", observe,
                         diagnose=lambda: self.stalled_run(PLANNER_DAG, run_id))

    def review_path(self, run_id: str) -> str:
        """The Airflow UI path of the run's review step (its "required actions" view)."""
        from airflow_cloudplan.airflow.ui.reviews import PendingReview

        return PendingReview(run_id=run_id, map_index=-1, subject="").path()

    def respond(self, run_id: str, choice: str = "Approve") -> None:
        """Answer the review step through the same REST call the UI makes.

        Airflow 3.3 races when an answer arrives before the scheduler has processed the
        executor's event for the paused attempt: the late event marks the resumed review
        failed. So an automated answer first waits — on progress — until the scheduler
        logged that event (``TaskInstance Finished`` for the review's attempt).
        """
        marker = f"TaskInstance Finished: dag_id={PLANNER_DAG}, task_id=review, run_id={run_id}"
        log = self._log("scheduler")
        if log is not None and log.is_file():
            self.watch.until(
                "the scheduler to record the paused review",
                lambda: (self._log_size("scheduler"), "not recorded yet",
                         marker in log.read_text(errors="replace")),
                poll_s=1.0, diagnose=lambda: self.component_logs("scheduler"))
        else:  # an Airflow this object did not start: allow the scheduler a few loops
            time.sleep(20)
        path = f"/dags/{PLANNER_DAG}/dagRuns/{run_id}/taskInstances/review/-1/hitlDetails"
        self.api.call("PATCH", path, json={"chosen_options": [choice]})

    def approve(self, run_id: str) -> None:
        """Approve the review step (see :meth:`respond`)."""
        self.respond(run_id, "Approve")


def prepare_home(home: Path, *, sql_alchemy_conn: str | None = None,
                 say: Callable[[str], None] = print) -> tuple[dict[str, str], str, str]:
    """Recreate the demo home, write credentials, migrate the DB; return env, URL, password."""
    home = home.resolve()
    alive = running_demo(home)
    if alive:
        raise DemoError(f"a demo is still running in {home}", [Problem(
            f"pids {', '.join(str(r['pid']) for r in alive)} (left by --keep-running)",
            hint=f"stop it with `cloudplan demo --stop --home {home}`, or use another --home")])
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
                        [Problem(done.stderr.decode()[-1500:], hint="check the DB URL")])
    return env, f"http://127.0.0.1:{port}", password


def run_demo(home: Path, *, runs: int = 3, auto_approve: bool = False,
             sql_alchemy_conn: str | None = None, stall_s: float = STALL_S,
             keep_running: bool = False, say: Callable[[str], None] = print,
             status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole demo; return what it found (paths, version, task placements, URLs)."""
    home = home.resolve()
    env, base, password = prepare_home(home, sql_alchemy_conn=sql_alchemy_conn, say=say)
    with ExitStack() as stack:
        procs = stack.enter_context(airflow_running(home, env, say, keep_running=keep_running))
        demo = stack.enter_context(DemoRun(
            base, password, say, watch=Watch(stall_s, status=status), home=home,
            components=dict(zip(COMPONENTS, procs, strict=True))))
        demo.wait_dag(PIPELINE_DAG)
        demo.wait_dag(PLANNER_DAG, unpause=False)
        say(f"Airflow UI: {base}  (user cloudplan, password in {home / 'passwords.json'})")
        run_ids = [demo.trigger(PIPELINE_DAG) for _ in range(runs)]
        for i, rid in enumerate(run_ids, 1):
            demo.wait_run(PIPELINE_DAG, rid)
            say(f"run {i}/{runs} of {PIPELINE_DAG} succeeded")
        say(f"{runs} runs of {PIPELINE_DAG} succeeded (history for the profiler)")
        plan_run = demo.start_planner()
        demo.wait_review(plan_run)
        review_url = base + demo.review_path(plan_run)
        say(f"review waiting: {review_url} → Approve or Reject")
        if auto_approve:
            demo.approve(plan_run)
            say("approved through the REST API (--auto-approve)")
            demo.wait_run(PLANNER_DAG, plan_run)
        else:  # a person decides: no stall limit short of the review's own 20 h timeout
            demo.wait_run(PLANNER_DAG, plan_run, timeout_s=24 * 3600)
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
    version = pointer.version if pointer else None
    return {"ui": base, "store": str(store_dir), "active_version": version,
            "pools": sorted(n for n, p in pools.items()
                            if OWNER_MARK in str(p.get("description"))),
            "placements": placements, "running": keep_running, "home": str(home),
            "review_url": review_url,
            "plan_url": f"{base}/cloudplan/plans/{version[:12]}" if version else None,
            "plan_json": str(store_dir / "versions" / version / "plan.json")
            if version else None,
            "artifacts": str(store_dir / "versions" / version / "artifacts")
            if version else None}
