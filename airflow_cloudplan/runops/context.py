"""What every emitter reads: the plan's recommendation joined with the spec and catalog.

:class:`StagePlacement` puts one stage's declaration, its chosen option and the catalog
facts of that option side by side, so emitters never look anything up twice and never
disagree about, say, which signals a stage needs or whether it is on the critical path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from airflow_cloudplan.model.catalog import InstanceType, Region, ServiceTier, Signal
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import PlanResult, StageEvaluation, StageOption
from airflow_cloudplan.model.policy import SensitivityClass
from airflow_cloudplan.model.workload import Criticality, Dataset, ExecutionMode, Stage
from airflow_cloudplan.runops.settings import RunOpsSettings


def plan_version_of(plan: PlanResult) -> str:
    """The plan's content address, as the plan store computes it."""
    from airflow_cloudplan.store.base import plan_version

    return plan_version(plan)


@dataclass(frozen=True)
class StagePlacement:
    """One stage as declared, as placed by the plan, and the catalog facts of the placement."""

    stage: Stage
    option: StageOption
    evaluation: StageEvaluation | None
    region: Region
    tier: ServiceTier
    instance: InstanceType
    signals: frozenset[Signal]
    trace_ratio: float
    on_critical_path: bool
    sensitivity: SensitivityClass | None

    @property
    def name(self) -> str:
        """The stage name."""
        return self.stage.name

    @property
    def emitted_signals(self) -> frozenset[Signal]:
        """Signals configured for the stage: what it needs and its tier can emit."""
        return self.signals & self.tier.capabilities.signals


class ComposeContext:
    """The plan and its input, with derived per-stage facts computed once."""

    def __init__(
        self, plan: PlanResult, inp: PlanningInput, plan_version: str, settings: RunOpsSettings
    ) -> None:
        self.plan = plan
        self.inp = inp
        self.plan_version = plan_version
        self.settings = settings

    @property
    def pipeline_name(self) -> str:
        """The pipeline's name."""
        return self.inp.pipeline.name

    @cached_property
    def critical_path(self) -> frozenset[str]:
        """Stages on the longest path of the DAG, weighted by the plan's stage latencies."""
        pipeline = self.inp.pipeline
        latency = {e.stage: e.latency_ms for e in self.plan.recommendation.stages}
        best: dict[str, tuple[float, tuple[str, ...]]] = {}
        preds: dict[str, list[str]] = {s.name: [] for s in pipeline.stages}
        for edge in pipeline.edges:
            preds[edge.dst].append(edge.src)
        for name in pipeline.topological_order():
            own = latency.get(name, 0.0)
            prior = max(
                (best[p] for p in sorted(preds[name])), default=(0.0, ()), key=lambda b: b[0]
            )
            best[name] = (prior[0] + own, (*prior[1], name))
        if not best:
            return frozenset()
        return frozenset(max(best.values(), key=lambda b: b[0])[1])

    def sensitivity_of(self, stage: Stage) -> SensitivityClass | None:
        """The most sensitive class the stage handles, by lineage (see ``dataflow``)."""
        from airflow_cloudplan.gates.exposure import stage_sensitivity

        return stage_sensitivity(self.inp, stage.name)

    def required_signals(self, stage: Stage) -> tuple[frozenset[Signal], float]:
        """Signals the policy requires of a stage (the gate's definition), and its trace ratio."""
        from airflow_cloudplan.gates.observability import required_signals

        obs = self.inp.policy.observability
        req = obs.requirements.get(stage.criticality)
        ratio = req.trace_sampling if req else 0.0
        if stage.mode == ExecutionMode.ONLINE and obs.traces_for_online and not ratio:
            standard = obs.requirements.get(Criticality.STANDARD)
            ratio = standard.trace_sampling if standard else 0.0
        return required_signals(self.inp, stage.name), ratio

    @cached_property
    def placements(self) -> tuple[StagePlacement, ...]:
        """Every stage of the recommendation, in topological order."""
        rec = self.plan.recommendation
        evaluations = {e.stage: e for e in rec.stages}
        catalog = self.inp.catalog
        out: list[StagePlacement] = []
        for name in self.inp.pipeline.topological_order():
            stage = self.inp.pipeline.stage_by_name[name]
            option = rec.assignment[name]
            signals, ratio = self.required_signals(stage)
            on_path = name in self.critical_path
            latency_critical = stage.mode == ExecutionMode.ONLINE and on_path
            if stage.criticality == Criticality.CRITICAL or latency_critical:
                ratio = 1.0
            out.append(
                StagePlacement(
                    stage=stage,
                    option=option,
                    evaluation=evaluations.get(name),
                    region=catalog.region(option.region),
                    tier=catalog.tier(option.tier),
                    instance=catalog.instance_type(option.instance_type),
                    signals=signals,
                    trace_ratio=ratio if Signal.TRACES in signals else 0.0,
                    on_critical_path=on_path,
                    sensitivity=self.sensitivity_of(stage),
                )
            )
        return tuple(out)

    def audited_datasets(self) -> tuple[Dataset, ...]:
        """Datasets whose bytes carry (by lineage) a class that requires audit, by name."""
        from airflow_cloudplan.dataflow.lineage import known_classes, lineage_of

        governance = self.inp.policy.governance
        lineage = lineage_of(self.inp.pipeline, governance)
        out = [
            ds for ds in self.inp.pipeline.datasets
            if any(c.require_audit for c in known_classes(governance, lineage.dataset(ds.name)))
        ]
        return tuple(sorted(out, key=lambda d: d.name))
