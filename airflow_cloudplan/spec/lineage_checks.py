"""Lineage checks of a spec: derived data lives where its classes allow, and declassify claims hold.

Run on the typed spec once it validates (:func:`check_lineage`), with the lineage of
:mod:`airflow_cloudplan.dataflow.lineage`:

* every dataset's home region must admit **every** class its bytes carry, inherited ones
  included — ``credit_features (restricted) → score → public_dump (us-east-1):
  restricted data written outside eu`` is located at ``public_dump``'s ``home_region``
  (its declared class is checked by :func:`airflow_cloudplan.spec.checks.check_residency`);
* a stage's ``declassifies`` must name known classes, lower the class, handle the class
  it removes, and be covered by an allowance in ``policy.governance.declassifications``
  (otherwise it is refused, with the allowance the policy owner would add);
* a stage's own ``sensitivity`` may raise its class but not claim less than its data.
"""

from __future__ import annotations

from airflow_cloudplan.dataflow.lineage import (
    HomeViolation,
    Lineage,
    compute_lineage,
    inherited_home_violations,
)
from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model import Catalog, Pipeline, Policy, SensitivityClass
from airflow_cloudplan.spec.checks import residency_ok
from airflow_cloudplan.spec.source import SourceMap


def where_allowed(cls: SensitivityClass) -> str:
    """Where a class lets its data be stored, in words (``eu`` or ``regions a, b``)."""
    if cls.allowed_regions is None and cls.allowed_jurisdictions is not None:
        return ", ".join(cls.allowed_jurisdictions)
    parts = []
    if cls.allowed_regions is not None:
        parts.append("regions " + ", ".join(cls.allowed_regions))
    if cls.allowed_jurisdictions is not None:
        parts.append("jurisdictions " + ", ".join(cls.allowed_jurisdictions))
    return " in ".join(parts) or "anywhere"


def home_message(v: HomeViolation, where: str) -> tuple[str, str]:
    """Message and fix for a dataset storing an inherited class where it may not live."""
    name = v.cls.name
    return (
        f"{v.path} ({v.home_region}): {name} data written outside {where}",
        f"store '{v.dataset}' where {name} data may live ({where}), or have a stage on the "
        f"path ({', '.join(v.writers) or 'its writer'}) declassify it with an allowance in "
        "policy.governance.declassifications",
    )


def _home_problems(pipeline: Pipeline, policy: Policy, lineage: Lineage, smap: SourceMap,
                   catalog: Catalog | None) -> list[Problem]:
    def allowed(cls: SensitivityClass, region: str) -> bool:
        return residency_ok(cls, region, catalog)

    problems: list[Problem] = []
    for v in inherited_home_violations(pipeline, policy.governance, lineage, allowed):
        message, hint = home_message(v, where_allowed(v.cls))
        problems.append(smap.problem(("datasets", v.index, "home_region"), message, hint))
    return problems


def _stage_problems(pipeline: Pipeline, policy: Policy, lineage: Lineage,
                    smap: SourceMap) -> list[Problem]:
    gov = policy.governance
    problems: list[Problem] = []
    index = {s.name: i for i, s in enumerate(pipeline.stages)}
    for issue in lineage.issues:
        problems.append(smap.problem(
            ("stages", index[issue.stage], "declassifies"), issue.message, issue.hint,
        ))
    for i, stage in enumerate(pipeline.stages):
        if stage.sensitivity is None:
            continue
        try:
            own = gov.sensitivity_class(stage.sensitivity).rank
        except KeyError:
            continue
        inherited = lineage.inputs.get(stage.name, frozenset()) - {stage.sensitivity}
        above = []
        for name in sorted(inherited):
            try:
                if gov.sensitivity_class(name).rank > own:
                    above.append(name)
            except KeyError:
                continue
        if above:
            paths = "; ".join(lineage.stage_path(stage.name, n) for n in above)
            problems.append(smap.problem(
                ("stages", i, "sensitivity"),
                f"stage '{stage.name}' declares sensitivity '{stage.sensitivity}' but handles "
                f"{', '.join(repr(n) for n in above)} data ({paths})",
                "remove the override (a stage's class follows its data), or declassify "
                "upstream with an allowance in policy.governance.declassifications",
            ))
    return problems


def check_lineage(
    pipeline: Pipeline, policy: Policy, smap: SourceMap, catalog: Catalog | None
) -> list[Problem]:
    """Every lineage problem of a validated spec, each located (see module docstring)."""
    lineage = compute_lineage(pipeline.stages, pipeline.datasets, pipeline.edges,
                              policy.governance)
    return (_stage_problems(pipeline, policy, lineage, smap)
            + _home_problems(pipeline, policy, lineage, smap, catalog))
