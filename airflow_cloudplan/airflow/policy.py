"""Cluster policy registered through the ``airflow.policy`` entry point.

At DAG-parse time it reads the active plans from the local cache file written by apply
(``[cloudplan] plan_cache``; never the DB or the network) and rewrites each *managed*
task's ``pool``, ``pool_slots``, ``queue``, ``executor``, ``executor_config``,
``priority_weight`` and OTel settings. Tasks not named by an active plan are untouched;
DAGs with managed tasks get the ``cloudplan`` tag.

Airflow does not validate what a policy sets: an unknown executor leaves tasks
``scheduled`` forever, ``pool_slots`` larger than the pool never runs, and a Celery
queue no worker consumes leaves tasks ``queued`` forever. So every setting is checked
first (:func:`vet_settings`) and a bad one is skipped with a logged warning — a plan must
never break parsing or strand tasks. Queues are checked by apply, which asks the Celery
workers; a queue apply recorded as unserved is left unchanged here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow.policies import hookimpl

from airflow_cloudplan.model.plan import AirflowTaskSettings

log = logging.getLogger(__name__)

MANAGED_TAG = "cloudplan"

_cache_memo: dict[str, Any] = {"key": None, "index": {}, "pools": set(), "unserved": set()}


def plan_cache_path() -> Path:
    """Where the parse-time cache lives (``[cloudplan] plan_cache``, under AIRFLOW_HOME)."""
    from airflow_cloudplan.airflow.settings import path_option

    return path_option("plan_cache")


def configured_executors() -> set[str]:
    """Names and aliases of the executors this deployment runs (``[core] executor``)."""
    from airflow.configuration import conf

    names: set[str] = set()
    raw = conf.get("core", "executor", fallback="LocalExecutor")
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        alias, _, path = item.partition(":")
        names.add(alias)
        names.add((path or alias).rsplit(".", 1)[-1])
        if path:
            names.add(path)
    return names


def _active_index() -> tuple[dict[tuple[str, str], AirflowTaskSettings], set[str]]:
    """(dag_id, task_id) -> settings, and the pools apply created; memoised by mtime.

    Also memoises (in ``_cache_memo["unserved"]``) the tasks whose planned queue apply
    recorded as having no live consumer.
    """
    from airflow_cloudplan.store.cache import read_cache

    path = plan_cache_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}, set()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if _cache_memo["key"] != key:
        try:
            cache = read_cache(path)
        except ValueError as exc:  # a corrupt cache must not break every DAG
            log.warning("cloudplan: ignoring unreadable plan cache %s: %s", path, exc)
            cache = None
        index: dict[tuple[str, str], AirflowTaskSettings] = {}
        pools: set[str] = set()
        unserved: set[tuple[str, str]] = set()
        if cache:
            for cached in cache.pipelines.values():
                pools.update(p.name for p in cached.airflow.pools)
                for t in cached.airflow.tasks:
                    index[(t.dag_id, t.task_id)] = t
                    if t.queue in cached.unserved_queues:
                        unserved.add((t.dag_id, t.task_id))
        _cache_memo.update(key=key, index=index, pools=pools, unserved=unserved)
    return _cache_memo["index"], _cache_memo["pools"]


def vet_settings(settings: AirflowTaskSettings, executors: set[str],
                 pools: set[str], *, queue_unserved: bool = False,
                 ) -> tuple[dict[str, Any], list[str]]:
    """The attribute values that are safe to set, and a warning for each one refused."""
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    where = f"{settings.dag_id}.{settings.task_id}"
    if settings.pool in pools or settings.pool == "default_pool":
        changes["pool"] = settings.pool
        if settings.pool_slots >= 1:
            changes["pool_slots"] = settings.pool_slots
        else:
            warnings.append(f"{where}: pool_slots={settings.pool_slots} < 1; left unchanged")
    else:
        warnings.append(f"{where}: pool '{settings.pool}' was not created by apply; "
                        "pool and pool_slots left unchanged (run `cloudplan apply`)")
    if queue_unserved:
        warnings.append(f"{where}: queue '{settings.queue}' had no live Celery worker when "
                        "the plan was applied; queue and executor left unchanged (start a "
                        "worker on it and apply again)")
    else:
        changes["queue"] = settings.queue
    if settings.executor is not None and not queue_unserved:
        if settings.executor in executors:
            changes["executor"] = settings.executor
        else:
            warnings.append(
                f"{where}: executor '{settings.executor}' is not configured "
                f"([core] executor = {', '.join(sorted(executors))}); executor left unchanged"
            )
    if settings.executor_config:
        try:
            changes["executor_config"] = _executor_config(settings.executor_config)
        except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            first = str(exc).splitlines()[0:3]
            warnings.append(f"{where}: pod_override is not a valid Kubernetes V1Pod "
                            f"({' '.join(first)}); executor_config left unchanged")
    changes["priority_weight"] = settings.priority_weight
    return changes, warnings


def _executor_config(config: dict[str, Any]) -> dict[str, Any]:
    """Turn a JSON ``pod_override`` into a ``V1Pod`` when the Kubernetes client exists.

    Raises ``ValueError``/``TypeError`` when the client refuses it (the caller keeps the
    task's own executor_config and warns: a bad plan never breaks DAG parsing).
    """
    pod = config.get("pod_override")
    if not isinstance(pod, dict):
        return dict(config)
    try:
        from kubernetes.client import ApiClient
    except ImportError:
        return dict(config)
    # The client's own JSON → model path (private, but stable across client versions;
    # the public deserialize() changed its signature in v35).
    deserialize = getattr(ApiClient(), "_ApiClient__deserialize")  # noqa: B009
    v1pod = deserialize(pod, "V1Pod")
    return {**config, "pod_override": v1pod}


@hookimpl
def task_policy(task: Any) -> None:
    """Rewrite a managed task from the active plan (unmanaged tasks are untouched)."""
    dag_id = getattr(task, "dag_id", None)
    index, pools = _active_index()
    settings = index.get((dag_id, task.task_id)) if dag_id else None
    if settings is None:
        return
    unserved = (dag_id, task.task_id) in _cache_memo["unserved"]
    changes, warnings = vet_settings(settings, configured_executors(), pools,
                                     queue_unserved=unserved)
    for w in warnings:
        log.warning("cloudplan: %s", w)
    for attr, value in changes.items():
        setattr(task, attr, value)
    # The policy also runs where the worker re-parses the DAG, so stage operators read
    # their planned telemetry settings from this attribute at execution time.
    task.cloudplan_otel = dict(settings.otel)


@hookimpl
def dag_policy(dag: Any) -> None:
    """Tag DAGs that have at least one task managed by an active plan."""
    index, _ = _active_index()
    if any(d == dag.dag_id for d, _t in index):
        tags = set(dag.tags or ())
        if MANAGED_TAG not in tags:
            tags.add(MANAGED_TAG)
            dag.tags = tags
