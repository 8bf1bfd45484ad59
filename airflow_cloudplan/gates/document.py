"""The JSON input document every gate sees, for one option of one stage.

Built-in rules read the same facts from Python objects; user Rego rules read this document
as ``input``. Its shape is documented in docs/gates.md and is part of the public contract:
add fields, never rename them.

``{"pipeline", "stage", "option", "exposure", "policy", "region", "tier", "instance_type"}``
"""

from __future__ import annotations

from typing import Any

from airflow_cloudplan.gates.context import GateContext
from airflow_cloudplan.gates.exposure import stage_sensitivity
from airflow_cloudplan.model.plan import StageOption


class DocumentBuilder:
    """Builds input documents, serialising the pipeline and policy once per screening."""

    def __init__(self, ctx: GateContext) -> None:
        self._ctx = ctx
        inp = ctx.inp
        self._pipeline = inp.pipeline.model_dump(mode="json")
        self._policy = inp.policy.model_dump(mode="json")
        self._stages: dict[str, dict[str, Any]] = {}
        self._catalog: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._last: tuple[StageOption | None, str, dict[str, Any]] = (None, "", {})
        for s in inp.pipeline.stages:
            doc = s.model_dump(mode="json")
            cls = stage_sensitivity(inp, s.name)
            doc["sensitivity_class"] = cls.name if cls is not None else None
            doc["sensitivity_rank"] = cls.rank if cls is not None else None
            self._stages[s.name] = doc

    KEYS = ("pipeline", "stage", "option", "exposure", "policy", "region", "tier",
            "instance_type")
    """The document's top-level keys."""

    def part(self, stage_name: str, option: StageOption, key: str) -> Any:
        """One top-level value of the document (only what is asked for is built)."""
        if key == "pipeline":
            return self._pipeline
        if key == "stage":
            return self._stages[stage_name]
        if key == "policy":
            return self._policy
        if key in ("option", "exposure"):
            # Rules are asked about one option after the other: keep the last one's parts.
            if self._last[0] is not option or self._last[1] != stage_name:
                self._last = (option, stage_name, {})
            parts = self._last[2]
            if key not in parts:
                parts[key] = (option.model_dump(mode="json") if key == "option" else
                              self._ctx.exposure(stage_name, option).as_json())
            return parts[key]
        if key in ("region", "tier", "instance_type"):
            ref = getattr(option, key)
            if (key, ref) not in self._catalog:
                self._catalog[(key, ref)] = self._catalog_entry(key, ref)
            return self._catalog[(key, ref)]
        raise KeyError(key)

    def _catalog_entry(self, key: str, ref: str) -> dict[str, Any] | None:
        catalog = self._ctx.inp.catalog
        lookup = {"region": catalog.region, "tier": catalog.tier,
                  "instance_type": catalog.instance_type}[key]
        try:
            entry: dict[str, Any] = lookup(ref).model_dump(mode="json")
        except KeyError:
            return None
        return entry

    def document(self, stage_name: str, option: StageOption) -> dict[str, Any]:
        """The input document for ``option`` of ``stage_name``."""
        return {key: self.part(stage_name, option, key) for key in self.KEYS}
