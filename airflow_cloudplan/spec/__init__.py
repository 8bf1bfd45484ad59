"""The YAML pipeline spec: what a person writes, validated with located errors.

``load_spec(path)`` / ``parse_spec(text, filename)`` return a :class:`Spec` (pipeline +
policy + provenance) or raise :class:`~airflow_cloudplan.errors.SpecError` listing every
problem as ``file:line: field.path: what. Fix: how``. The format is described in
``docs/spec.md``; its JSON Schema is ``docs/schema/pipeline-spec.schema.json``.
"""

from airflow_cloudplan.spec.loader import Spec, SpecDocument, load_spec, parse_spec

__all__ = ["Spec", "SpecDocument", "load_spec", "parse_spec"]
