"""Airflow consequences of a plan: pools, queues, executors and pod overrides per task.

Rules (documented in docs/runops.md, tunable in :class:`RunOpsSettings`):

* **pool** ``cp_<pipeline>_<stage>`` per stage; slots = replicas_max × tasks per replica,
  where a replica runs as many tasks as its memory holds (stage demand), at most its vCPUs;
  every task takes ``pool_slots = 1``.
* **queue** ``cp-<region>-<tier kind>[-gpu]-<stage|shared>``: per region, tier and
  *identity* (:mod:`.identity`), because the Celery workers consuming a queue run as one
  role; a ``shared`` identity shares its queue across stages.
* **executor** from :class:`ExecutorRule` (local region → LocalExecutor; VM/container tier
  in another region → CeleryExecutor).
* **executor_config** — only for ``KubernetesExecutor`` tasks, the one executor that reads
  it: ``{"pod_override": <V1Pod as plain JSON>}`` with requests = limits = the instance's
  allocatable share per task, ``serviceAccountName`` (the stage's IRSA identity), node
  selectors on the labels nodes really carry — ``topology.kubernetes.io/region``,
  ``topology.kubernetes.io/zone`` with the zone *name* (mapped from the AZ id through
  ``deployment.zone_names``; unmapped, the EKS label ``topology.k8s.aws/zone-id`` with the
  id), ``node.kubernetes.io/instance-type`` — a required node affinity on the capacity type
  for spot (``karpenter.sh/capacity-type: spot`` or EKS managed groups'
  ``eks.amazonaws.com/capacityType: SPOT``), and the accelerator toleration/limit.
* **placement** says how the executor realises region/zone/type (for Celery: the queue's
  workers must run there, as the role; for LocalExecutor: nowhere but the Airflow host).
* **role_arn** the identity of the task's data access; **data_copies** the cache, replica
  or partition each read dataset goes through (:mod:`airflow_cloudplan.dataflow`).
* **priority_weight** by criticality; **otel** the variables that point the task at its
  SDK configuration and resource attributes.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_cloudplan.dataflow.locations import stage_locations
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import (
    AirflowPool,
    AirflowSettings,
    AirflowTaskSettings,
    PlanResult,
)
from airflow_cloudplan.model.workload import Criticality
from airflow_cloudplan.runops.base import Artifact, Emitter, dump_json
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.identity import (
    CELERY,
    KUBERNETES,
    identities,
    identity_suffix,
    role_arn,
)
from airflow_cloudplan.runops.otel import resource_attributes, sdk_path
from airflow_cloudplan.runops.settings import ExecutorRule, RunOpsSettings

_NEURON = {"inferentia", "inferentia2", "trainium", "trainium2"}


def accelerator_resource(name: str) -> str:
    """The Kubernetes extended resource of an accelerator (NVIDIA GPU or AWS Neuron)."""
    return "aws.amazon.com/neuron" if name.lower() in _NEURON else "nvidia.com/gpu"


def tasks_per_replica(p: StagePlacement) -> int:
    """How many task instances of the stage one replica runs at once."""
    if p.instance.accelerator is not None:
        return 1
    by_memory = math.floor(p.instance.memory_gib / p.stage.compute.memory_gib)
    return max(1, min(by_memory, math.floor(p.instance.vcpus)))


def queue_name(p: StagePlacement) -> str:
    """The Celery queue of a placement, e.g. ``cp-eu-west-1-vm-train``."""
    gpu = "-gpu" if p.instance.accelerator is not None else ""
    return f"cp-{p.option.region}-{p.tier.kind}{gpu}-{identity_suffix(p)}"


def executor_rule(inp: PlanningInput, settings: RunOpsSettings) -> ExecutorRule:
    """The composer's executor rule, with the pipeline's ``deployment`` facts applied."""
    dep = inp.pipeline.deployment
    update: dict[str, Any] = {}
    if dep.airflow_region:
        update["airflow_region"] = dep.airflow_region
    if dep.executor_by_tier:
        update["by_tier"] = {**settings.executor.by_tier, **dep.executor_by_tier}
    return settings.executor.model_copy(update=update) if update else settings.executor


def airflow_region(inp: PlanningInput, settings: RunOpsSettings) -> str | None:
    """The region the Airflow deployment runs in (see :class:`ExecutorRule`)."""
    rule = executor_rule(inp, settings)
    if rule.airflow_region:
        return rule.airflow_region
    if inp.pipeline.datasets:
        return inp.pipeline.datasets[0].home_region
    if inp.pipeline.candidate_regions:
        return inp.pipeline.candidate_regions[0]
    return None


def executor_for(p: StagePlacement, home: str | None, rule: ExecutorRule) -> str:
    """The executor of a placement under the executor rule."""
    if p.tier.kind in rule.by_tier:
        return rule.by_tier[p.tier.kind]
    remote = home is not None and p.option.region != home
    return rule.remote if remote and p.tier.kind in rule.remote_tiers else rule.local


ZONE_ID_LABEL = "topology.k8s.aws/zone-id"
"""The EKS node label carrying the AZ id (used while the AZ name is not mapped)."""
SPOT_AFFINITY = (("karpenter.sh/capacity-type", "spot"), ("eks.amazonaws.com/capacityType", "SPOT"))
"""Node labels that mark spot capacity: Karpenter's, and EKS managed node groups'."""


def node_selector(p: StagePlacement, zone_names: dict[str, str]) -> dict[str, str]:
    """Region, zone and instance type on the labels EKS nodes carry."""
    selector = {"topology.kubernetes.io/region": p.option.region,
                "node.kubernetes.io/instance-type": p.option.instance_type}
    name = zone_names.get(p.option.zone)
    if name is not None:
        selector["topology.kubernetes.io/zone"] = name
    else:
        selector[ZONE_ID_LABEL] = p.option.zone
    return selector


def pod_override(p: StagePlacement, settings: RunOpsSettings, *,
                 service_account: str | None = None,
                 zone_names: dict[str, str] | None = None) -> dict[str, Any]:
    """A V1Pod as plain JSON: identity, resources, node selection and tolerations."""
    share = settings.allocatable_fraction / tasks_per_replica(p)
    cpu_m = max(100, math.floor(p.instance.vcpus * share * 1000))
    mem_mi = max(128, math.floor(p.instance.memory_gib * share * 1024))
    resources: dict[str, Any] = {"cpu": f"{cpu_m}m", "memory": f"{mem_mi}Mi"}
    spec: dict[str, Any] = {"nodeSelector": node_selector(p, zone_names or {})}
    if service_account:
        spec["serviceAccountName"] = service_account
    limits = dict(resources)
    acc = p.instance.accelerator
    if acc is not None:
        res = accelerator_resource(acc.name)
        limits[res] = str(acc.count)  # a Kubernetes quantity is a string
        spec["tolerations"] = [{"key": res, "operator": "Exists", "effect": "NoSchedule"}]
    if p.option.spot:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
                for key, value in SPOT_AFFINITY
            ]}}}
        spec.setdefault("tolerations", []).append(
            {"key": "cloudplan.io/spot", "operator": "Exists", "effect": "NoSchedule"}
        )
    spec["containers"] = [{"name": "base", "resources": {"requests": resources,
                                                        "limits": limits}}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"cloudplan.io/stage": p.name.replace("_", "-"),
                                "cloudplan.io/tier": p.option.tier}},
        "spec": spec,
    }


def placement_text(p: StagePlacement, executor: str, queue: str, role: str) -> str:
    """How the executor realises the planned placement, for people and the UI."""
    where = f"{p.option.instance_type} in {p.option.region} ({p.option.zone})"
    if executor == KUBERNETES:
        return f"KubernetesExecutor pod on a {where} node, as the role {role} (IRSA)"
    if executor == CELERY:
        return (f"CeleryExecutor queue {queue}: run 'airflow celery worker --queues {queue}' "
                f"on {where} hosts whose instance profile is the role {role}")
    return (f"{executor} on the Airflow host (not {where}); the task assumes the role {role} "
            "through its AWS connection, which does not isolate it from other stages")


def stage_executors(ctx: ComposeContext) -> dict[str, str]:
    """Each stage's executor under the executor rule."""
    home = airflow_region(ctx.inp, ctx.settings)
    rule = executor_rule(ctx.inp, ctx.settings)
    return {p.name: executor_for(p, home, rule) for p in ctx.placements}


