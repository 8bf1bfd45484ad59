"""Risk model R = Σ_k exposure surface × blast radius (docs/models.md §6).

Both factors are defined once, in :mod:`airflow_cloudplan.gates.exposure`, so the
governance gate's exposure budgets and the optimizer score the same quantity:
e[k,o] = ``exposure_of(inp, k, o).units`` and reach[k] = ``identity_reach(inp, k)``.
This module adds the coupling through shared identities: a stage that runs under its own
scoped identity has blast radius reach[k]; every stage that runs under the shared identity
has blast radius Σ_{j uses shared} reach[j] (everything the shared identity can reach), so

    R = Σ_k e[k,o_k] · (reach[k] if o_k is scoped else Σ_{j: o_j shared} reach[j]).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow_cloudplan.gates.exposure import exposure_of, identity_reach
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import Isolation, StageOption


@dataclass(frozen=True)
class StageRisk:
    """Risk of one stage: exposure units × blast radius units."""

    stage: str
    exposure: float
    blast_radius: float

    @property
    def risk(self) -> float:
        """Exposure × blast radius."""
        return self.exposure * self.blast_radius


def stage_risk(
    inp: PlanningInput, stage_name: str, option: StageOption, shared_reach: float | None = None
) -> StageRisk:
    """Risk of one stage; ``shared_reach`` is the shared identity's total reach.

    For a scoped option the blast radius is the stage's own reach. For a shared option it
    is ``shared_reach`` (Σ reach of all stages using the shared identity); when omitted,
    the stage is assumed to be the shared identity's only user.
    """
    exposure = exposure_of(inp, stage_name, option).units
    own = identity_reach(inp, stage_name)
    if option.isolation is Isolation.SHARED:
        radius = own if shared_reach is None else shared_reach
    else:
        radius = own
    return StageRisk(stage_name, exposure, radius)


def shared_identity_reach(inp: PlanningInput, assignment: Mapping[str, StageOption]) -> float:
    """Blast radius of the shared identity: Σ reach of the stages that use it."""
    return sum(
        identity_reach(inp, k) for k, o in assignment.items() if o.isolation is Isolation.SHARED
    )


def plan_risks(inp: PlanningInput, assignment: Mapping[str, StageOption]) -> list[StageRisk]:
    """Per-stage risks of a full assignment, with shared-identity coupling."""
    shared = shared_identity_reach(inp, assignment)
    return [stage_risk(inp, k, o, shared) for k, o in assignment.items()]


def plan_risk(inp: PlanningInput, assignment: Mapping[str, StageOption]) -> float:
    """R of a full assignment (stage → option)."""
    return sum(r.risk for r in plan_risks(inp, assignment))
