"""Lineage: which sensitivity classes the bytes of every dataset, stage and edge carry.

A class never disappears on its way through a pipeline unless the policy says it may:

* a dataset carries its declared class, plus every class its writers output;
* a stage's **inputs** are the classes of the datasets it reads, of the data handed to it
  along edges (the datasets an edge ``carries``; without ``carries``, everything the
  source stage outputs and the datasets it writes), and its own ``sensitivity`` (a class
  it handles besides its data, e.g. the requests it serves);
* a stage's **outputs** are its inputs, except that a stage declaring
  ``declassifies: {from: F, to: T}`` outputs ``T`` in place of ``F`` — *only* when an
  allowance in ``policy.governance.declassifications`` covers that stage (who may
  declassify what is policy, not spec). A declassification no allowance covers changes
  nothing (fail-closed) and is reported.

The classes are computed as a least fixpoint (classes only ever get added, so it ends),
which also covers datasets read upstream of where they are written. Every added class
remembers where it came from, so a violation reads as a path::

    credit_features (restricted) → score → public_dump

Pure: no I/O, no Airflow; the spec checks, the gates, the cost/risk models, the audit
hooks and the IAM policies all read one :class:`Lineage`.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from airflow_cloudplan.model.policy import GovernancePolicy, SensitivityClass
from airflow_cloudplan.model.workload import DataEdge, Dataset, Pipeline, Stage

# Node kinds in provenance records.
_DATASET, _IN, _OUT = "dataset", "in", "out"
_Node = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class DeclassificationIssue:
    """A stage's ``declassifies`` that lineage could not honour, and how to fix it."""

    stage: str
    kind: str  # "unknown_class", "not_lower", "not_allowed", "no_effect"
    message: str
    hint: str


@dataclass
class Lineage:
    """Classes per dataset, per stage (inputs, outputs) with their provenance."""

    datasets: dict[str, frozenset[str]]
    inputs: dict[str, frozenset[str]]
    outputs: dict[str, frozenset[str]]
    declared_outputs: dict[str, frozenset[str]]
    issues: tuple[DeclassificationIssue, ...]
    applied: dict[str, tuple[str, str]]
    _prov: dict[tuple[_Node, str], tuple[_Node, str] | None] = field(repr=False)

    # -- queries ----------------------------------------------------------------------
    def dataset(self, name: str) -> frozenset[str]:
        """Classes the bytes of a dataset carry (declared + inherited)."""
        return self.datasets.get(name, frozenset())

    def handled(self, stage: str) -> frozenset[str]:
        """Every class a stage processes: inputs, outputs and its outputs' declared classes."""
        return (
            self.inputs.get(stage, frozenset())
            | self.outputs.get(stage, frozenset())
            | self.declared_outputs.get(stage, frozenset())
        )

    def inherited(self, dataset: str, declared: str) -> frozenset[str]:
        """Classes a dataset carries beyond its declared one."""
        return self.dataset(dataset) - {declared}

    def path(self, dataset: str, cls: str) -> str:
        """How class ``cls`` reached dataset ``dataset``, e.g. ``a (restricted) → s → b``."""
        return self._render(((_DATASET, dataset), cls))

    def stage_path(self, stage: str, cls: str) -> str:
        """How class ``cls`` reached stage ``stage``'s inputs (or outputs)."""
        key: tuple[_Node, str] = ((_IN, stage), cls)
        if key not in self._prov:
            key = ((_OUT, stage), cls)
        return self._render(key)

    # -- rendering --------------------------------------------------------------------
    def _chain(self, key: tuple[_Node, str]) -> list[tuple[_Node, str]]:
        chain: list[tuple[_Node, str]] = []
        seen: set[tuple[_Node, str]] = set()
        cur: tuple[_Node, str] | None = key
        while cur is not None and cur not in seen:
            seen.add(cur)
            chain.append(cur)
            cur = self._prov.get(cur)
        chain.reverse()
        return chain

    def _render(self, key: tuple[_Node, str]) -> str:
        parts: list[str] = []
        last_stage: str | None = None
        chain = self._chain(key)
        for i, ((kind, name), cls) in enumerate(chain):
            if kind == _DATASET:
                parts.append(f"{name} ({cls})" if i == 0 else name)
                last_stage = None
                continue
            if i == 0:  # a class the stage itself declares (its sensitivity)
                parts.append(f"{name} (handles {cls})")
                last_stage = name
                continue
            if name != last_stage:
                parts.append(name)
                last_stage = name
            if kind == _OUT and i > 0:
                (_pk, pname), pcls = chain[i - 1]
                if pname == name and pcls != cls:
                    parts[-1] = f"{name} (declassifies {pcls} → {cls})"
        return " → ".join(parts)


