"""The demo's machinery without Airflow: waits on progress (a fake clock, so no test
depends on the machine's load), free ports for every listener, log tails, stopping a
demo left running."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_cloudplan.demo import (
    PROCESSES_FILE,
    DemoError,
    Watch,
    demo_env,
    free_ports,
    log_tail,
    running_demo,
    stop_demo,
)
from airflow_cloudplan.errors import ApplyError, Problem


class FakeClock:
    """Time that moves only when the watch sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _watch(stall_s: float, lines: list[str] | None = None) -> tuple[Watch, FakeClock]:
    clock = FakeClock()
    status = lines.append if lines is not None else None
    return Watch(stall_s, status=status, clock=clock, sleep=clock.sleep), clock


def test_a_slow_run_that_keeps_advancing_never_times_out() -> None:
    # 8 tasks, one finishing every 100 s: 800 s in all, far beyond the 300 s stall limit.
    watch, clock = _watch(300)
    lines: list[str] = []
    watch.status = lines.append

    def observe() -> tuple[int, str, str | None]:
        done = min(8, int(clock.now // 100))
        return done, f"running, {done}/8 tasks done", "success" if done == 8 else None

    assert watch.until("the run", observe, poll_s=10) == "success"
    assert clock.now >= 800
    assert any("running, 5/8 tasks done" in line for line in lines)


def test_nothing_advancing_fails_after_the_stall_period_with_the_diagnosis() -> None:
    watch, clock = _watch(300)

    def observe() -> tuple[int, str, None]:
        return 6, "running, 6/8 tasks done (now: validate)", None

    with pytest.raises(DemoError) as err:
        watch.until("example_ml_pipeline run r1", observe, poll_s=10,
                    diagnose=lambda: [Problem("scheduler log ends with: boom", hint="read it")])
    text = err.value.render()
    assert 300 <= clock.now < 320
    assert "nothing advanced for 5 min while waiting for example_ml_pipeline run r1" in text
    assert "6/8 tasks done" in text and "scheduler log ends with: boom" in text
    assert "raise --timeout (now 300 s)" in text


def test_errors_while_polling_are_not_progress_and_are_reported() -> None:
    watch, _clock = _watch(60)

    def observe() -> tuple[int, str, None]:
        raise ApplyError("the Airflow API at http://x is unreachable", [])

    with pytest.raises(DemoError) as err:
        watch.until("the Airflow API server", observe, poll_s=5)
    assert "unreachable" in err.value.render()


def test_a_dead_component_fails_at_once() -> None:
    watch, clock = _watch(1000)

    def health() -> None:
        if clock.now > 20:
            raise DemoError("airflow scheduler exited with code 1", [])

    watch.health = health
    with pytest.raises(DemoError, match="scheduler exited"):
        watch.until("the run", lambda: (clock.now, "running", None), poll_s=5)
    assert clock.now < 30


def test_every_listener_gets_its_own_free_port(tmp_path: Path) -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3
    env = demo_env(tmp_path, ports[0], "pw")
    listeners = [int(env["AIRFLOW__API__PORT"]),
                 int(env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]),
                 int(env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"])]
    assert len(set(listeners)) == 3
    assert not {8793, 8794} & set(listeners[1:])  # never Airflow's fixed defaults
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "False"  # no fixed 8974 either
    for port in listeners[1:]:  # the log servers bind every interface: so can we
        family = socket.AF_INET6 if socket.has_dualstack_ipv6() else socket.AF_INET
        with socket.socket(family) as s:
            s.bind(("", port))


def test_log_tail_shows_json_records_readably(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    lines = [json.dumps({"level": "info", "event": f"step {i}"}) for i in range(40)]
    lines.append(json.dumps({"level": "error", "event": "Task failed with exception",
                             "error_detail": "ValueError: bad"}))
    log.write_text("\n".join(lines) + "\n")
    tail = log_tail(log, lines=3).splitlines()
    assert tail == ["info step 38", "info step 39",
                    "error Task failed with exception ValueError: bad"]
    assert "no log" in log_tail(tmp_path / "missing.log")


def test_stop_demo_stops_what_keep_running_left(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            start_new_session=True)
    try:
        (tmp_path / PROCESSES_FILE).write_text(json.dumps(
            [{"component": "scheduler", "pid": proc.pid, "log": "x"}]))
        assert [r["pid"] for r in running_demo(tmp_path)] == [proc.pid]
        said: list[str] = []
        assert stop_demo(tmp_path, say=said.append) == 1
        assert proc.wait(timeout=30) != 0
        assert said == [f"stopped airflow scheduler (pid {proc.pid})"]
        assert not (tmp_path / PROCESSES_FILE).exists()
        assert stop_demo(tmp_path) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_hopeless_wait_fails_at_once_not_after_the_stall_period() -> None:
    watch, clock = _watch(1000)

    def observe() -> tuple[int, str, None]:
        raise DemoError("the planning run ended without asking for review", [])

    with pytest.raises(DemoError, match="without asking for review"):
        watch.until("the review", observe, poll_s=5)
    assert clock.now == 0
