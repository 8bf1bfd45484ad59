"""Airflow consequences of a plan: pools, queues, executors and pod overrides per task.

Rules (documented in docs/runops.md, tunable in :class:`RunOpsSettings`):

* **pool** ``cp_<pipeline>_<stage>`` per stage; slots = replicas_max × tasks per replica,
  where a replica runs as many tasks as its memory holds (stage demand), at most its vCPUs;
  every task takes ``pool_slots = 1``.
* **queue** ``cp-<region>-<tier kind>`` (``-gpu`` appended for accelerator instances), so
  Celery workers in that region/tier pick the task up.
* **executor** from :class:`ExecutorRule` (local region → LocalExecutor; VM/container tier
  in another region → CeleryExecutor).
* **executor_config** ``{"pod_override": <V1Pod as plain JSON>}`` with requests = limits =
  the instance's allocatable share per task, node selectors for region, zone and instance
  type, and the GPU toleration/limit for NVIDIA accelerators.
* **priority_weight** by criticality; **otel** the variables that point the task at its
  SDK configuration and resource attributes.
"""

from __future__ import annotations

import math
from typing import Any

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
from airflow_cloudplan.runops.otel import resource_attributes, sdk_path
from airflow_cloudplan.runops.settings import RunOpsSettings

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
    """The Celery queue of a placement, e.g. ``cp-eu-west-1-vm``."""
    gpu = "-gpu" if p.instance.accelerator is not None else ""
    return f"cp-{p.option.region}-{p.tier.kind}{gpu}"


def airflow_region(inp: PlanningInput, settings: RunOpsSettings) -> str | None:
    """The region the Airflow deployment runs in (see :class:`ExecutorRule`)."""
    if settings.executor.airflow_region:
        return settings.executor.airflow_region
    if inp.pipeline.datasets:
        return inp.pipeline.datasets[0].home_region
    if inp.pipeline.candidate_regions:
        return inp.pipeline.candidate_regions[0]
    return None


def executor_for(p: StagePlacement, home: str | None, settings: RunOpsSettings) -> str:
    """The executor of a placement under the executor rule."""
    rule = settings.executor
    if p.tier.kind in rule.by_tier:
        return rule.by_tier[p.tier.kind]
    remote = home is not None and p.option.region != home
    return rule.remote if remote and p.tier.kind in rule.remote_tiers else rule.local


def pod_override(p: StagePlacement, settings: RunOpsSettings) -> dict[str, Any]:
    """A V1Pod as plain JSON: resources, node selectors and accelerator tolerations."""
    share = settings.allocatable_fraction / tasks_per_replica(p)
    cpu_m = max(100, math.floor(p.instance.vcpus * share * 1000))
    mem_mi = max(128, math.floor(p.instance.memory_gib * share * 1024))
    resources: dict[str, Any] = {"cpu": f"{cpu_m}m", "memory": f"{mem_mi}Mi"}
    spec: dict[str, Any] = {
        "nodeSelector": {
            "topology.kubernetes.io/region": p.option.region,
            "topology.kubernetes.io/zone": p.option.zone,
            "node.kubernetes.io/instance-type": p.option.instance_type,
        },
    }
    limits = dict(resources)
    acc = p.instance.accelerator
    if acc is not None:
        res = accelerator_resource(acc.name)
        limits[res] = acc.count
        spec["tolerations"] = [{"key": res, "operator": "Exists", "effect": "NoSchedule"}]
    if p.option.spot:
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


def _settings_from(ctx: ComposeContext, include_version: bool) -> AirflowSettings:
    home = airflow_region(ctx.inp, ctx.settings)
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
        }
        binding = p.stage.airflow
        tasks.append(AirflowTaskSettings(
            dag_id=binding.dag_id if binding else ctx.pipeline_name,
            task_id=binding.task_id if binding else p.name,
            stage=p.name, pool=pool, pool_slots=1, queue=queue_name(p),
            executor=executor_for(p, home, ctx.settings),
            executor_config={"pod_override": pod_override(p, ctx.settings)},
            priority_weight=ctx.settings.priority_weight.get(p.stage.criticality, 1),
            otel=otel,
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