def _rank(governance: GovernancePolicy, name: str) -> int | None:
    try:
        return governance.sensitivity_class(name).rank
    except KeyError:
        return None


def _declassification(
    stage: Stage, governance: GovernancePolicy, inputs: Iterable[str]
) -> tuple[tuple[str, str] | None, list[DeclassificationIssue]]:
    """The (from, to) mapping lineage applies for a stage, and what is wrong with its claim."""
    decl = stage.declassifies
    if decl is None:
        return None, []
    src, dst = decl.from_class, decl.to_class
    r_src, r_dst = _rank(governance, src), _rank(governance, dst)
    where = (f"policy.governance.declassifications: "
             f"{{from: {src}, to: {dst}, stages: [{stage.name}]}}")
    if r_src is None or r_dst is None:
        unknown = src if r_src is None else dst
        known = ", ".join(c.name for c in governance.classes)
        return None, [DeclassificationIssue(
            stage.name, "unknown_class",
            f"stage '{stage.name}' declassifies with unknown class '{unknown}'",
            f"use one of the policy's classes: {known}",
        )]
    if r_dst >= r_src:
        return None, [DeclassificationIssue(
            stage.name, "not_lower",
            f"stage '{stage.name}' 'declassifies' {src} → {dst}, but '{dst}' is not less "
            f"sensitive than '{src}'",
            "name a lower class in 'to', or remove 'declassifies'",
        )]
    allowed = any(
        a.from_class == src
        and (r_a := _rank(governance, a.to_class)) is not None
        and r_dst >= r_a
        and a.covers_stage(stage.name, stage.kind)
        for a in governance.declassifications
    )
    if not allowed:
        return None, [DeclassificationIssue(
            stage.name, "not_allowed",
            f"stage '{stage.name}' declassifies {src} → {dst} ({decl.justification!r}), but no "
            "policy allowance covers it, so its outputs stay "
            f"'{src}'",
            f"ask the policy owner to add to {where}, or remove 'declassifies'",
        )]
    if src not in set(inputs):
        return (src, dst), [DeclassificationIssue(
            stage.name, "no_effect",
            f"stage '{stage.name}' declassifies {src} → {dst} but handles no '{src}' data",
            "remove 'declassifies' (or check the stage's reads and edges)",
        )]
    return (src, dst), []


class _Propagation:
    """Reachability of (node, class) pairs from the declared classes, breadth first.

    A class reaches a node exactly when it is in the least fixpoint of the rules in the
    module docstring; exploring breadth first makes every recorded provenance a shortest
    path, so a violation names the most direct route the data took.
    """

    def __init__(self, stages: Sequence[Stage], datasets: Sequence[Dataset],
                 edges: Sequence[DataEdge | tuple[str, str]],
                 governance: GovernancePolicy) -> None:
        names = {s.name for s in stages}
        known = {d.name for d in datasets}
        self.prov: dict[tuple[_Node, str], tuple[_Node, str] | None] = {}
        self.ds: dict[str, set[str]] = {d.name: set() for d in datasets}
        self.ins: dict[str, set[str]] = {s.name: set() for s in stages}
        self.outs: dict[str, set[str]] = {s.name: set() for s in stages}
        self.readers: dict[str, list[str]] = {d: [] for d in known}
        self.writes: dict[str, list[str]] = {s.name: [] for s in stages}
        self.succ: dict[str, list[str]] = {s.name: [] for s in stages}
        self.handed: dict[str, list[str]] = {d: [] for d in known}
        for s in stages:
            for d in dict.fromkeys(s.reads):
                if d in known:
                    self.readers[d].append(s.name)
            self.writes[s.name] = [d for d in dict.fromkeys(s.writes) if d in known]
        for e in edges:
            src, dst = (e.src, e.dst) if isinstance(e, DataEdge) else e
            carries = e.carries if isinstance(e, DataEdge) else None
            if src not in names or dst not in names:
                continue
            if carries is not None:
                for d in dict.fromkeys(carries):
                    if d in known:
                        self.handed[d].append(dst)
                continue
            self.succ[src].append(dst)
            for d in self.writes[src]:
                self.handed[d].append(dst)
        self.mapping: dict[str, tuple[str, str] | None] = {
            s.name: _declassification(s, governance, ())[0] for s in stages
        }
        self.sources: list[tuple[_Node, str]] = [((_DATASET, d.name), d.sensitivity)
                                                 for d in datasets]
        self.sources += [((_IN, s.name), s.sensitivity) for s in stages
                         if s.sensitivity is not None]

    def _next(self, node: _Node, cls: str) -> list[tuple[_Node, str]]:
        kind, name = node
        if kind == _DATASET:
            return [((_IN, s), cls) for s in (*self.readers[name], *self.handed[name])]
        if kind == _IN:
            m = self.mapping[name]
            return [((_OUT, name), m[1] if m is not None and cls == m[0] else cls)]
        return [((_DATASET, d), cls) for d in self.writes[name]] + [
            ((_IN, dst), cls) for dst in self.succ[name]
        ]

    def run(self) -> None:
        queue: deque[tuple[_Node, str]] = deque()
        for key in self.sources:
            if key not in self.prov:
                self.prov[key] = None
                queue.append(key)
        while queue:
            key = queue.popleft()
            (kind, name), cls = key
            target = {_DATASET: self.ds, _IN: self.ins, _OUT: self.outs}[kind]
            target[name].add(cls)
            for nxt in self._next(*key):
                if nxt not in self.prov:
                    self.prov[nxt] = key
                    queue.append(nxt)


