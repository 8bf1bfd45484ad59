"""Up-front validation of the governance policy against the pipeline and the catalog.

The gates must never silently admit or reject everything because a policy names a region
that does not exist or contradicts itself. :func:`validate_policy` collects every problem
(not just the first) and raises one :class:`GateError` with a located, fixable line each.
"""

from __future__ import annotations

from airflow_cloudplan.errors import GateError, Problem, did_you_mean
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.policy import SensitivityClass


def allowed_regions_of(inp: PlanningInput, cls: SensitivityClass) -> list[str]:
    """Catalog regions where data of class ``cls`` may live (in catalog order)."""
    out: list[str] = []
    for r in inp.catalog.regions:
        if cls.allowed_regions is not None and r.id not in cls.allowed_regions:
            continue
        jurisdictions = cls.allowed_jurisdictions
        if jurisdictions is not None and r.jurisdiction not in jurisdictions:
            continue
        out.append(r.id)
    return out


def region_allowed(inp: PlanningInput, cls: SensitivityClass, region_id: str) -> bool:
    """Whether data of class ``cls`` may live in ``region_id``.

    An unknown region is allowed only when the class restricts nothing.
    """
    if cls.allowed_regions is not None and region_id not in cls.allowed_regions:
        return False
    if cls.allowed_jurisdictions is None:
        return True
    try:
        jurisdiction = inp.catalog.region(region_id).jurisdiction
    except KeyError:
        return False
    return jurisdiction in cls.allowed_jurisdictions


def _hint(name: str, choices: list[str], what: str) -> str:
    suggestion = did_you_mean(name, choices)
    known = ", ".join(sorted(choices))
    return f"{suggestion + ' ' if suggestion else ''}use one of the {what}: {known}"


def _class_problems(inp: PlanningInput) -> list[Problem]:
    gov = inp.policy.governance
    region_ids = [r.id for r in inp.catalog.regions]
    jurisdictions = sorted({r.jurisdiction for r in inp.catalog.regions})
    problems: list[Problem] = []
    ranks: dict[int, str] = {}
    for i, cls in enumerate(gov.classes):
        base = f"policy.governance.classes[{i}]"
        for j, rid in enumerate(cls.allowed_regions or ()):
            if rid not in region_ids:
                problems.append(Problem(
                    message=f"class '{cls.name}' allows unknown region '{rid}'",
                    path=f"{base}.allowed_regions[{j}]",
                    hint=_hint(rid, region_ids, f"regions of catalog {inp.catalog.version}"),
                ))
        for j, jur in enumerate(cls.allowed_jurisdictions or ()):
            if jur not in jurisdictions:
                problems.append(Problem(
                    message=f"class '{cls.name}' allows unknown jurisdiction '{jur}'",
                    path=f"{base}.allowed_jurisdictions[{j}]",
                    hint=_hint(jur, jurisdictions, "catalog's jurisdictions"),
                ))
        if not allowed_regions_of(inp, cls):
            problems.append(Problem(
                message=(f"class '{cls.name}' admits no region: allowed_regions "
                         f"{list(cls.allowed_regions or [])} and allowed_jurisdictions "
                         f"{list(cls.allowed_jurisdictions or [])} contradict each other"),
                path=base,
                hint="make the allowed regions lie inside the allowed jurisdictions",
            ))
        if cls.rank in ranks:
            problems.append(Problem(
                message=(f"classes '{ranks[cls.rank]}' and '{cls.name}' share rank {cls.rank}, "
                         "so 'the most sensitive class' of a stage is ambiguous"),
                path=f"{base}.rank",
                hint="give every sensitivity class a distinct rank",
            ))
        ranks.setdefault(cls.rank, cls.name)
    return problems


def _workload_problems(inp: PlanningInput) -> list[Problem]:
    gov = inp.policy.governance
    names = [c.name for c in gov.classes]
    region_ids = [r.id for r in inp.catalog.regions]
    by_name = {c.name: c for c in gov.classes}
    problems: list[Problem] = []
    for i, d in enumerate(inp.pipeline.datasets):
        base = f"datasets[{i}]"
        cls = by_name.get(d.sensitivity)
        if cls is None:
            problems.append(Problem(
                message=f"dataset '{d.name}' has unknown sensitivity class '{d.sensitivity}'",
                path=f"{base}.sensitivity",
                hint=_hint(d.sensitivity, names, "policy's sensitivity classes"),
            ))
        if d.home_region not in region_ids:
            problems.append(Problem(
                message=f"dataset '{d.name}' lives in unknown region '{d.home_region}'",
                path=f"{base}.home_region",
                hint=_hint(d.home_region, region_ids, f"regions of catalog {inp.catalog.version}"),
            ))
        elif cls is not None and not region_allowed(inp, cls, d.home_region):
            problems.append(Problem(
                message=(f"dataset '{d.name}' of class '{cls.name}' already lives in "
                         f"'{d.home_region}', which its class does not allow"),
                path=f"{base}.home_region",
                hint=(f"move it to one of {allowed_regions_of(inp, cls)} or allow "
                      f"'{d.home_region}' for class '{cls.name}'"),
            ))
    problems += _lineage_problems(inp)
    for i, s in enumerate(inp.pipeline.stages):
        if s.sensitivity is None:
            continue
        override = by_name.get(s.sensitivity)
        if override is None:
            problems.append(Problem(
                message=f"stage '{s.name}' has unknown sensitivity class '{s.sensitivity}'",
                path=f"stages[{i}].sensitivity",
                hint=_hint(s.sensitivity, names, "policy's sensitivity classes"),
            ))
            continue
        for dname in (*s.reads, *s.writes):
            touched = inp.pipeline.dataset_by_name.get(dname)
            dcls = by_name.get(touched.sensitivity) if touched is not None else None
            if dcls is not None and dcls.rank > override.rank:
                problems.append(Problem(
                    message=(f"stage '{s.name}' declares class '{override.name}' but touches "
                             f"dataset '{dname}' of more sensitive class '{dcls.name}'"),
                    path=f"stages[{i}].sensitivity",
                    hint=f"raise the stage's class to '{dcls.name}' or drop the override",
                ))
                break
    return problems


def _lineage_problems(inp: PlanningInput) -> list[Problem]:
    """Homes that would store inherited classes where they may not live (as the spec does)."""
    from airflow_cloudplan.dataflow.lineage import inherited_home_violations, lineage_of
    from airflow_cloudplan.spec.lineage_checks import home_message, where_allowed

    gov = inp.policy.governance
    lineage = lineage_of(inp.pipeline, gov)

    def allowed(cls: SensitivityClass, region: str) -> bool:
        return region_allowed(inp, cls, region)

    out: list[Problem] = []
    for v in inherited_home_violations(inp.pipeline, gov, lineage, allowed):
        message, hint = home_message(v, where_allowed(v.cls))
        out.append(Problem(message=message, path=f"datasets[{v.index}].home_region", hint=hint))
    return out


def validate_policy(inp: PlanningInput) -> None:
    """Raise one :class:`GateError` listing every inconsistency of policy vs pipeline/catalog."""
    problems = _class_problems(inp) + _workload_problems(inp)
    if problems:
        raise GateError(
            f"governance policy of pipeline '{inp.pipeline.name}' cannot be applied "
            f"({len(problems)} problem{'s' if len(problems) != 1 else ''})",
            problems,
        )
