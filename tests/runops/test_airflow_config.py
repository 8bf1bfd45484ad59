"""Airflow settings: pools, queues, executors and pod overrides follow the plan."""

from __future__ import annotations

from airflow_cloudplan.model import AirflowSettings, PlanningInput, PlanResult, TierKind
from airflow_cloudplan.runops import ExecutorRule, RunOpsSettings, airflow_settings


def test_settings_follow_placement(golden_plan: PlanResult, golden_input: PlanningInput) -> None:
    settings = airflow_settings(golden_plan, golden_input)
    tasks = {t.stage: t for t in settings.tasks}
    pools = {p.name: p for p in settings.pools}
    serve, train = tasks["serve"], tasks["train"]
    # serve: container tier in eu-central-1, away from the data's (Airflow's) eu-west-1;
    # its queue is its own identity's (the workers on it run as serve's role)
    assert serve.queue == "cp-eu-central-1-container-serve"
    assert serve.executor == "CeleryExecutor"
    assert "cp-eu-central-1-container-serve" in serve.placement
    assert train.executor == "LocalExecutor"
    assert train.queue == "cp-eu-west-1-vm-gpu-train"
    assert "not isolate" in train.placement
    # only KubernetesExecutor reads pod_override: nothing is emitted for the others
    assert serve.executor_config == {} and train.executor_config == {}
    assert serve.role_arn is not None and serve.role_arn.endswith("cp-golden-ml-serve")
    assert serve.data_copies == {
        "features": "s3://golden-lake-replica-eu-central-1/features/",
        "model": "s3://golden-models-replica-eu-central-1/ctr/",
    }
    # pools: one per stage, slots = replicas_max × tasks per replica; GPUs run one task
    assert pools[train.pool].slots == 1
    assert pools[serve.pool].slots >= golden_plan.recommendation.assignment["serve"].replicas_max
    assert all(t.pool_slots == 1 for t in settings.tasks)
    weights = [tasks[s].priority_weight for s in ("train", "features", "monitor")]
    assert weights == sorted(weights, reverse=True) and len(set(weights)) == 3
    # without a plan version the attributes omit it (the plan embeds these settings)
    assert "plan_version" not in serve.otel["OTEL_RESOURCE_ATTRIBUTES"]
    assert serve.otel["OTEL_CONFIG_FILE"] == "otel/sdk/serve.yaml"


def test_executor_rule_is_configurable(golden_plan: PlanResult,
                                       golden_input: PlanningInput) -> None:
    rule = ExecutorRule(airflow_region="eu-central-1",
                        by_tier={TierKind.CONTAINER: "KubernetesExecutor"})
    tasks = {t.stage: t for t in airflow_settings(
        golden_plan, golden_input, settings=RunOpsSettings(executor=rule)).tasks}
    assert tasks["serve"].executor == "KubernetesExecutor"
    assert tasks["train"].executor == "CeleryExecutor"  # now remote from Airflow
    assert tasks["train"].executor_config == {}
    spec = tasks["serve"].executor_config["pod_override"]["spec"]
    serve = golden_plan.recommendation.assignment["serve"]
    assert spec["nodeSelector"] == {
        "topology.kubernetes.io/region": "eu-central-1",
        "topology.k8s.aws/zone-id": serve.zone,  # no zone name mapped: the AZ id label
        "node.kubernetes.io/instance-type": serve.instance_type,
    }
    assert spec["serviceAccountName"] == "cp-golden-ml-serve"


def test_gpu_pods_ask_for_the_accelerator_as_a_quantity(
    golden_plan: PlanResult, golden_input: PlanningInput,
) -> None:
    rule = ExecutorRule(by_tier={TierKind.VM: "KubernetesExecutor"})
    tasks = {t.stage: t for t in airflow_settings(
        golden_plan, golden_input, settings=RunOpsSettings(executor=rule)).tasks}
    spec = tasks["train"].executor_config["pod_override"]["spec"]
    assert spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    itype = golden_input.catalog.instance_type(
        golden_plan.recommendation.assignment["train"].instance_type)
    assert itype.accelerator is not None
    gpus = spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert gpus == str(itype.accelerator.count)


def test_settings_round_trip_as_json(golden_plan: PlanResult,
                                     golden_input: PlanningInput) -> None:
    settings = airflow_settings(golden_plan, golden_input, plan_version="v1")
    assert AirflowSettings.model_validate_json(settings.model_dump_json()) == settings
    assert "cloudplan.plan_version=v1" in settings.tasks[0].otel["OTEL_RESOURCE_ATTRIBUTES"]


def test_declared_collector_certificates_reach_the_sdk_environment(
    golden_plan: PlanResult, golden_input: PlanningInput,
) -> None:
    from airflow_cloudplan.model.policy import CollectorTLS, TelemetryDeployment

    tls = CollectorTLS(cert_file="/etc/otel/tls.crt", key_file="/etc/otel/tls.key",
                       ca_file="/etc/otel/ca.crt", client_ca_file="/etc/otel/clients.crt",
                       client_cert_file="/etc/otel/stage.crt",
                       client_key_file="/etc/otel/stage.key")
    observability = golden_input.policy.observability.model_copy(
        update={"telemetry": TelemetryDeployment(tls=tls)})
    inp = golden_input.model_copy(update={"policy": golden_input.policy.model_copy(
        update={"observability": observability})})
    otel = airflow_settings(golden_plan, inp).tasks[0].otel
    assert otel["OTEL_EXPORTER_OTLP_CERTIFICATE"] == "/etc/otel/ca.crt"
    assert otel["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"] == "/etc/otel/stage.crt"
    assert otel["OTEL_EXPORTER_OTLP_CLIENT_KEY"] == "/etc/otel/stage.key"
    assert "OTEL_EXPORTER_OTLP_CERTIFICATE" not in airflow_settings(
        golden_plan, golden_input).tasks[0].otel
