"""What every rule sees: the planning input plus per-stage facts computed once.

Rules are small pure functions ``rule(ctx, stage_name, option) -> list[Violation]``; the
context caches the derived facts they share (a stage's sensitivity classes, an option's
exposure) so that screening thousands of options does not recompute them per rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from airflow_cloudplan.dataflow.lineage import Lineage, known_classes, lineage_of
from airflow_cloudplan.dataflow.locations import DataLocation, stage_locations
from airflow_cloudplan.gates.exposure import Exposure, exposure_of
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import StageOption, Violation
from airflow_cloudplan.model.policy import SensitivityClass


@dataclass
class GateContext:
    """The input plus memoised facts shared by the rules."""

    inp: PlanningInput
    _exposure: dict[tuple[str, str], Exposure] = field(default_factory=dict)
    _classes: dict[str, list[tuple[str, SensitivityClass]]] = field(default_factory=dict)
    _locations: dict[tuple[str, str], tuple[DataLocation, ...]] = field(default_factory=dict)

    def exposure(self, stage_name: str, option: StageOption) -> Exposure:
        """The option's exposure (memoised by stage and option id)."""
        key = (stage_name, option.id)
        if key not in self._exposure:
            self._exposure[key] = exposure_of(self.inp, stage_name, option)
        return self._exposure[key]

    @cached_property
    def lineage(self) -> Lineage:
        """Classes of every dataset and stage (computed once per input)."""
        return lineage_of(self.inp.pipeline, self.inp.policy.governance)

    def locations(self, stage_name: str, option: StageOption) -> tuple[DataLocation, ...]:
        """Where the option reads, writes and copies bytes (memoised by stage and option)."""
        key = (stage_name, option.id)
        if key not in self._locations:
            self._locations[key] = stage_locations(self.inp, stage_name, option)
        return self._locations[key]

    def placement_classes(self, stage_name: str) -> list[tuple[str, SensitivityClass]]:
        """Classes whose residency the stage's placement must satisfy, with their source.

        Every class the stage handles by lineage (what it reads or receives, its own
        ``sensitivity``, what it writes); each entry is ``(how the class got there,
        class)``, e.g. ``("loan_applications (restricted) → transform", restricted)``.
        """
        if stage_name not in self._classes:
            lineage = self.lineage
            inputs = lineage.inputs.get(stage_name, frozenset())
            outputs = lineage.outputs.get(stage_name, frozenset())
            stage = self.inp.pipeline.stage_by_name[stage_name]
            out: list[tuple[str, SensitivityClass]] = []
            for cls in known_classes(self.inp.policy.governance, lineage.handled(stage_name)):
                if cls.name in inputs or cls.name in outputs:
                    source = lineage.stage_path(stage_name, cls.name)
                else:
                    written = [n for n in stage.writes
                               if (d := self.inp.pipeline.dataset_by_name.get(n)) is not None
                               and d.sensitivity == cls.name]
                    source = f"{stage_name} → {', '.join(written)} ({cls.name})"
                out.append((source, cls))
            self._classes[stage_name] = out
        return self._classes[stage_name]


Rule = Callable[[GateContext, str, StageOption], list[Violation]]
"""A per-option rule: returns the violations of ``option`` for ``stage_name`` (empty = ok)."""


def class_field(inp: PlanningInput, cls: SensitivityClass, attr: str) -> str:
    """The policy path of a class attribute, e.g. ``policy.governance.classes[3].x``."""
    idx = [c.name for c in inp.policy.governance.classes].index(cls.name)
    return f"policy.governance.classes[{idx}].{attr}"
