"""Exposure surface of a deployment option and the reach of a stage's identity.

The optimizer's risk model is ``risk[k] = exposure[k,o] × blast_radius[k]`` (see
``optimize/problem.py`` and docs/gates.md). This module defines both factors, once, so the
governance gate (per-stage and total exposure budgets) and the optimizer score the same
quantity.

Unit: one **exposure unit** is one exposed item weighted by the sensitivity of what it
exposes, ``w(class) = 1 + rank(class)`` (with the default classes: public 1, internal 2,
confidential 3, restricted 4). A weight of at least 1 means even public data or a data-less
endpoint counts as attack surface; more sensitive data counts more, independent of size
(a leaked 1 GB of restricted data is as bad as 1 TB for residency purposes).

Items counted for stage k under option o:

* **public endpoint**: 1 if the stage declares ``public_endpoint``, weighted by the stage's
  sensitivity class;
* **copies** (replicas and caches): every read dataset that the access strategy copies
  into the stage's region, weighted by the dataset's class. ``regional_cache`` always keeps
  a cache node holding the data (even in the dataset's home region);
  ``selective_replication`` and ``partitioned_locality`` copy only datasets whose home
  region differs from the stage's region (in the home region they read in place);
  ``direct`` copies nothing;
* **cross-region copies**: each copy outside its dataset's home region counts *again*
  (a second place, often another jurisdiction, where the data lives);
* **identities with data-plane access**: the stage's runtime identity, weighted by the
  stage's class (1 identity whether scoped or shared; sharing is priced by the blast
  radius, not here).

``identity_reach(k)`` is the blast radius of stage k's own scoped identity: everything it
can touch, ``Σ_{d ∈ reads(k)} w(d) + Σ_{d ∈ writes(k)} w(d)`` (a dataset read *and*
written counts twice: the identity can both leak and corrupt it). A shared identity's blast
radius is the sum of the reach of every stage using it (computed by the optimizer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import AccessStrategy, StageOption
from airflow_cloudplan.model.policy import GovernancePolicy, SensitivityClass
from airflow_cloudplan.model.workload import Dataset, Stage

_COPYING = {
    AccessStrategy.REGIONAL_CACHE,
    AccessStrategy.SELECTIVE_REPLICATION,
    AccessStrategy.PARTITIONED_LOCALITY,
}


@dataclass(frozen=True)
class DatasetCopy:
    """A copy (replica, cache or partition copy) of a dataset implied by an option."""

    dataset: str
    sensitivity: str
    kind: str  # "cache", "replica" or "partition"
    region: str
    home_region: str

    @property
    def cross_region(self) -> bool:
        """The copy lives outside the dataset's home region."""
        return self.region != self.home_region


@dataclass(frozen=True)
class Exposure:
    """Itemised exposure surface of one option of one stage, and its weighted units."""

    stage: str
    sensitivity: str | None
    public_endpoints: int
    copies: tuple[DatasetCopy, ...]
    copies_by_class: dict[str, int] = field(default_factory=dict)
    cross_region_copies: int = 0
    data_plane_identities: int = 1
    units: float = 0.0

    def as_json(self) -> dict[str, object]:
        """A JSON-able rendering (the ``exposure`` field of the gate input document)."""
        return {
            "stage": self.stage,
            "sensitivity": self.sensitivity,
            "public_endpoints": self.public_endpoints,
            "copies": [
                {
                    "dataset": c.dataset,
                    "sensitivity": c.sensitivity,
                    "kind": c.kind,
                    "region": c.region,
                    "home_region": c.home_region,
                    "cross_region": c.cross_region,
                }
                for c in self.copies
            ],
            "copies_by_class": dict(self.copies_by_class),
            "cross_region_copies": self.cross_region_copies,
            "data_plane_identities": self.data_plane_identities,
            "units": self.units,
        }


def class_weight(governance: GovernancePolicy, class_name: str | None) -> float:
    """``1 + rank`` of a sensitivity class (1 for no class or an unknown class name).

    Unknown names are reported by :func:`airflow_cloudplan.gates.validate.validate_policy`;
    here they weigh as the least sensitive so that scoring never crashes mid-solve.
    """
    if class_name is None:
        return 1.0
    try:
        return 1.0 + governance.sensitivity_class(class_name).rank
    except KeyError:
        return 1.0


