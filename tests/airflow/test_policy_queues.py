"""The cluster policy leaves ``queue`` (and the executor) unchanged on tasks whose planned
Celery queue apply recorded as having no live worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_cloudplan.store.cache import CachedPlan, with_pipeline, write_cache
from tests.airflow.test_policy import DAG_SOURCE, _settings


@pytest.mark.parametrize("unserved", [(), ("cp-eu-west-1-vm",)])
def test_unserved_queue_is_left_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture,
                                          unserved: tuple[str, ...]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    cache = tmp_path / "active-plan.json"
    monkeypatch.setenv("AIRFLOW__CLOUDPLAN__PLAN_CACHE", str(cache))
    settings = _settings(executor="LocalExecutor")
    write_cache(cache, with_pipeline(None, "demo", CachedPlan(
        version="v1", airflow=settings, unserved_queues=unserved)))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "policy_demo.py").write_text(DAG_SOURCE)
    bag = DagBag(dag_folder=str(dags))
    assert bag.import_errors == {}
    managed = bag.dags["policy_demo"].get_task("managed")
    assert managed.pool == "cp-demo-eu-west-1"  # everything else still applied
    if unserved:
        assert (managed.queue, managed.executor) == ("default", None)
        assert "had no live Celery worker" in caplog.text
    else:
        assert (managed.queue, managed.executor) == ("cp-eu-west-1-vm", "LocalExecutor")
