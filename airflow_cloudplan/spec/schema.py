"""JSON Schemas of the pipeline spec (what people write) and of ``plan.json``.

Both are generated from the pydantic models, so they cannot drift from the code; the
spec schema is then widened with the YAML shorthands of :mod:`.shorthand` (sizes with
units, ``"a -> b"`` edges) so that editors validating against it accept what the loader
accepts. ``python -m airflow_cloudplan.spec --write-schemas docs/schema`` regenerates
the committed files; a test fails when they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_cloudplan.model.plan import PlanResult
from airflow_cloudplan.spec.loader import SpecDocument
from airflow_cloudplan.spec.shorthand import SIZE_PATTERN

SPEC_SCHEMA_FILE = "pipeline-spec.schema.json"
PLAN_SCHEMA_FILE = "plan.schema.json"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_NAME = r"[a-z][a-z0-9_\-]*"
_ARROWS = rf"^\s*{_NAME}\s*(->\s*{_NAME}\s*)+$"


def _size_or_number(number_schema: dict[str, Any]) -> dict[str, Any]:
    """A GB number, or a string with a unit (``20GB``, ``500MB``)."""
    described = {k: v for k, v in number_schema.items() if k in ("title", "description")}
    number = {k: v for k, v in number_schema.items() if k not in ("title", "description")}
    return {**described, "anyOf": [number, {"type": "string", "pattern": SIZE_PATTERN}]}


def pipeline_spec_schema() -> dict[str, Any]:
    """The JSON Schema of a pipeline spec file, shorthands included."""
    schema = SpecDocument.model_json_schema(mode="validation")
    defs = schema["$defs"]
    dataset = defs["Dataset"]
    props = dataset["properties"]
    props["size_gb"] = _size_or_number(props["size_gb"])
    props["growth_gb_per_day"] = _size_or_number(props["growth_gb_per_day"])
    props["size"] = {
        "title": "Size",
        "description": "shorthand for size_gb with a unit, e.g. 20GB, 500MB, 1.5TB",
        "type": "string",
        "pattern": SIZE_PATTERN,
    }
    dataset["required"] = [r for r in dataset["required"] if r != "size_gb"]
    dataset["oneOf"] = [{"required": ["size_gb"]}, {"required": ["size"]}]
    edge_props = defs["DataEdge"]["properties"]
    edge_props["gb_per_run"] = _size_or_number(edge_props["gb_per_run"])
    size_value = {"anyOf": [{"type": "number", "minimum": 0},
                            {"type": "string", "pattern": SIZE_PATTERN}]}
    schema["properties"]["edges"]["items"] = {
        "anyOf": [
            {"$ref": "#/$defs/DataEdge"},
            {"type": "string", "pattern": _ARROWS, "description": "'src -> dst' or a chain"},
            {
                "type": "object",
                "description": "'src -> dst: 20GB' (one entry: the edge and its GB per run)",
                "minProperties": 1,
                "maxProperties": 1,
                "patternProperties": {_ARROWS: size_value},
                "additionalProperties": False,
            },
        ]
    }
    return {
        "$schema": _DRAFT,
        "$id": "https://airflow-cloudplan.dev/schema/pipeline-spec.schema.json",
        **schema,
        "title": "cloudplan pipeline spec",
        "description": "A pipeline (stages, data edges, datasets, SLOs, sensitivity) and its "
        "policy, as written in YAML. See docs/spec.md.",
    }


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of ``plan.json`` (a :class:`PlanResult`, as serialised)."""
    schema = PlanResult.model_json_schema(mode="serialization")
    return {
        "$schema": _DRAFT,
        "$id": "https://airflow-cloudplan.dev/schema/plan.schema.json",
        **schema,
        "title": "cloudplan plan result",
    }


def _stable(value: Any, in_default: bool = False) -> Any:
    """Sort string lists inside ``default`` values, so the file is reproducible.

    Such lists come from frozensets, whose iteration order changes with the hash seed.
    """
    if isinstance(value, dict):
        return {k: _stable(v, in_default or k == "default") for k, v in value.items()}
    if isinstance(value, list):
        items = [_stable(v, in_default) for v in value]
        if in_default and all(isinstance(v, str) for v in items):
            return sorted(items)
        return items
    return value


def rendered_schemas() -> dict[str, str]:
    """File name -> the text the committed schema file must have."""
    return {
        name: json.dumps(_stable(schema), indent=2) + "\n"
        for name, schema in (
            (SPEC_SCHEMA_FILE, pipeline_spec_schema()),
            (PLAN_SCHEMA_FILE, plan_schema()),
        )
    }


def write_schemas(folder: str | Path) -> list[Path]:
    """Write both schema files into ``folder``; return their paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_schemas().items():
        target = out / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def stale_schemas(folder: str | Path) -> list[str]:
    """Names of the schema files in ``folder`` that are missing or out of date."""
    out = Path(folder)
    return [
        name
        for name, text in rendered_schemas().items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]
