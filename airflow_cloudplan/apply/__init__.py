"""Apply a stored plan to Airflow, verify it took effect, and roll back.

Order matters so nothing is ever half-applied:

0. every planned Celery queue must have a live consumer (:mod:`.queues`); otherwise
   apply refuses before touching anything (or, when told to, records the unserved
   queues so the policy leaves those tasks' ``queue`` unchanged);
1. pools are created/updated first (bulk REST call, idempotent); the previous state of
   every touched pool is kept;
2. the pipeline's active pointer moves (compare-and-swap) and the parse-time cache file
   is rewritten atomically — from now on the cluster policy rewrites managed tasks;
3. managed DAG files are re-parsed and the re-serialised tasks are read back until they
   carry the planned pool, pool_slots, queue and priority weight;
4. if any step fails, pools, pointer and cache are restored and the failure is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_cloudplan.apply.queues import (
    Inspector,
    QueueReport,
    airflow_celery_inspector,
    celery_queues,
    check_queues,
    parse_executors,
    unserved_error,
)
from airflow_cloudplan.apply.rest import AirflowApi
from airflow_cloudplan.errors import ApplyError, CloudplanError, Problem
from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.model.plan import AirflowSettings, PlanResult
from airflow_cloudplan.store import PlanStore
from airflow_cloudplan.store.cache import (
    ActivePlanCache,
    CachedPlan,
    read_cache,
    with_pipeline,
    write_cache,
)

OWNER_MARK = "cloudplan pipeline="


class ApplyReport(Frozen):
    """What apply did."""

    pipeline: str
    version: str
    previous: str | None
    pools_upserted: tuple[str, ...]
    pools_unused: tuple[str, ...]
    pools_deleted: tuple[str, ...] = ()
    dags_verified: tuple[str, ...]
    mismatches: tuple[str, ...] = ()
    queues_served: tuple[str, ...] = ()
    queues_unserved: tuple[str, ...] = ()


def settings_of(plan: PlanResult) -> AirflowSettings:
    """The plan's Airflow settings (composed before storing), or a clear error."""
    if plan.airflow is None or not plan.airflow.tasks:
        raise ApplyError(
            f"plan of '{plan.pipeline}' has no Airflow settings",
            [Problem("plan.airflow is empty",
                     hint="compose the plan (`cloudplan compose`) before storing it")],
        )
    return plan.airflow


