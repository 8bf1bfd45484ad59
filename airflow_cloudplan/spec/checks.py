"""Semantic checks of a pipeline spec: references, graph, policy and catalog facts.

Pydantic checks each field on its own; these checks look across fields: names that must
be unique, edges and reads/writes that must name something that exists, the stage graph
that must be acyclic, sensitivity classes that must exist in the policy, and (given a
catalog) regions, instance types, accelerators and tiers that must exist there, and
residency rules that must leave somewhere to put the data.

The checks run on the *normalised spec data* (plain dicts, shorthands expanded) and are
tolerant of wrong types, so that one run reports every problem: a stage whose SLO is
malformed still has a name that edges may refer to. Each item that validates on its own
is also checked as a typed model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model import (
    Catalog,
    Dataset,
    ExecutionMode,
    GovernancePolicy,
    SensitivityClass,
    Stage,
)
from airflow_cloudplan.spec.messages import closest
from airflow_cloudplan.spec.source import Path, SourceMap


def _items(data: Any, key: str) -> list[tuple[int, dict[str, Any]]]:
    """``(index, mapping)`` for each mapping in the list ``data[key]``."""
    raw = data.get(key) if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    return [(i, item) for i, item in enumerate(raw) if isinstance(item, dict)]


M = TypeVar("M", bound=BaseModel)


def _typed(model: type[M], raw: dict[str, Any]) -> M | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None  # already reported by the whole-document validation


def _strings(value: Any) -> list[tuple[int, str]]:
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]


@dataclass
class SpecFacts:
    """What the checks need from the spec, with each item's index for locating it."""

    provider: str | None
    stage_names: dict[str, int]
    dataset_names: dict[str, int]
    stages: list[tuple[int, Stage]]
    datasets: list[tuple[int, Dataset]]
    classes: dict[str, tuple[Path, SensitivityClass | None]]
    candidate_regions: list[tuple[int, str]]
    edges: list[tuple[int, str, str]] = field(default_factory=list)

    @classmethod
    def collect(cls, data: dict[str, Any]) -> SpecFacts:
        """Facts from normalised spec data (wrongly typed items are left out)."""
        stage_names: dict[str, int] = {}
        for i, raw in _items(data, "stages"):
            if isinstance(raw.get("name"), str):
                stage_names.setdefault(raw["name"], i)
        dataset_names: dict[str, int] = {}
        for i, raw in _items(data, "datasets"):
            if isinstance(raw.get("name"), str):
                dataset_names.setdefault(raw["name"], i)
        policy = data.get("policy")
        governance = policy.get("governance") if isinstance(policy, dict) else None
        raw_classes = governance.get("classes") if isinstance(governance, dict) else None
        classes: dict[str, tuple[Path, SensitivityClass | None]] = {}
        if isinstance(raw_classes, list):
            base: Path = ("policy", "governance", "classes")
            for i, raw in _items(governance, "classes"):
                if isinstance(raw.get("name"), str):
                    classes.setdefault(raw["name"], ((*base, i), _typed(SensitivityClass, raw)))
        else:
            for c in GovernancePolicy().classes:
                classes[c.name] = ((), c)
        edges = [
            (i, raw["src"], raw["dst"])
            for i, raw in _items(data, "edges")
            if isinstance(raw.get("src"), str) and isinstance(raw.get("dst"), str)
        ]
        provider = data.get("provider", "aws")
        return cls(
            provider=provider if isinstance(provider, str) else None,
            stage_names=stage_names,
            dataset_names=dataset_names,
            stages=[(i, s) for i, raw in _items(data, "stages") if (s := _typed(Stage, raw))],
            datasets=[
                (i, d) for i, raw in _items(data, "datasets") if (d := _typed(Dataset, raw))
            ],
            classes=classes,
            candidate_regions=_strings(data.get("candidate_regions")),
            edges=edges,
        )


def unknown_name(
    what: str, name: str, known: Iterator[str] | list[str], where: str = ""
) -> tuple[str, str]:
    """Message and hint for a name that refers to nothing (``where``: e.g. a catalog)."""
    choices = sorted(known)
    guess = closest(name, choices)
    unknown = f"unknown {what} '{name}'" + (f" {where}" if where else "")
    if guess:
        return f"{unknown} (did you mean '{guess}'?)", f"use '{guess}'"
    listed = ", ".join(choices[:12]) + (" ..." if len(choices) > 12 else "")
    return unknown, f"use one of: {listed}" if choices else f"declare a {what}"