def data_copies(ctx: ComposeContext, p: StagePlacement) -> dict[str, str]:
    """Dataset → the URI of the copy the stage reads it through (from the dataflow model)."""
    return {
        loc.dataset: loc.uri
        for loc in stage_locations(ctx.inp, p.name, p.option)
        if loc.is_copy and loc.dataset is not None and loc.uri is not None
    }


def _tls_env(ctx: ComposeContext) -> dict[str, str]:
    """The standard OTLP exporter variables for the Collector's declared certificates.

    The Python SDK's file configuration reads ``tls`` but does not apply it, so the
    certificates also travel as ``OTEL_EXPORTER_OTLP_*`` variables, which it does apply.
    """
    tls = ctx.inp.policy.observability.telemetry.tls
    if tls is None:
        return {}
    pairs = (("OTEL_EXPORTER_OTLP_CERTIFICATE", tls.ca_file),
             ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", tls.client_cert_file),
             ("OTEL_EXPORTER_OTLP_CLIENT_KEY", tls.client_key_file))
    return {k: v for k, v in pairs if v}


def _settings_from(ctx: ComposeContext, include_version: bool) -> AirflowSettings:
    executors = stage_executors(ctx)
    role_of = {s: i for i in identities(ctx, executors) for s in i.stages}
    zone_names = ctx.inp.pipeline.deployment.zone_names
    pools, tasks = [], []
    for p in ctx.placements:
        pool = f"cp_{ctx.pipeline_name}_{p.name}".replace("-", "_")
        pools.append(AirflowPool(
            name=pool, slots=max(1, p.option.replicas_max * tasks_per_replica(p)),
            description=f"{ctx.pipeline_name}/{p.name} on {p.option.tier} "
            f"{p.option.instance_type} in {p.option.region}",
        ))
        attrs = resource_attributes(ctx, p)
        if not include_version:
            attrs.pop("cloudplan.plan_version")
        # Environment-style keys point an SDK at the stage's config file; the short keys
        # (signals, trace_sampling, detail) are what the stage operators read at run time.
        otel = {
            "OTEL_CONFIG_FILE": sdk_path(p.name),
            "OTEL_SERVICE_NAME": attrs["service.name"],
            "OTEL_RESOURCE_ATTRIBUTES": ",".join(f"{k}={v}" for k, v in sorted(attrs.items())),
            "signals": ",".join(sorted(str(s) for s in p.emitted_signals)),
            "trace_sampling": f"{p.trace_ratio:g}",
            "detail": "full" if p.stage.criticality == Criticality.CRITICAL else "minimal",
            **_tls_env(ctx),
        }
        binding = p.stage.airflow
        executor = executors[p.name]
        ident = role_of[p.name]
        queue = queue_name(p)
        config = (
            {"pod_override": pod_override(p, ctx.settings,
                                          service_account=ident.service_account,
                                          zone_names=zone_names)}
            if executor == KUBERNETES else {}
        )
        tasks.append(AirflowTaskSettings(
            dag_id=binding.dag_id if binding else ctx.pipeline_name,
            task_id=binding.task_id if binding else p.name,
            stage=p.name, pool=pool, pool_slots=1, queue=queue,
            executor=executor, executor_config=config,
            priority_weight=ctx.settings.priority_weight.get(p.stage.criticality, 1),
            otel=otel, role_arn=role_arn(ctx, ident.role), data_copies=data_copies(ctx, p),
            placement=placement_text(p, executor, queue, ident.role),
        ))
    return AirflowSettings(pools=tuple(pools), tasks=tuple(tasks))


def airflow_settings(
    plan: PlanResult,
    inp: PlanningInput,
    *,
    plan_version: str | None = None,
    settings: RunOpsSettings | None = None,
) -> AirflowSettings:
    """Pools and per-task settings implied by the plan's recommendation.

    Without ``plan_version`` the resource attributes omit ``cloudplan.plan_version`` (the
    optimizer stores these settings inside the plan, whose hash is the version).
    """
    ctx = ComposeContext(plan, inp, plan_version or "", settings or RunOpsSettings())
    return _settings_from(ctx, include_version=plan_version is not None)


class AirflowEmitter(Emitter):
    """``airflow/settings.json``: what apply and the cluster policy consume."""

    name = "airflow"

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """The settings as JSON (``AirflowSettings.model_dump(mode="json")``)."""
        settings = _settings_from(ctx, include_version=True)
        return [Artifact(path="airflow/settings.json",
                         content=dump_json(settings.model_dump(mode="json")),
                         kind="airflow-settings", evidence="airflow:settings")]
