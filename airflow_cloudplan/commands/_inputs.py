"""Loading what planning commands share: spec + catalog (+ measured profiles)."""

from __future__ import annotations

from pathlib import Path

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.workload import ProfileSet


def read_profiles(path: str | None) -> ProfileSet | None:
    """The profiles JSON written by ``cloudplan profile --out`` (None when not given)."""
    if not path:
        return None
    from pydantic import ValidationError

    try:
        return ProfileSet.model_validate_json(Path(path).read_text())
    except (OSError, ValidationError) as exc:
        raise SpecError(f"{path}: cannot read profiles", [Problem(
            str(exc).splitlines()[0], file=path,
            hint="pass the JSON written by 'cloudplan profile --out'")]) from None


def load_inputs(spec_path: str, *, catalog_path: str | None = None,
                profiles_path: str | None = None) -> tuple[str, PlanningInput]:
    """The spec's sha256 and its planning input, against the spec provider's catalog."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.spec import load_spec
    from airflow_cloudplan.spec.loader import declared_provider

    catalog = load_catalog(declared_provider(spec_path), path=catalog_path)
    spec = load_spec(spec_path, catalog)
    return spec.sha256, spec.planning_input(catalog, read_profiles(profiles_path))
