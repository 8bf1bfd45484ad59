"""The parse-time view of active plans: one small local JSON file.

The cluster policy runs inside Airflow's DAG-parse processes, where neither the metadata
DB nor the network may be touched. Apply (and rollback) therefore write, after the pools
exist, a single file holding each pipeline's active version and its Airflow settings.
The policy only ever reads this file (cached by modification time).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.model.plan import AirflowSettings


class CachedPlan(Frozen):
    """A pipeline's active plan as the cluster policy needs it."""

    version: str
    airflow: AirflowSettings
    unserved_queues: tuple[str, ...] = ()
    """Planned Celery queues with no live consumer at apply time: left unchanged."""


class ActivePlanCache(Frozen):
    """Every managed pipeline's active plan."""

    generated_at: datetime
    pipelines: dict[str, CachedPlan] = {}

    def task_index(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(dag_id, task_id) -> (pipeline, version) for every managed task."""
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for name, cached in self.pipelines.items():
            for t in cached.airflow.tasks:
                out[(t.dag_id, t.task_id)] = (name, cached.version)
        return out


def read_cache(path: str | Path) -> ActivePlanCache | None:
    """The cache file's content, or None when no plan was ever applied."""
    p = Path(path)
    if not p.is_file():
        return None
    return ActivePlanCache.model_validate_json(p.read_bytes())


def write_cache(path: str | Path, cache: ActivePlanCache) -> None:
    """Replace the cache file atomically (write a temp file, fsync, rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".active-plan-")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(cache.model_dump(mode="json"), indent=2, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


def with_pipeline(cache: ActivePlanCache | None, pipeline: str,
                  entry: CachedPlan | None) -> ActivePlanCache:
    """A new cache with ``pipeline`` set to ``entry`` (or removed when None)."""
    pipelines = dict(cache.pipelines) if cache else {}
    if entry is None:
        pipelines.pop(pipeline, None)
    else:
        pipelines[pipeline] = entry
    return ActivePlanCache(generated_at=datetime.now(UTC), pipelines=pipelines)
