"""What every rule sees: the planning input plus per-stage facts computed once.

Rules are small pure functions ``rule(ctx, stage_name, option) -> list[Violation]``; the
context caches the derived facts they share (a stage's sensitivity classes, an option's
exposure) so that screening thousands of options does not recompute them per rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_cloudplan.gates.exposure import Exposure, exposure_of, stage_sensitivity
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import StageOption, Violation
from airflow_cloudplan.model.policy import SensitivityClass


@dataclass
class GateContext:
    """The input plus memoised facts shared by the rules."""

    inp: PlanningInput
    _exposure: dict[tuple[str, str], Exposure] = field(default_factory=dict)
    _classes: dict[str, list[tuple[str, SensitivityClass]]] = field(default_factory=dict)

    def exposure(self, stage_name: str, option: StageOption) -> Exposure:
        """The option's exposure (memoised by stage and option id)."""
        key = (stage_name, option.id)
        if key not in self._exposure:
            self._exposure[key] = exposure_of(self.inp, stage_name, option)
        return self._exposure[key]

    def placement_classes(self, stage_name: str) -> list[tuple[str, SensitivityClass]]:
        """Classes whose residency the stage's placement must satisfy, with their source.

        A stage with a ``sensitivity`` override obeys that class only; otherwise it obeys
        every class of the datasets it reads or writes (the data is processed where the
        stage runs). Each entry is ``(source path, class)``.
        """
        if stage_name not in self._classes:
            inp = self.inp
            stage = inp.pipeline.stage_by_name[stage_name]
            gov = inp.policy.governance
            out: list[tuple[str, SensitivityClass]] = []
            if stage.sensitivity is not None:
                cls = stage_sensitivity(inp, stage_name)
                if cls is not None:
                    out.append((f"stages[{stage_name}].sensitivity", cls))
            else:
                seen: set[str] = set()
                for name in (*stage.reads, *stage.writes):
                    d = inp.pipeline.dataset_by_name.get(name)
                    if d is None or d.sensitivity in seen:
                        continue
                    seen.add(d.sensitivity)
                    try:
                        out.append((f"datasets[{name}].sensitivity",
                                    gov.sensitivity_class(d.sensitivity)))
                    except KeyError:
                        continue
            self._classes[stage_name] = out
        return self._classes[stage_name]


Rule = Callable[[GateContext, str, StageOption], list[Violation]]
"""A per-option rule: returns the violations of ``option`` for ``stage_name`` (empty = ok)."""


def class_field(inp: PlanningInput, cls: SensitivityClass, attr: str) -> str:
    """The policy path of a class attribute, e.g. ``policy.governance.classes[3].x``."""
    idx = [c.name for c in inp.policy.governance.classes].index(cls.name)
    return f"policy.governance.classes[{idx}].{attr}"
