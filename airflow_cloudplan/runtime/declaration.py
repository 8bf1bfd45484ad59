"""What a stage declares once: who it is and which datasets it may touch.

A :class:`StageDeclaration` is the operator's promise about a stage, matching the stage of
the same name in the pipeline spec. The data-access layer enforces it: a read, write or
list of a dataset the stage did not declare is refused (and audited).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import Field, ValidationError, model_validator

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.model.workload import Criticality, Dataset, Name, StageKind, StageSLO


class DeclaredDataset(Frozen):
    """A dataset a stage may access, at a URI (``s3://bucket/prefix``, ``file://`` or a path)."""

    name: Name
    uri: str = Field(min_length=1)
    sensitivity: str = "internal"


class StageDeclaration(Frozen):
    """A stage's identity and data contract, as its operator declares it."""

    pipeline: Name
    stage: Name
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
        return self

    @property
    def effective_sensitivity(self) -> str:
        """The declared override, else the most sensitive class among its datasets."""
        if self.sensitivity:
            return self.sensitivity
        rank = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}
        classes = [d.sensitivity for d in (*self.reads, *self.writes)] or ["internal"]
        return max(classes, key=lambda c: rank.get(c, 1))


DatasetsArg = (
    Mapping[str, str] | Iterable[DeclaredDataset | Dataset | Mapping[str, str]] | None
)


def declared_datasets(value: DatasetsArg, *, where: str) -> tuple[DeclaredDataset, ...]:
    """Normalise what a user passes as ``reads=``/``writes=`` into declared datasets.

    Accepts ``{"name": "uri"}``, model :class:`Dataset` objects, :class:`DeclaredDataset`
    objects, or dicts with ``name``/``uri`` (and optional ``sensitivity``).
    """
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items: list[DeclaredDataset | Dataset | Mapping[str, str]] = [
            {"name": str(k), "uri": str(v)} for k, v in value.items()
        ]
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
                out.append(DeclaredDataset.model_validate(dict(item)))
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
    if problems:
        raise SpecError(f"invalid {where} declaration", problems)
    return tuple(out)