def check_names(data: dict[str, Any], smap: SourceMap) -> list[Problem]:
    """Stage and dataset names are unique; airflow bindings are unique."""
    problems: list[Problem] = []
    for key, what in (("stages", "stage"), ("datasets", "dataset")):
        first: dict[str, int] = {}
        for i, raw in _items(data, key):
            name = raw.get("name")
            if not isinstance(name, str):
                continue
            if name in first:
                line = smap.line_of((key, first[name]))
                problems.append(smap.problem(
                    (key, i, "name"),
                    f"duplicate {what} name '{name}' (also {key}[{first[name]}], line {line})",
                    f"give each {what} a unique name",
                ))
            else:
                first[name] = i
    bound: dict[tuple[str, str], int] = {}
    for i, raw in _items(data, "stages"):
        binding = raw.get("airflow")
        if not isinstance(binding, dict):
            continue
        key_pair = (str(binding.get("dag_id")), str(binding.get("task_id")))
        if key_pair in bound:
            problems.append(smap.problem(
                ("stages", i, "airflow"),
                f"Airflow task {key_pair[0]}.{key_pair[1]} is already bound to "
                f"stages[{bound[key_pair]}]",
                "bind each stage to its own Airflow task (dag_id, task_id)",
            ))
        bound.setdefault(key_pair, i)
    return problems


def check_references(facts: SpecFacts, data: dict[str, Any], smap: SourceMap) -> list[Problem]:
    """Edges name stages; reads/writes name datasets; sensitivities name policy classes."""
    problems: list[Problem] = []
    seen_edges: dict[tuple[str, str], int] = {}
    for i, src, dst in facts.edges:
        for end, name in (("src", src), ("dst", dst)):
            if name not in facts.stage_names:
                message, hint = unknown_name("stage", name, list(facts.stage_names))
                problems.append(smap.problem(("edges", i, end), message, hint))
        if (src, dst) in seen_edges:
            problems.append(smap.problem(("edges", i), f"duplicate edge {src} -> {dst}",
                                         "declare each edge once (sum the GB per run)"))
        seen_edges.setdefault((src, dst), i)
    problems += _carried(facts, data, smap)
    for i, raw in _items(data, "stages"):
        for key in ("reads", "writes"):
            for j, name in _strings(raw.get(key)):
                if name not in facts.dataset_names:
                    message, hint = unknown_name("dataset", name, list(facts.dataset_names))
                    if not facts.dataset_names:
                        hint = f"declare '{name}' under datasets: (name, uri, size_gb, home_region)"
                    problems.append(smap.problem(("stages", i, key, j), message, hint))
    for key in ("stages", "datasets"):
        for i, raw in _items(data, key):
            declared = raw.get("sensitivity")
            if isinstance(declared, str) and declared not in facts.classes:
                message, hint = unknown_name("sensitivity class", declared, list(facts.classes))
                problems.append(smap.problem((key, i, "sensitivity"), message,
                                             hint + " (or add the class under "
                                             "policy.governance.classes)"))
    return problems


def _carried(facts: SpecFacts, data: dict[str, Any], smap: SourceMap) -> list[Problem]:
    """An edge carries only declared datasets its source stage reads or writes."""
    problems: list[Problem] = []
    touched = {s.name: {*s.reads, *s.writes} for _, s in facts.stages}
    for i, raw in _items(data, "edges"):
        src = raw.get("src")
        for j, name in _strings(raw.get("carries")):
            if name not in facts.dataset_names:
                message, hint = unknown_name("dataset", name, list(facts.dataset_names))
                problems.append(smap.problem(("edges", i, "carries", j), message, hint))
            elif isinstance(src, str) and src in touched and name not in touched[src]:
                problems.append(smap.problem(
                    ("edges", i, "carries", j),
                    f"edge {src} -> {raw.get('dst')} carries '{name}', which '{src}' neither "
                    "reads nor writes",
                    f"add '{name}' to the reads or writes of stage '{src}', or drop it here",
                ))
    return problems


def _find_cycle(succ: dict[str, list[tuple[str, int]]]) -> list[tuple[str, int]] | None:
    """One cycle as ``[(node, index of the edge leaving it), ...]``, or ``None``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[tuple[str, int]] = []

    def visit(node: str) -> list[tuple[str, int]] | None:
        state[node] = 1
        for nxt, edge in succ.get(node, []):
            path.append((node, edge))
            if state.get(nxt) == 1:
                start = next(k for k, (n, _) in enumerate(path) if n == nxt)
                return path[start:]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
            path.pop()
        state[node] = 2
        return None

    for node in list(succ):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def check_cycles(facts: SpecFacts, smap: SourceMap) -> list[Problem]:
    """The stage graph is a DAG; a cycle is named stage by stage."""
    succ: dict[str, list[tuple[str, int]]] = {}
    for i, src, dst in facts.edges:
        if src in facts.stage_names and dst in facts.stage_names:
            succ.setdefault(src, []).append((dst, i))
    cycle = _find_cycle(succ)
    if cycle is None:
        return []
    names = [n for n, _ in cycle] + [cycle[0][0]]
    closing = cycle[-1][1]
    return [smap.problem(
        ("edges", closing),
        "the stages form a cycle: " + " -> ".join(names),
        "a pipeline must be a DAG: remove or reverse one of these edges",
    )]


def check_stages(facts: SpecFacts, smap: SourceMap) -> list[Problem]:
    """Per-stage rules that cross fields: online stages state a p95 latency SLO."""
    problems: list[Problem] = []
    for i, stage in facts.stages:
        if stage.mode == ExecutionMode.ONLINE and stage.slo.p95_ms is None:
            problems.append(smap.problem(
                ("stages", i, "slo", "p95_ms"),
                f"online stage '{stage.name}' has no latency SLO",
                "add slo: {p95_ms: 250} (the 95th-percentile latency target in ms)",
            ))
    return problems


def class_of(facts: SpecFacts, name: str) -> SensitivityClass | None:
    """The policy's sensitivity class of this name (``None`` if unknown or malformed)."""
    entry = facts.classes.get(name)
    return entry[1] if entry else None


