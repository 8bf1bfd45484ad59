"""What a stage declares once: who it is and which datasets it may touch.

A :class:`StageDeclaration` is the operator's promise about a stage, matching the stage of
the same name in the pipeline spec. The data-access layer enforces it: a read, write or
list of a dataset the stage did not declare is refused (and audited).

A stage is named after its Airflow task by default — the *full* task id, task-group
prefix included (``section_2.inner_section_2.task_2``) — so two tasks of the same name in
different groups are two stages in metrics, profiles and plans. Dataset URIs must use a
scheme a store serves (:mod:`airflow_cloudplan.runtime.schemes`); an unknown scheme is a
declaration error, raised when the DAG is parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.model.workload import Criticality, Dataset, Name, StageKind, StageSLO
from airflow_cloudplan.runtime.schemes import uri_problem

StageName = Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[\w.\-]+$")]
"""A stage name: an Airflow task id (letters, digits, ``_``, ``-`` and the ``.`` of groups)."""


class DeclaredDataset(Frozen):
    """A dataset a stage may access, at a URI (``s3://bucket/prefix``, ``file://`` or a path)."""

    name: Name
    uri: str = Field(min_length=1)
    sensitivity: str = "internal"


class StageDeclaration(Frozen):
    """A stage's identity and data contract, as its operator declares it."""

    pipeline: Name
    stage: StageName
    kind: StageKind
    reads: tuple[DeclaredDataset, ...] = ()
    writes: tuple[DeclaredDataset, ...] = ()
    sensitivity: str | None = None
    slo: StageSLO = StageSLO()
    criticality: Criticality = Criticality.STANDARD

    @model_validator(mode="after")
    def _names_unique(self) -> StageDeclaration:
        for side, items in (("reads", self.reads), ("writes", self.writes)):
            names = [d.name for d in items]
            if len(set(names)) != len(names):
                raise ValueError(f"{side} names a dataset twice: {sorted(names)}")
            for d in items:
                problem = uri_problem(d.uri, dataset=d.name, where=f"{self.stage}.{side}")
                if problem is not None:
                    raise ValueError(problem.render())
        return self

    @property
    def effective_sensitivity(self) -> str:
        """The declared override, else the most sensitive class among its datasets."""
        if self.sensitivity:
            return self.sensitivity
        rank = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}
        classes = [d.sensitivity for d in (*self.reads, *self.writes)] or ["internal"]
        return max(classes, key=lambda c: rank.get(c, 1))


DatasetsArg = Mapping[str, str] | Iterable[Any] | None
"""``{"name": "uri"}``, or a list of datasets (declarations, dicts, Airflow assets)."""


def _as_mapping(item: Any) -> Mapping[str, Any]:
    """A dict declaration from a dict or an object with ``name`` and ``uri`` (an Asset)."""
    if isinstance(item, Mapping):
        return item
    if hasattr(item, "name") and hasattr(item, "uri"):
        extra = getattr(item, "extra", None) or {}
        out = {"name": item.name, "uri": item.uri}
        if "sensitivity" in extra:
            out["sensitivity"] = extra["sensitivity"]
        return out
    raise TypeError(f"expected a dict or an Asset, got {type(item).__name__}")


def declared_datasets(value: DatasetsArg, *, where: str) -> tuple[DeclaredDataset, ...]:
    """Normalise what a user passes as ``reads=``/``writes=`` into declared datasets.

    Accepts ``{"name": "uri"}``, model :class:`Dataset` objects, :class:`DeclaredDataset`
    objects, dicts with ``name``/``uri`` (and optional ``sensitivity``), or Airflow
    ``Asset`` objects (name, uri and an optional ``extra["sensitivity"]``). A URI with a
    scheme no store serves is an error naming the dataset and the supported schemes.
    """
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items: list[Any] = [{"name": str(k), "uri": str(v)} for k, v in value.items()]
    else:
        items = list(value)
    out: list[DeclaredDataset] = []
    problems: list[Problem] = []
    for i, item in enumerate(items):
        try:
            if isinstance(item, DeclaredDataset):
                out.append(item)
            elif isinstance(item, Dataset):
                out.append(
                    DeclaredDataset(name=item.name, uri=item.uri, sensitivity=item.sensitivity)
                )
            else:
                out.append(DeclaredDataset.model_validate(dict(_as_mapping(item))))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            problems.append(
                Problem(
                    message=f"not a valid dataset declaration: {field}: {err['msg']} "
                    f"(got {err.get('input')!r})",
                    path=f"{where}[{i}]",
                    hint="give {'dataset_name': 'uri'} with lower-case snake_case names",
                )
            )
        except (TypeError, ValueError) as exc:
            problems.append(
                Problem(
                    message=f"not a dataset declaration ({exc}): {item!r}",
                    path=f"{where}[{i}]",
                    hint="give {'dataset_name': 'uri'} with lower-case snake_case names",
                )
            )
    for d in out:
        problem = uri_problem(d.uri, dataset=d.name, where=where)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise SpecError(f"invalid {where} declaration", problems)
    return tuple(out)
