"""Queue safety: a planned Celery queue must have a live consumer before a plan goes live.

The cluster policy routes a managed task to ``cp-<region>-<tier>`` queues. On the
CeleryExecutor a queue no worker consumes leaves the task ``queued`` forever — and
Airflow does not check it. So before apply switches the active plan it asks the
deployment's Celery workers, through the configured broker, which queues they consume
(Celery ``inspect active_queues``, the same call as ``airflow celery list-workers``), and
refuses with the list of planned queues nobody serves.

Only queues that Celery will actually see are checked: a task whose planned executor is
a Celery executor configured in ``[core] executor`` (or, with no planned executor, when
the default executor is Celery). A planned executor the deployment does not run is left
unchanged by the policy, so its queue is not Celery's either.

With ``allow_unserved_queues`` apply goes on and records the unserved queues in the
parse-time cache; the policy then leaves ``queue`` unchanged on those tasks (they keep
running where they ran) until a worker serves the queue and the plan is applied again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.errors import ApplyError, Problem
from airflow_cloudplan.model.plan import AirflowSettings

CELERY_EXECUTORS = ("CeleryExecutor", "CeleryKubernetesExecutor")


@dataclass(frozen=True)
class ExecutorEntry:
    """One entry of ``[core] executor``: ``alias:module.path.Class`` or a name."""

    alias: str | None
    name: str

    @classmethod
    def parse(cls, item: str) -> ExecutorEntry:
        """Parse ``alias:path`` / ``path`` / ``Name``."""
        alias, sep, path = item.partition(":")
        return cls(alias=alias if sep else None, name=path if sep else alias)

    def answers_to(self, executor: str) -> bool:
        """Whether a task's ``executor=`` selects this entry."""
        short = self.name.rsplit(".", 1)[-1]
        return executor in {self.alias, self.name, short}

    @property
    def is_celery(self) -> bool:
        """True for Celery executors (by class name)."""
        return self.name.rsplit(".", 1)[-1] in CELERY_EXECUTORS


def parse_executors(raw: str) -> tuple[ExecutorEntry, ...]:
    """The entries of a ``[core] executor`` value, the first being the default."""
    return tuple(ExecutorEntry.parse(i.strip()) for i in raw.split(",") if i.strip())


def celery_queues(settings: AirflowSettings,
                  executors: tuple[ExecutorEntry, ...]) -> dict[str, list[str]]:
    """Planned queue → the ``dag.task`` ids that Celery will route through it."""
    out: dict[str, list[str]] = {}
    if not executors:
        return out
    default = executors[0]
    for t in settings.tasks:
        chosen = next((e for e in executors if t.executor and e.answers_to(t.executor)),
                      default)
        if chosen.is_celery:
            out.setdefault(t.queue, []).append(f"{t.dag_id}.{t.task_id}")
    return out


@dataclass
class QueueReport:
    """Which planned queues have live consumers (worker names) and which have none."""

    served: dict[str, list[str]] = field(default_factory=dict)
    unserved: dict[str, list[str]] = field(default_factory=dict)
    """Unserved queue → the tasks planned onto it."""


Inspector = Callable[[float], dict[str, list[dict[str, Any]]]]
"""``timeout → {worker: [{"name": queue, ...}, ...]}`` (Celery ``active_queues``)."""


def airflow_celery_inspector() -> Inspector:
    """``active_queues`` through the broker in this process's Airflow configuration."""
    try:
        from airflow.configuration import conf
        from airflow.providers.celery.executors.celery_executor_utils import create_celery_app
    except ImportError as exc:
        raise ApplyError("cannot check the plan's Celery queues", [Problem(
            message=f"the Celery provider is not installed ({exc})",
            hint="install airflow-cloudplan[celery] where apply runs")]) from exc
    app = create_celery_app(conf)
    # A one-shot question: fail fast on a dead broker instead of retrying for long.
    options = dict(app.conf.broker_transport_options or {})
    options["max_retries"] = 1
    app.conf.broker_transport_options = options
    broker = str(conf.get("celery", "broker_url", fallback="?"))

    def inspect(timeout: float) -> dict[str, list[dict[str, Any]]]:
        try:
            replies = app.control.inspect(timeout=timeout).active_queues()
        except Exception as exc:  # kombu raises several transport-specific errors
            raise ApplyError("cannot reach the Celery broker to check the plan's queues", [
                Problem(message=f"{_redact(broker)}: {type(exc).__name__}: {exc}",
                        hint="check [celery] broker_url where apply runs")]) from exc
        return dict(replies or {})

    return inspect


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def check_queues(planned: dict[str, list[str]], inspector: Inspector, *,
                 timeout_s: float = 10.0, round_s: float = 1.0) -> QueueReport:
    """Ask the workers until every planned queue has a consumer or ``timeout_s`` passes.

    Each round is one broadcast that collects replies for ``round_s``; a queue found in
    any round is served. Returns as soon as all are served.
    """
    report = QueueReport()
    if not planned:
        return report
    deadline = time.monotonic() + timeout_s
    consumers: dict[str, set[str]] = {}
    while True:
        for worker, queues in inspector(round_s).items():
            for q in queues or []:
                consumers.setdefault(str(q.get("name")), set()).add(worker)
        missing = [q for q in planned if q not in consumers]
        if not missing or time.monotonic() + round_s > deadline:
            break
    report.served = {q: sorted(consumers[q]) for q in planned if q in consumers}
    report.unserved = {q: planned[q] for q in planned if q not in consumers}
    return report


def unserved_error(report: QueueReport) -> ApplyError:
    """The refusal: every planned queue without a consumer, with the tasks it strands."""
    return ApplyError(
        f"{len(report.unserved)} planned Celery queue(s) have no live worker; the plan was "
        "not applied (nothing changed)",
        [Problem(message=f"queue '{q}' has no consumer; it would strand "
                 f"{', '.join(_first(tasks))}",
                 path=q, hint=f"start a worker on it (airflow celery worker --queues {q}), "
                 "or apply with allow_unserved_queues to keep those tasks on their "
                 "current queue")
         for q, tasks in sorted(report.unserved.items())],
    )


def _first(items: Iterable[str], n: int = 5) -> list[str]:
    items = list(items)
    return items[:n] + ([f"… {len(items) - n} more"] if len(items) > n else [])