def compute_lineage(
    stages: Sequence[Stage],
    datasets: Sequence[Dataset],
    edges: Sequence[DataEdge | tuple[str, str]],
    governance: GovernancePolicy,
) -> Lineage:
    """Classes of every dataset and stage (see the module docstring).

    Tolerant of dangling names (the spec checks report those): a read or write of an
    undeclared dataset, or an edge to an unknown stage, carries nothing.
    """
    prop = _Propagation(stages, datasets, edges, governance)
    prop.run()
    by_name = {d.name: d for d in datasets}
    issues: list[DeclassificationIssue] = []
    for s in stages:
        issues.extend(_declassification(s, governance, prop.ins[s.name])[1])
    applied = {
        k: v for k, v in prop.mapping.items() if v is not None and v[0] in prop.ins[k]
    }
    return Lineage(
        datasets={k: frozenset(v) for k, v in prop.ds.items()},
        inputs={k: frozenset(v) for k, v in prop.ins.items()},
        outputs={k: frozenset(v) for k, v in prop.outs.items()},
        declared_outputs={
            s.name: frozenset(by_name[n].sensitivity for n in s.writes if n in by_name)
            for s in stages
        },
        issues=tuple(issues),
        applied=applied,
        _prov=prop.prov,
    )


_CACHE: OrderedDict[tuple[int, int], tuple[Pipeline, GovernancePolicy, Lineage]] = OrderedDict()
_CACHE_SIZE = 32


def lineage_of(pipeline: Pipeline, governance: GovernancePolicy) -> Lineage:
    """The lineage of a pipeline under a policy (memoised: gates ask it per option)."""
    key = (id(pipeline), id(governance))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is pipeline and hit[1] is governance:
        _CACHE.move_to_end(key)
        return hit[2]
    result = compute_lineage(pipeline.stages, pipeline.datasets, pipeline.edges, governance)
    _CACHE[key] = (pipeline, governance, result)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


@dataclass(frozen=True)
class HomeViolation:
    """A dataset whose home region does not admit a class it inherits by lineage."""

    index: int
    dataset: str
    home_region: str
    cls: SensitivityClass
    path: str
    writers: tuple[str, ...]


def inherited_home_violations(
    pipeline: Pipeline, governance: GovernancePolicy, lineage: Lineage,
    allowed: Callable[[SensitivityClass, str], bool],
) -> list[HomeViolation]:
    """Datasets that would store inherited classes where those classes may not live.

    ``allowed(cls, region)`` is the caller's residency test (the spec checks may run
    without a catalog; the gates always have one). Declared classes are checked by the
    callers' own home-region checks.
    """
    out: list[HomeViolation] = []
    for i, d in enumerate(pipeline.datasets):
        for name in sorted(lineage.inherited(d.name, d.sensitivity)):
            try:
                cls = governance.sensitivity_class(name)
            except KeyError:
                continue
            if not allowed(cls, d.home_region):
                out.append(HomeViolation(
                    i, d.name, d.home_region, cls, lineage.path(d.name, name),
                    tuple(s.name for s in pipeline.stages if d.name in s.writes),
                ))
    return out


def most_sensitive(
    governance: GovernancePolicy, names: Iterable[str]
) -> SensitivityClass | None:
    """The highest-ranked known class among ``names`` (ties: the first by name)."""
    best: SensitivityClass | None = None
    for n in sorted(set(names)):
        try:
            cls = governance.sensitivity_class(n)
        except KeyError:
            continue
        if best is None or cls.rank > best.rank:
            best = cls
    return best


def known_classes(
    governance: GovernancePolicy, names: Iterable[str]
) -> list[SensitivityClass]:
    """The policy's classes among ``names`` (unknown names dropped), most sensitive first."""
    out: list[SensitivityClass] = []
    for n in sorted(set(names)):
        try:
            out.append(governance.sensitivity_class(n))
        except KeyError:
            continue
    return sorted(out, key=lambda c: (-c.rank, c.name))