def stage_datasets(inp: PlanningInput, stage: Stage) -> list[Dataset]:
    """Declared datasets a stage reads or writes, in declaration order, without repeats."""
    by_name = inp.pipeline.dataset_by_name
    seen: dict[str, Dataset] = {}
    for name in (*stage.reads, *stage.writes):
        if name in by_name and name not in seen:
            seen[name] = by_name[name]
    return list(seen.values())


def stage_sensitivity(inp: PlanningInput, stage_name: str) -> SensitivityClass | None:
    """The class a stage obeys: its override, else the most sensitive of its datasets.

    ``None`` when the stage touches no declared dataset and has no override (no residency
    or audit rule then applies to its placement).
    """
    stage = inp.pipeline.stage_by_name[stage_name]
    gov = inp.policy.governance
    if stage.sensitivity is not None:
        try:
            return gov.sensitivity_class(stage.sensitivity)
        except KeyError:
            return None
    best: SensitivityClass | None = None
    for d in stage_datasets(inp, stage):
        try:
            cls = gov.sensitivity_class(d.sensitivity)
        except KeyError:
            continue
        if best is None or cls.rank > best.rank:
            best = cls
    return best


def implied_copies(inp: PlanningInput, stage_name: str, option: StageOption) -> list[DatasetCopy]:
    """Every copy of a read dataset that ``option``'s access strategy puts in its region."""
    if option.access not in _COPYING:
        return []
    stage = inp.pipeline.stage_by_name[stage_name]
    by_name = inp.pipeline.dataset_by_name
    kind = {
        AccessStrategy.REGIONAL_CACHE: "cache",
        AccessStrategy.SELECTIVE_REPLICATION: "replica",
        AccessStrategy.PARTITIONED_LOCALITY: "partition",
    }[option.access]
    copies: list[DatasetCopy] = []
    for name in dict.fromkeys(stage.reads):
        d = by_name.get(name)
        if d is None:
            continue
        if kind != "cache" and d.home_region == option.region:
            continue
        copies.append(
            DatasetCopy(
                dataset=d.name,
                sensitivity=d.sensitivity,
                kind=kind,
                region=option.region,
                home_region=d.home_region,
            )
        )
    return copies


def exposure_of(inp: PlanningInput, stage_name: str, option: StageOption) -> Exposure:
    """The itemised exposure surface of running ``stage_name`` with ``option``."""
    gov = inp.policy.governance
    stage = inp.pipeline.stage_by_name[stage_name]
    cls = stage_sensitivity(inp, stage_name)
    cls_name = cls.name if cls is not None else stage.sensitivity
    stage_w = class_weight(gov, cls_name)
    copies = implied_copies(inp, stage_name, option)
    by_class: dict[str, int] = {}
    units = 0.0
    cross = 0
    for c in copies:
        by_class[c.sensitivity] = by_class.get(c.sensitivity, 0) + 1
        w = class_weight(gov, c.sensitivity)
        units += w
        if c.cross_region:
            cross += 1
            units += w
    public = 1 if stage.public_endpoint else 0
    units += public * stage_w
    identities = 1
    units += identities * stage_w
    return Exposure(
        stage=stage_name,
        sensitivity=cls_name,
        public_endpoints=public,
        copies=tuple(copies),
        copies_by_class=dict(sorted(by_class.items())),
        cross_region_copies=cross,
        data_plane_identities=identities,
        units=units,
    )


def identity_reach(inp: PlanningInput, stage_name: str) -> float:
    """Blast radius of the stage's own scoped identity (see the module docstring)."""
    gov = inp.policy.governance
    stage = inp.pipeline.stage_by_name[stage_name]
    by_name = inp.pipeline.dataset_by_name
    reach = 0.0
    for names in (dict.fromkeys(stage.reads), dict.fromkeys(stage.writes)):
        for name in names:
            d = by_name.get(name)
            if d is not None:
                reach += class_weight(gov, d.sensitivity)
    return reach