def expected_task_state(settings: AirflowSettings, unserved_queues: frozenset[str] = frozenset()
                        ) -> dict[str, dict[str, dict[str, Any]]]:
    """dag_id -> task_id -> the REST-visible fields the policy must have set.

    A queue apply recorded as unserved is left as it was, so it is not expected.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for t in settings.tasks:
        fields: dict[str, Any] = {"pool": t.pool, "pool_slots": t.pool_slots,
                                  "priority_weight": t.priority_weight}
        if t.queue not in unserved_queues:
            fields["queue"] = t.queue
        out.setdefault(t.dag_id, {})[t.task_id] = fields
    return out


def verify(api: AirflowApi, settings: AirflowSettings, *, timeout_s: float = 120.0,
           poll_s: float = 2.0, reparse: bool = True,
           sleep: Callable[[float], None] = time.sleep,
           unserved_queues: frozenset[str] = frozenset()) -> list[str]:
    """Re-parse managed DAGs and wait until their tasks carry the plan; return mismatches."""
    expected = expected_task_state(settings, unserved_queues)
    if reparse:
        for dag_id in expected:
            api.reparse(dag_id)
    deadline = time.monotonic() + timeout_s
    while True:
        mismatches: list[str] = []
        for dag_id, tasks in expected.items():
            actual = api.tasks(dag_id)
            for task_id, fields in tasks.items():
                got = actual.get(task_id)
                if got is None:
                    mismatches.append(f"{dag_id}.{task_id}: task not found")
                    continue
                if "queue" not in fields and got.get("queue") in unserved_queues:
                    mismatches.append(f"{dag_id}.{task_id}.queue: {got.get('queue')!r} has "
                                      "no live worker but was set")
                for f, want in fields.items():
                    have = got.get(f)
                    if have != want and not (isinstance(have, float) and have == float(want)):
                        mismatches.append(f"{dag_id}.{task_id}.{f}: {have!r} != {want!r}")
        if not mismatches or time.monotonic() >= deadline:
            return mismatches
        sleep(poll_s)


def planned_queue_report(settings: AirflowSettings, *, executors: str | None = None,
                         inspector: Inspector | None = None,
                         timeout_s: float = 10.0) -> QueueReport:
    """Which of the plan's Celery queues have live consumers in this deployment.

    ``executors`` is the ``[core] executor`` value (default: this process's Airflow
    configuration); ``inspector`` asks the workers (default: Celery through the
    configured broker, built only when the plan has Celery queues).
    """
    if executors is None:
        from airflow.configuration import conf

        executors = str(conf.get("core", "executor", fallback="LocalExecutor"))
    planned = celery_queues(settings, parse_executors(executors))
    if not planned:
        return QueueReport()
    return check_queues(planned, inspector or airflow_celery_inspector(), timeout_s=timeout_s)


def apply_plan(store: PlanStore, version: str, api: AirflowApi, cache_path: Path, *,
               actor: str = "cloudplan", delete_unused_pools: bool = False,
               verify_timeout_s: float = 120.0, allow_unserved_queues: bool = False,
               executors: str | None = None, queue_inspector: Inspector | None = None,
               queue_timeout_s: float = 10.0) -> ApplyReport:
    """Apply a stored plan version end to end (queues → pools → pointer + cache → verify).

    Refuses (changing nothing) when a planned Celery queue has no live consumer, unless
    ``allow_unserved_queues``: then those queues are recorded and left unchanged on their
    tasks by the cluster policy.
    """
    full = store.resolve(version)
    plan = store.get(full)
    settings = settings_of(plan)
    queues = planned_queue_report(settings, executors=executors, inspector=queue_inspector,
                                  timeout_s=queue_timeout_s)
    if queues.unserved and not allow_unserved_queues:
        raise unserved_error(queues)
    unserved = frozenset(queues.unserved)
    pointer = store.active(plan.pipeline)
    previous = pointer.version if pointer else None
    before_pools = api.pools()
    old_cache = read_cache(cache_path)
    wanted = [{"name": p.name, "slots": p.slots, "include_deferred": False,
               "description": f"{p.description} [{OWNER_MARK}{plan.pipeline}]".strip()}
              for p in settings.pools]
    try:
        api.upsert_pools(wanted)
        store.activate(plan.pipeline, full, expected=previous, actor=actor)
        write_cache(cache_path, with_pipeline(
            old_cache, plan.pipeline, CachedPlan(version=full, airflow=settings,
                                                 unserved_queues=tuple(sorted(unserved)))))
        mismatches = verify(api, settings, timeout_s=verify_timeout_s,
                            unserved_queues=unserved)
        if mismatches:
            raise ApplyError(
                f"plan {full[:12]} did not take effect; rolled back",
                [Problem(m, hint="see the DAG processor log for cloudplan warnings")
                 for m in mismatches[:20]],
            )
    except CloudplanError as exc:
        undo = _Undo(pipeline=plan.pipeline, failed=full, previous=previous,
                     before_pools=before_pools, wanted=wanted, old_cache=old_cache)
        undo.run(store, api, cache_path, actor, exc)
        raise
    in_use = {p.name for p in settings.pools}
    unused = tuple(sorted(n for n in before_pools
                          if n not in in_use and _owned_by(before_pools[n], plan.pipeline)))
    deleted: tuple[str, ...] = ()
    if delete_unused_pools and unused:
        api.delete_pools(list(unused))
        deleted = unused
    return ApplyReport(pipeline=plan.pipeline, version=full, previous=previous,
                       pools_upserted=tuple(sorted(in_use)), pools_unused=unused,
                       pools_deleted=deleted,
                       dags_verified=tuple(sorted(expected_task_state(settings))),
                       queues_served=tuple(sorted(queues.served)),
                       queues_unserved=tuple(sorted(unserved)))


def _owned_by(pool: dict[str, Any], pipeline: str) -> bool:
    return f"[{OWNER_MARK}{pipeline}]" in str(pool.get("description") or "")


@dataclass
class _Undo:
    """What a failed apply must restore."""

    pipeline: str
    failed: str
    previous: str | None
    before_pools: dict[str, dict[str, Any]]
    wanted: list[dict[str, Any]]
    old_cache: ActivePlanCache | None

    def run(self, store: PlanStore, api: AirflowApi, cache_path: Path, actor: str,
            cause: CloudplanError) -> None:
        """Restore pointer, cache, then pools; record the failure whatever happens."""
        pointer = store.active(self.pipeline)
        if pointer and pointer.version == self.failed and self.previous is not None:
            store.activate(self.pipeline, self.previous, expected=self.failed, actor=actor,
                           event="rolled_back")
        if self.old_cache is None:
            cache_path.unlink(missing_ok=True)
        else:
            write_cache(cache_path, self.old_cache)
        before = self.before_pools
        restore = [{"name": n, "slots": before[n]["slots"],
                    "description": before[n].get("description") or "",
                    "include_deferred": bool(before[n].get("include_deferred"))}
                   for n in (w["name"] for w in self.wanted) if n in before]
        created = [w["name"] for w in self.wanted if w["name"] not in before]
        try:
            if restore:
                api.upsert_pools(restore)
            api.delete_pools(created)
        finally:
            store.record(self.pipeline, "apply_failed", self.failed, actor=actor,
                         note=cause.summary)


def rollback(store: PlanStore, pipeline: str, api: AirflowApi, cache_path: Path, *,
             to_version: str | None = None, actor: str = "cloudplan") -> ApplyReport:
    """Re-apply the previous (or a given) version of a pipeline's plan."""
    pointer = store.active(pipeline)
    if pointer is None:
        raise ApplyError(f"'{pipeline}' has no applied plan to roll back",
                         [Problem("no active pointer", hint="nothing to do")])
    target = store.resolve(to_version) if to_version else pointer.previous
    if target is None:
        raise ApplyError(f"'{pipeline}' has no earlier plan",
                         [Problem(f"only {pointer.version[:12]} was ever applied",
                                  hint=f"give a version: `cloudplan rollback {pipeline} "
                                       "VERSION`")])
    # A rollback never waits for workers: unserved queues are recorded and left unchanged.
    report = apply_plan(store, target, api, cache_path, actor=actor,
                        allow_unserved_queues=True)
    store.record(pipeline, "rolled_back", report.version, actor=actor,
                 note=f"from {pointer.version[:12]}")
    return report
