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
        for s in inp.pipeline.stages:
            doc = s.model_dump(mode="json")
            cls = stage_sensitivity(inp, s.name)
            doc["sensitivity_class"] = cls.name if cls is not None else None
            doc["sensitivity_rank"] = cls.rank if cls is not None else None
            self._stages[s.name] = doc

    def document(self, stage_name: str, option: StageOption) -> dict[str, Any]:
        """The input document for ``option`` of ``stage_name``."""
        catalog = self._ctx.inp.catalog
        region: dict[str, Any] | None
        try:
            region = catalog.region(option.region).model_dump(mode="json")
        except KeyError:
            region = None
        try:
            tier: dict[str, Any] | None = catalog.tier(option.tier).model_dump(mode="json")
        except KeyError:
            tier = None
        try:
            itype: dict[str, Any] | None = catalog.instance_type(option.instance_type).model_dump(
                mode="json"
            )
        except KeyError:
            itype = None
        return {
            "pipeline": self._pipeline,
            "stage": self._stages[stage_name],
            "option": option.model_dump(mode="json"),
            "exposure": self._ctx.exposure(stage_name, option).as_json(),
            "policy": self._policy,
            "region": region,
            "tier": tier,
            "instance_type": itype,
        }
