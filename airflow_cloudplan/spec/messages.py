"""Turn pydantic validation errors into located, actionable problems.

Pydantic's own messages ("Input should be greater than 0") say what is wrong but not
where in the file or how to fix it. Each error here becomes a :class:`Problem` with the
line (from the :class:`SourceMap`), the field path as the person wrote it, a message in
the spec's vocabulary (``must be > 0 (got -5)``) and a hint (``Fix: ...``), including
"did you mean" for misspelt field names and enum values.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.spec.source import Path, SourceMap

_UNITS = (
    ("_ms", "milliseconds"),
    ("_minutes", "minutes"),
    ("_s", "seconds"),
    ("_gb", "GB"),
    ("gb_per_run", "GB per run"),
    ("_gb_per_day", "GB per day"),
    ("_per_month", "USD per month"),
    ("_rps", "requests per second"),
    ("_gib", "GiB"),
)
_LIST_TYPES = {"tuple_type", "list_type", "set_type", "frozen_set_type", "iterable_type"}
_MAPPING_TYPES = {"model_type", "dict_type", "model_attributes_type"}
_NUMBER_TYPES = {"float_parsing", "float_type", "int_parsing", "int_type", "int_from_float",
                 "finite_number"}
_BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="),
           "less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}
_VALUE_ERROR_HINTS = (
    ("objective weight", "give at least one of cost, latency, risk a weight > 0"),
    ("class names must be unique", "rename or remove one of the sensitivity classes"),
)


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The known name closest to a misspelt one, or ``None`` when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _unit(field: str) -> str:
    for suffix, unit in _UNITS:
        if field.endswith(suffix):
            return f" ({unit})"
    return ""


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _inner_types(annotation: Any) -> list[Any]:
    """The member types of ``X | None``, ``tuple[X, ...]``, ``dict[K, V]`` (value side)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _inner_types(arg)]
    return [annotation]


def _child_type(annotation: Any, key: str | int) -> Any:
    """The type found one step below ``annotation`` at ``key`` (a field or an index)."""
    for member in _inner_types(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            if isinstance(key, str) and key in member.model_fields:
                return member.model_fields[key].annotation
            continue
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        if origin in (tuple, list, set, frozenset) and args:
            return args[0]
        if origin is dict and len(args) == 2:
            return args[1]
    return None


def model_at(root: type[BaseModel], path: Iterable[str | int]) -> type[BaseModel] | None:
    """The pydantic model class describing the mapping found at ``path`` under ``root``."""
    annotation: Any = root
    for key in path:
        annotation = _child_type(annotation, key)
        if annotation is None:
            return None
    for member in _inner_types(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _clean_loc(loc: tuple[str | int, ...]) -> Path:
    """Drop pydantic's internal loc parts (``function-after[...]``, ``[key]``)."""
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p))


def _simple(kind: str, value: Any, unit: str) -> tuple[str, str] | None:
    """Message and hint for errors about the type or shape of one value."""
    if kind in _NUMBER_TYPES:
        return f"must be a number (got {_shown(value)})", f"write a plain number{unit}, e.g. 10"
    if kind in {"bool_type", "bool_parsing"}:
        return f"must be true or false (got {_shown(value)})", "write true or false"
    if kind == "invalid_key":
        return (
            f"field names must be strings (got {_shown(value)})",
            "write a field name; YAML reads unquoted numbers, yes/no and on/off as "
            "non-strings, so quote such keys",
        )
    if kind == "string_type":
        return f"must be a string (got {_shown(value)})", "quote the value, e.g. \"...\""
    if kind == "string_pattern_mismatch":
        fixed = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(value).lower())
        return (
            f"must start with a lowercase letter and use only a-z, 0-9, _ and - "
            f"(got {_shown(value)})",
            f"rename it, e.g. '{fixed.lstrip('0123456789_-') or 'stage'}'",
        )
    if kind in {"too_short", "string_too_short"}:
        return "must not be empty", "give at least one entry"
    if kind in {"too_long", "string_too_long"}:
        return "is too long", "shorten it"
    if kind in _LIST_TYPES:
        return (
            f"must be a list (got {_shown(value)})",
            "write a YAML list: [a, b] or one '- item' per line",
        )
    if kind in _MAPPING_TYPES:
        return (
            f"must be a mapping of fields (got {_shown(value)})",
            "write 'field: value' pairs indented under this key",
        )
    return None


def _describe(err: ErrorDetails, root: type[BaseModel], path: Path) -> tuple[str, str]:
    """The message and the hint for one pydantic error."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    field = str(path[-1]) if path and isinstance(path[-1], str) else ""
    unit = _unit(field)
    if kind == "missing":
        model = model_at(root, path[:-1])
        info = model.model_fields.get(field) if model else None
        what = f" ({info.description})" if info is not None and info.description else ""
        return "required field is missing", f"add '{field}: ...'{what}; see docs/spec.md"
    if kind == "extra_forbidden":
        model = model_at(root, path[:-1])
        known = sorted(model.model_fields) if model else []
        guess = closest(field, known)
        if guess:
            return (f"unknown field '{field}' (did you mean '{guess}'?)",
                    f"rename '{field}' to '{guess}'")
        return f"unknown field '{field}'", "remove it; the fields allowed here are: " + ", ".join(
            known
        )
    if kind in _BOUNDS:
        key, op = _BOUNDS[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {op} {bound} (got {_shown(value)})", f"use a number {op} {bound}{unit}"
    if kind == "enum":
        expected = str(ctx.get("expected", ""))
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ", ").split(",")]
        guess = closest(str(value), choices) if isinstance(value, str) else None
        hint = f"use '{guess}'" if guess else f"use one of {expected}"
        return f"must be one of {expected} (got {_shown(value)})", hint
    simple = _simple(kind, value, unit)
    if simple is not None:
        return simple
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    for needle, hint in _VALUE_ERROR_HINTS:
        if needle in message:
            return message, hint
    return message, "see docs/spec.md for what this field accepts"


def validation_problems(
    exc: ValidationError,
    root: type[BaseModel],
    smap: SourceMap,
    skip: set[Path] | None = None,
    ignore_messages: tuple[str, ...] = (),
) -> list[Problem]:
    """Located problems for every error of ``exc`` (validating ``root``).

    ``skip`` holds paths already reported (e.g. a bad size unit); ``ignore_messages``
    drops model-validator errors that a semantic check reports better, with a location.
    """
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        path = _clean_loc(err["loc"])
        if skip and any(path[: len(s)] == s for s in skip):
            continue
        if any(text in err["msg"] for text in ignore_messages):
            continue
        message, hint = _describe(err, root, path)
        problems.append(smap.problem(path, message, hint))
    return problems
