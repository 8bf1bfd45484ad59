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

Classes are the lineage classes of :mod:`airflow_cloudplan.dataflow.lineage` (data
carries at least the class of everything it was derived from); places are the locations
of :mod:`airflow_cloudplan.dataflow.locations`. Items counted for stage k under option o:

* **public endpoint**: 1 if the stage declares ``public_endpoint``, weighted by the stage's
  sensitivity class;
* **copies**: every location the option itself creates — caches (also in the dataset's
  home region, where the cache is still a second place the data lives), replicas and
  partitions (only of datasets homed elsewhere: at home they read in place), and a
  training stage's checkpoints — weighted by the most sensitive class of what it holds;
* **cross-region copies**: each copy outside its dataset's home region counts *again*
  (a second place, often another jurisdiction, where the data lives);
* **identities with data-plane access**: the stage's runtime identity, weighted by the
  stage's class (1 identity whether scoped or shared; sharing is priced by the blast
  radius, not here).

``identity_reach(k)`` is the blast radius of stage k's own scoped identity: everything it
can touch, ``Σ_{d ∈ reads(k)} w(d) + Σ_{d ∈ writes(k)} w(d)`` (a dataset read *and*
written counts twice: the identity can both leak and corrupt it), with w(d) the weight of
the most sensitive class the dataset carries. A shared identity's blast radius is the sum
of the reach of every stage using it (computed by the optimizer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_cloudplan.dataflow.lineage import lineage_of, most_sensitive
from airflow_cloudplan.dataflow.locations import DataLocation, stage_locations
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import StageOption
from airflow_cloudplan.model.policy import GovernancePolicy, SensitivityClass


@dataclass(frozen=True)
class DatasetCopy:
    """A place the option itself puts data: cache, replica, partition or checkpoints."""

    dataset: str
    sensitivity: str
    kind: str  # "cache", "replica", "partition" or "checkpoint"
    region: str
    home_region: str
    uri: str | None = None

    @property
    def cross_region(self) -> bool:
        """The copy lives outside the dataset's home region."""
        return self.region != self.home_region

    @classmethod
    def of(cls, loc: DataLocation, governance: GovernancePolicy) -> DatasetCopy:
        """The copy at a location held by the option."""
        top = most_sensitive(governance, loc.classes)
        return cls(
            dataset=loc.dataset or f"{loc.stage} checkpoints",
            sensitivity=top.name if top is not None else min(loc.classes, default=""),
            kind=loc.kind.value,
            region=loc.region,
            home_region=loc.home_region or loc.region,
            uri=loc.uri,
        )


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
                    "uri": c.uri,
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


def stage_sensitivity(inp: PlanningInput, stage_name: str) -> SensitivityClass | None:
    """The most sensitive class a stage handles, by lineage (inputs, outputs, its own).

    ``None`` when the stage touches no classified data and declares no class (no
    residency or audit rule then applies to its placement).
    """
    lineage = lineage_of(inp.pipeline, inp.policy.governance)
    return most_sensitive(inp.policy.governance, lineage.handled(stage_name))


def implied_copies(inp: PlanningInput, stage_name: str, option: StageOption) -> list[DatasetCopy]:
    """Every copy (cache, replica, partition, checkpoints) ``option`` puts somewhere."""
    gov = inp.policy.governance
    return [
        DatasetCopy.of(loc, gov)
        for loc in stage_locations(inp, stage_name, option)
        if loc.held_by_option
    ]


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
    lineage = lineage_of(inp.pipeline, gov)
    reach = 0.0
    for names in (dict.fromkeys(stage.reads), dict.fromkeys(stage.writes)):
        for name in names:
            if name in inp.pipeline.dataset_by_name:
                top = most_sensitive(gov, lineage.dataset(name))
                reach += class_weight(gov, top.name if top is not None else None)
    return reach
