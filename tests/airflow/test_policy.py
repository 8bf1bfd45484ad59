"""The cluster policy, exercised through Airflow's real DagBag (entry point registered)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_cloudplan.model import AirflowPool, AirflowSettings, AirflowTaskSettings
from airflow_cloudplan.store.cache import CachedPlan, with_pipeline, write_cache

DAG_SOURCE = textwrap.dedent(
    """
    from datetime import datetime
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator

    with DAG("policy_demo", start_date=datetime(2026, 1, 1), schedule=None) as dag:
        managed = EmptyOperator(task_id="managed")
        other = EmptyOperator(task_id="unmanaged", pool="default_pool", queue="keep")
        managed >> other
    """
)


def _settings(**overrides: object) -> AirflowSettings:
    task = {"dag_id": "policy_demo", "task_id": "managed", "stage": "train",
            "pool": "cp-demo-eu-west-1", "pool_slots": 2, "queue": "cp-eu-west-1-vm",
            "executor": "LocalExecutor", "priority_weight": 7,
            "executor_config": {"pod_override": {"spec": {"nodeSelector": {
                "topology.kubernetes.io/region": "eu-west-1"}, "containers": [
                    {"name": "base"}]}}},
            "otel": {"cloudplan.region": "eu-west-1"}}
    task.update(overrides)
    return AirflowSettings(
        pools=(AirflowPool(name="cp-demo-eu-west-1", slots=4),),
        tasks=(AirflowTaskSettings.model_validate(task),),
    )


def _parse(tmp_path: Path, settings: AirflowSettings | None,
           monkeypatch: pytest.MonkeyPatch) -> object:
    from airflow.dag_processing.dagbag import DagBag

    cache = tmp_path / "active-plan.json"
    monkeypatch.setenv("AIRFLOW__CLOUDPLAN__PLAN_CACHE", str(cache))
    if settings is not None:
        write_cache(cache, with_pipeline(None, "demo", CachedPlan(version="v1", airflow=settings)))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "policy_demo.py").write_text(DAG_SOURCE)
    bag = DagBag(dag_folder=str(dags))
    assert bag.import_errors == {}
    return bag.dags["policy_demo"]


def test_managed_task_is_rewritten_and_others_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dag = _parse(tmp_path, _settings(), monkeypatch)
    managed = dag.get_task("managed")  # type: ignore[attr-defined]
    assert managed.pool == "cp-demo-eu-west-1"
    assert managed.pool_slots == 2
    assert managed.queue == "cp-eu-west-1-vm"
    assert managed.executor == "LocalExecutor"
    assert managed.priority_weight == 7
    pod = managed.executor_config["pod_override"]
    # with the Kubernetes client installed the policy hands Airflow a V1Pod
    selector = (pod["spec"]["nodeSelector"] if isinstance(pod, dict)
                else pod.spec.node_selector)
    assert selector["topology.kubernetes.io/region"] == "eu-west-1"
    assert managed.cloudplan_otel == {"cloudplan.region": "eu-west-1"}
    other = dag.get_task("unmanaged")  # type: ignore[attr-defined]
    assert (other.pool, other.queue, other.executor) == ("default_pool", "keep", None)
    assert "cloudplan" in dag.tags  # type: ignore[attr-defined]


def test_unknown_executor_and_pool_never_break_parsing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    bad = _settings(executor="NoSuchExecutor", pool="cp-never-created")
    dag = _parse(tmp_path, bad, monkeypatch)
    managed = dag.get_task("managed")  # type: ignore[attr-defined]
    assert managed.executor is None  # would leave the task 'scheduled' forever
    assert managed.pool == "default_pool"  # the pool does not exist
    assert managed.queue == "cp-eu-west-1-vm"  # safe settings still apply
    text = caplog.text
    assert "NoSuchExecutor" in text and "cp-never-created" in text


def test_a_pod_override_the_kubernetes_client_refuses_never_breaks_parsing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("kubernetes")
    bad = _settings(executor_config={"pod_override": {"spec": {"containers": None,
                                                               "nodeSelector": {"a": 1}}}})
    dag = _parse(tmp_path, bad, monkeypatch)
    managed = dag.get_task("managed")  # type: ignore[attr-defined]
    assert managed.executor_config == {}  # the task's own config, untouched
    assert managed.queue == "cp-eu-west-1-vm"  # the other settings still apply
    assert "not a valid Kubernetes V1Pod" in caplog.text


def test_no_active_plan_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dag = _parse(tmp_path, None, monkeypatch)
    managed = dag.get_task("managed")  # type: ignore[attr-defined]
    assert managed.pool == "default_pool"
    assert "cloudplan" not in (dag.tags or ())  # type: ignore[attr-defined]


def test_corrupt_cache_is_ignored_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "active-plan.json"
    cache.write_text("{not json")
    monkeypatch.setenv("AIRFLOW__CLOUDPLAN__PLAN_CACHE", str(cache))
    from airflow.dag_processing.dagbag import DagBag

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "policy_demo.py").write_text(DAG_SOURCE)
    bag = DagBag(dag_folder=str(dags))
    assert bag.import_errors == {}
    assert bag.dags["policy_demo"].get_task("managed").pool == "default_pool"
    assert "unreadable plan cache" in caplog.text
