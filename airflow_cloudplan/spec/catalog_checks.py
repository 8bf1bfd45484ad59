"""Checks of a spec against a price/offer catalog: every name must exist there.

A spec names providers, regions, jurisdictions, instance types, accelerators and service
tiers; a typo in any of them would otherwise surface much later as "no feasible option".
These checks also catch residency rules that, combined with the candidate regions, leave
a stage nowhere to run.
"""

from __future__ import annotations

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model import Catalog, SensitivityClass, Stage
from airflow_cloudplan.spec.checks import (
    SpecFacts,
    class_of,
    residency_ok,
    rule_text,
    unknown_name,
)
from airflow_cloudplan.spec.source import Path, SourceMap


def _region_problems(
    names: list[tuple[Path, str]], catalog: Catalog, provider: str | None, smap: SourceMap
) -> list[Problem]:
    known = {r.id: r for r in catalog.regions}
    problems: list[Problem] = []
    for path, name in names:
        region = known.get(name)
        if region is None:
            message, hint = unknown_name("region", name, list(known),
                                         f"in catalog {catalog.version}")
            problems.append(smap.problem(path, message, hint))
        elif provider is not None and region.provider != provider:
            problems.append(smap.problem(
                path, f"region '{name}' belongs to provider {region.provider}, not {provider}",
                f"pick a {provider} region or change the pipeline's provider",
            ))
    return problems


def _stage_names(facts: SpecFacts, catalog: Catalog, smap: SourceMap) -> list[Problem]:
    """Instance types, accelerators and tiers named by stages exist in the catalog."""
    problems: list[Problem] = []
    types = {t.name for t in catalog.instance_types}
    accelerators = {t.accelerator.name for t in catalog.instance_types if t.accelerator}
    tier_kinds = {t.kind for t in catalog.tiers if t.provider == facts.provider}
    for i, stage in facts.stages:
        for j, name in enumerate(stage.instance_types or ()):
            if name not in types:
                message, hint = unknown_name("instance type", name, list(types))
                problems.append(smap.problem(("stages", i, "instance_types", j), message, hint))
        wanted = stage.compute.accelerator
        if wanted is not None and wanted.lower() not in {a.lower() for a in accelerators}:
            message, hint = unknown_name("accelerator", wanted, list(accelerators))
            problems.append(smap.problem(("stages", i, "compute", "accelerator"), message, hint))
        for j, kind in enumerate(stage.tiers or ()):
            if kind not in tier_kinds:
                problems.append(smap.problem(
                    ("stages", i, "tiers", j),
                    f"the catalog offers no {kind} tier for provider {facts.provider}",
                    "use one of: " + ", ".join(sorted(tier_kinds)),
                ))
    return problems


def _effective_class(facts: SpecFacts, stage: Stage) -> SensitivityClass | None:
    """The class a stage obeys: its own, or the most sensitive of its datasets."""
    if stage.sensitivity is not None:
        return class_of(facts, stage.sensitivity)
    by_name = dict((d.name, d) for _, d in facts.datasets)
    classes = [
        c for name in (*stage.reads, *stage.writes)
        if name in by_name and (c := class_of(facts, by_name[name].sensitivity)) is not None
    ]
    return max(classes, key=lambda c: c.rank, default=None)


def _placement_problems(facts: SpecFacts, catalog: Catalog, smap: SourceMap) -> list[Problem]:
    """Every stage keeps at least one region after candidates, allowlist and residency."""
    problems: list[Problem] = []
    universe = [r.id for r in catalog.regions if r.provider == facts.provider]
    among = f"the {facts.provider} regions of catalog {catalog.version}"
    if facts.candidate_regions:
        wanted = {name for _, name in facts.candidate_regions}
        universe = [r for r in universe if r in wanted]
        among = "the candidate regions (" + ", ".join(universe) + ")"
    for i, stage in facts.stages:
        regions = universe
        rules = []
        if stage.allowed_regions is not None:
            regions = [r for r in regions if r in stage.allowed_regions]
            rules.append("its allowed_regions (" + ", ".join(stage.allowed_regions) + ")")
        cls = _effective_class(facts, stage)
        if cls is not None and (cls.allowed_regions is not None or cls.allowed_jurisdictions):
            regions = [r for r in regions if residency_ok(cls, r, catalog)]
            rules.append(f"the residency of its '{cls.name}' data ({rule_text(cls)})")
        if regions or not universe:
            continue
        problems.append(smap.problem(
            ("stages", i),
            f"stage '{stage.name}' can run in no region: {' and '.join(rules)} leave none of "
            f"{among}",
            "add an allowed region to candidate_regions, or relax the stage's "
            "allowed_regions or its sensitivity class",
        ))
    return problems


def check_catalog(facts: SpecFacts, catalog: Catalog, smap: SourceMap) -> list[Problem]:
    """Every provider, region, jurisdiction, instance type, accelerator and tier exists."""
    problems: list[Problem] = []
    if facts.provider is not None and facts.provider not in catalog.providers:
        message, hint = unknown_name("provider", facts.provider, list(catalog.providers),
                                     f"in catalog {catalog.version}")
        problems.append(smap.problem(("provider",), message, hint))
        return problems  # every other name would be reported as unknown too
    placed: list[tuple[Path, str]] = [
        (("candidate_regions", j), name) for j, name in facts.candidate_regions
    ]
    for i, stage in facts.stages:
        placed += [(("stages", i, "allowed_regions", j), r)
                   for j, r in enumerate(stage.allowed_regions or ())]
    # Data and policies may name regions of other providers (data kept elsewhere, one
    # policy for several clouds); only where stages run must match the pipeline's provider.
    named: list[tuple[Path, str]] = [
        (("datasets", i, "home_region"), d.home_region) for i, d in facts.datasets
    ]
    jurisdictions = {r.jurisdiction for r in catalog.regions}
    for _name, (path, cls) in facts.classes.items():
        if cls is None or not path:
            continue
        named += [((*path, "allowed_regions", j), r)
                  for j, r in enumerate(cls.allowed_regions or ())]
        for j, tag in enumerate(cls.allowed_jurisdictions or ()):
            if tag not in jurisdictions:
                message, hint = unknown_name("jurisdiction", tag, list(jurisdictions))
                problems.append(smap.problem((*path, "allowed_jurisdictions", j), message, hint))
    problems += _region_problems(placed, catalog, facts.provider, smap)
    problems += _region_problems(named, catalog, None, smap)
    problems += _stage_names(facts, catalog, smap)
    problems += _placement_problems(facts, catalog, smap)
    return problems
