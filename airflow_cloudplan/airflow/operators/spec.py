"""What a task declares as a stage, validated when the DAG is parsed.

:class:`StageSpec` is shared by every way of adopting stages — a :class:`StageOperator`
around a callable, ``@task.stage``, and an existing operator turned into a stage with
:func:`~airflow_cloudplan.airflow.operators.wrap.as_stage`. It keeps the declaration as
written (URIs may still hold Jinja) and turns it into a
:class:`~airflow_cloudplan.runtime.declaration.StageDeclaration` at parse time (to fail
early, naming the task) and again at run time with the rendered values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.workload import Criticality, StageKind
from airflow_cloudplan.runtime.declaration import (
    DatasetsArg,
    DeclaredDataset,
    StageDeclaration,
    declared_datasets,
)

STAGE_ARGUMENTS = ("pipeline", "stage", "kind", "reads", "writes", "sensitivity", "slo",
                   "criticality", "aws_conn_id", "identity", "cache_ttl_s")
"""The keyword arguments that declare a stage (the rest belong to the operator)."""


def dag_id_of(task: Any) -> str | None:
    """The id of the task's DAG, ``None`` while it is in none."""
    dag = task.dag if task.has_dag() else None
    return None if dag is None else str(dag.dag_id)


def resolve_kind(kind: StageKind | str | None, *, fixed: StageKind | None, owner: str,
                 task_id: str) -> StageKind:
    """The stage kind, or a located error with the valid kinds."""
    try:
        if fixed is not None:
            if kind is not None and StageKind(kind) is not fixed:
                raise ValueError(f"{owner} is always kind {fixed.value!r}")
            return fixed
        if kind is None:
            raise ValueError(f"{owner} needs kind=")
        return StageKind(kind)
    except ValueError as exc:
        raise SpecError(
            f"task {task_id!r}: invalid stage kind",
            [Problem(message=str(exc), path=f"{task_id}.kind",
                     hint=f"use one of {[k.value for k in StageKind]} or the matching "
                     "per-kind operator (IngestOperator, TrainOperator, ...)")],
        ) from exc


@dataclass(frozen=True)
class StageSpec:
    """A task's stage declaration as written (``reads``/``writes`` may be templated)."""

    kind: StageKind
    pipeline: str | None = None
    stage: str | None = None
    reads: dict[str, str] = field(default_factory=dict)
    writes: dict[str, str] = field(default_factory=dict)
    dataset_sensitivity: dict[str, str] = field(default_factory=dict)
    sensitivity: str | None = None
    slo: Any = None
    criticality: Criticality = Criticality.STANDARD
    aws_conn_id: str = "aws_default"
    identity: str | None = None
    cache_ttl_s: float = 3600.0

    @classmethod
    def build(
        cls,
        *,
        task_id: str,
        dag_id: str | None,
        kind: StageKind | str | None,
        fixed_kind: StageKind | None = None,
        owner: str = "StageOperator",
        pipeline: str | None = None,
        stage: str | None = None,
        reads: DatasetsArg = None,
        writes: DatasetsArg = None,
        sensitivity: str | None = None,
        slo: Mapping[str, Any] | Any | None = None,
        criticality: Criticality | str = Criticality.STANDARD,
        aws_conn_id: str = "aws_default",
        identity: str | None = None,
        cache_ttl_s: float = 3600.0,
    ) -> StageSpec:
        """Normalise and validate a declaration; errors name the task (parse time)."""
        reads_decl = declared_datasets(reads, where=f"{task_id}.reads")
        writes_decl = declared_datasets(writes, where=f"{task_id}.writes")
        try:
            crit = Criticality(criticality)
        except ValueError as exc:
            raise SpecError(f"task {task_id!r}: invalid criticality", [Problem(
                message=str(exc), path=f"{task_id}.criticality",
                hint=f"use one of {[c.value for c in Criticality]}")]) from exc
        spec = cls(
            kind=resolve_kind(kind, fixed=fixed_kind, owner=owner, task_id=task_id),
            pipeline=pipeline,
            stage=stage,
            reads={d.name: d.uri for d in reads_decl},
            writes={d.name: d.uri for d in writes_decl},
            dataset_sensitivity={d.name: d.sensitivity for d in (*reads_decl, *writes_decl)},
            sensitivity=sensitivity,
            slo=slo,
            criticality=crit,
            aws_conn_id=aws_conn_id,
            identity=identity,
            cache_ttl_s=cache_ttl_s,
        )
        if pipeline is not None or dag_id is not None:
            spec.declaration(task_id=task_id, dag_id=dag_id)
        return spec

    def declaration(
        self,
        *,
        task_id: str,
        dag_id: str | None,
        reads: Mapping[str, Any] | None = None,
        writes: Mapping[str, Any] | None = None,
    ) -> StageDeclaration:
        """The declaration for ``task_id`` (with rendered ``reads``/``writes`` if given).

        The pipeline defaults to the DAG id and the stage to the full task id.
        """
        pipeline = self.pipeline or dag_id
        if pipeline is None:
            raise SpecError(f"task {task_id!r}: no pipeline", [Problem(
                message="the task is in no DAG, so the pipeline cannot default to its id",
                path=f"{task_id}.pipeline", hint="pass pipeline='<pipeline name>'")])
        try:
            return StageDeclaration(
                pipeline=pipeline,
                stage=self.stage or task_id,
                kind=self.kind,
                reads=self._declared(self.reads if reads is None else reads),
                writes=self._declared(self.writes if writes is None else writes),
                sensitivity=self.sensitivity,
                slo=self.slo if self.slo is not None else {},
                criticality=self.criticality,
            )
        except ValueError as exc:
            defaulted = (f" (the pipeline defaults to the DAG id {pipeline!r})"
                         if self.pipeline is None else "")
            raise SpecError(
                f"task {task_id!r}: invalid stage declaration",
                [Problem(message=str(exc).replace("\n", " ") + defaulted, path=task_id,
                         hint="pipeline names are lower-case snake_case (pass pipeline=...); "
                         "slo takes p95_ms, deadline_minutes, availability")],
            ) from exc

    def _declared(self, datasets: Mapping[str, Any]) -> tuple[DeclaredDataset, ...]:
        return tuple(
            DeclaredDataset(name=n, uri=str(u),
                            sensitivity=self.dataset_sensitivity.get(n, "internal"))
            for n, u in datasets.items()
        )