def residency_ok(cls: SensitivityClass, region: str, catalog: Catalog | None) -> bool:
    """Whether data of class ``cls`` may live in ``region`` (jurisdiction needs a catalog)."""
    if cls.allowed_regions is not None and region not in cls.allowed_regions:
        return False
    if cls.allowed_jurisdictions is not None and catalog is not None:
        known = {r.id: r for r in catalog.regions}
        if region in known and known[region].jurisdiction not in cls.allowed_jurisdictions:
            return False
    return True


def rule_text(cls: SensitivityClass) -> str:
    """Where a class lets its data live, in words."""
    parts = []
    if cls.allowed_regions is not None:
        parts.append("regions " + ", ".join(cls.allowed_regions))
    if cls.allowed_jurisdictions is not None:
        parts.append("jurisdictions " + ", ".join(cls.allowed_jurisdictions))
    return " and ".join(parts) or "anywhere"


def check_buckets(facts: SpecFacts, smap: SourceMap, catalog: Catalog | None) -> list[Problem]:
    """Datasets in one S3 bucket share one home region (a bucket lives in one region).

    A region the catalog does not know is reported by the catalog check, not again here.
    """
    known = {r.id for r in catalog.regions} if catalog is not None else None
    problems: list[Problem] = []
    first: dict[str, tuple[int, Dataset]] = {}
    for i, d in facts.datasets:
        uri = d.uri.strip()
        if not uri.startswith("s3://"):
            continue
        bucket = uri[5:].split("/", 1)[0]
        if bucket not in first:
            first[bucket] = (i, d)
            continue
        j, other = first[bucket]
        unknown = known is not None and not {d.home_region, other.home_region} <= known
        if other.home_region != d.home_region and not unknown:
            problems.append(smap.problem(
                ("datasets", i, "home_region"),
                f"dataset '{d.name}' is in bucket '{bucket}' with home region "
                f"{d.home_region}, but '{other.name}' (datasets[{j}]) in the same bucket has "
                f"{other.home_region}; an S3 bucket lives in one region",
                f"use the bucket's region ({other.home_region}) or give '{d.name}' a bucket "
                f"of its own in {d.home_region}",
            ))
    return problems


def check_residency(facts: SpecFacts, smap: SourceMap, catalog: Catalog | None) -> list[Problem]:
    """Classes admit some region; datasets live where their own class allows."""
    problems: list[Problem] = []
    jurisdictions = {r.jurisdiction for r in catalog.regions} if catalog else set()
    for name, (path, cls) in facts.classes.items():
        if cls is None or not path:
            continue
        if catalog is not None and not jurisdictions.issuperset(cls.allowed_jurisdictions or ()):
            continue  # the unknown jurisdiction is reported by the catalog check
        if catalog is not None:
            admitted = [r.id for r in catalog.regions if residency_ok(cls, r.id, catalog)]
        else:
            admitted = list(cls.allowed_regions) if cls.allowed_regions is not None else ["*"]
        if not admitted:
            problems.append(smap.problem(
                path,
                f"sensitivity class '{name}' allows {rule_text(cls)}, which matches no region",
                "make allowed_regions and allowed_jurisdictions agree (a region listed must "
                "lie in a listed jurisdiction)",
            ))
    for i, dataset in facts.datasets:
        cls = class_of(facts, dataset.sensitivity)
        if cls is not None and not residency_ok(cls, dataset.home_region, catalog):
            problems.append(smap.problem(
                ("datasets", i, "home_region"),
                f"dataset '{dataset.name}' is '{dataset.sensitivity}' data, which may only be "
                f"stored in {rule_text(cls)}, but its home region is {dataset.home_region}",
                "move the dataset's home_region into an allowed region, or classify it "
                "differently",
            ))
    return problems
