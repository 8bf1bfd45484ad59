"""The spec's conveniences, expanded into the plain model form before validation.

Two shorthands keep hand-written specs short, and neither is ambiguous:

* **Sizes with units.** ``size_gb``, ``growth_gb_per_day`` (datasets) and ``gb_per_run``
  (edges) take a number of GB or a string with a unit: ``20GB``, ``500MB``, ``1.5TB``,
  ``2GiB``. Decimal units are powers of 1000, binary (``KiB``…``PiB``) powers of 1024.
  A dataset may write ``size: 20GB`` instead of ``size_gb: 20``.
* **Edges as arrows.** An edge is ``{src: a, dst: b, gb_per_run: 3}``, or the string
  ``"a -> b"``, or the one-entry mapping ``a -> b: 3GB``. A chain ``"a -> b -> c"``
  stands for the edges ``a -> b`` and ``b -> c`` (each with the same size).

Every expanded path is aliased back to what the person wrote, so errors still point at
the right line and field.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.errors import Problem
from airflow_cloudplan.spec.source import Path, SourceMap

_UNITS_GB = {
    "b": 1e-9,
    "kb": 1e-6,
    "mb": 1e-3,
    "gb": 1.0,
    "tb": 1e3,
    "pb": 1e6,
    "kib": 1024 / 1e9,
    "mib": 1024**2 / 1e9,
    "gib": 1024**3 / 1e9,
    "tib": 1024**4 / 1e9,
    "pib": 1024**5 / 1e9,
}
_SIZE = re.compile(r"^\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[kmgtp]?i?b)\s*$", re.I)
SIZE_PATTERN = r"^\s*(\d+(\.\d*)?|\.\d+)\s*([kKmMgGtTpP]?[iI]?[bB])\s*$"
"""The size-with-unit grammar, for the published JSON Schema."""
ARROW = "->"

_SIZE_HINT = "write a number of GB (e.g. 20) or a size with a unit (e.g. 20GB, 500MB, 1.5TB)"


def parse_size_gb(text: str) -> float | None:
    """``"1.5TB"`` -> 1500.0 (GB); ``None`` when the text is not a size with a unit."""
    match = _SIZE.match(text)
    if match is None:
        return None
    factor = _UNITS_GB.get(match["unit"].lower())
    if factor is None:
        return None
    return float(match["num"]) * factor


@dataclass
class Expanded:
    """Normalised spec data plus the paths already reported (not to be reported twice)."""

    data: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    reported: set[Path] = field(default_factory=set)


def _size_field(item: dict[str, Any], key: str, written: Path, out: Expanded, *,
                smap: SourceMap, normalised: Path) -> None:
    """Convert ``item[key]`` from a size with a unit to GB (``written``: where it was)."""
    value = item.get(key)
    if not isinstance(value, str):
        return
    gb = parse_size_gb(value)
    if gb is None:
        out.problems.append(smap.written_problem(written, f"not a size: '{value}'", _SIZE_HINT))
        out.reported.add(normalised)
        item[key] = 1.0  # placeholder so the rest of the spec is still checked
    else:
        item[key] = gb


def _expand_datasets(out: Expanded, smap: SourceMap) -> None:
    datasets = out.data.get("datasets")
    if not isinstance(datasets, list):
        return
    for index, raw in enumerate(datasets):
        if not isinstance(raw, dict):
            continue
        item = dict(raw)
        path: Path = ("datasets", index)
        if "size" in item:
            if "size_gb" in item:
                out.problems.append(
                    smap.written_problem((*path, "size"), "both 'size' and 'size_gb' are given",
                                         "keep one of them: size: 20GB or size_gb: 20")
                )
                out.reported.add((*path, "size_gb"))
                item.pop("size")
            else:
                item["size_gb"] = item.pop("size")
                smap.aliases[(*path, "size_gb")] = (*path, "size")
        size_key = "size" if (*path, "size_gb") in smap.aliases else "size_gb"
        _size_field(item, "size_gb", (*path, size_key), out, smap=smap,
                    normalised=(*path, "size_gb"))
        _size_field(item, "growth_gb_per_day", (*path, "growth_gb_per_day"), out, smap=smap,
                    normalised=(*path, "growth_gb_per_day"))
        datasets[index] = item


def _chain(text: str, path: Path, out: Expanded, smap: SourceMap) -> list[str] | None:
    names = [part.strip() for part in text.split(ARROW)]
    if len(names) < 2 or not all(names):
        out.problems.append(
            smap.written_problem(path, f"'{text}' is not an edge",
                         "write an edge as 'src -> dst' (or 'a -> b -> c' for a chain)")
        )
        out.reported.add(path)
        return None
    return names


def _expand_edges(out: Expanded, smap: SourceMap) -> None:
    edges = out.data.get("edges")
    if not isinstance(edges, list):
        return
    expanded: list[Any] = []
    for index, raw in enumerate(edges):
        path: Path = ("edges", index)
        names: list[str] | None = None
        size: Any = None
        if isinstance(raw, str):
            names = _chain(raw, path, out, smap)
            if names is None:
                continue
        elif isinstance(raw, dict) and len(raw) == 1:
            ((key, value),) = raw.items()
            if isinstance(key, str) and ARROW in key:
                names = _chain(key, path, out, smap)
                if names is None:
                    continue
                size = value
        if names is None:
            item = dict(raw) if isinstance(raw, dict) else raw
            target: Path = ("edges", len(expanded))
            if isinstance(item, dict):
                _size_field(item, "gb_per_run", (*path, "gb_per_run"), out, smap=smap,
                            normalised=(*target, "gb_per_run"))
            smap.aliases[target] = path
            expanded.append(item)
            continue
        for src, dst in itertools.pairwise(names):
            edge: dict[str, Any] = {"src": src, "dst": dst}
            target = ("edges", len(expanded))
            if size is not None:
                edge["gb_per_run"] = size
                _size_field(edge, "gb_per_run", path, out, smap=smap,
                            normalised=(*target, "gb_per_run"))
            smap.aliases[target] = path
            expanded.append(edge)
    out.data["edges"] = expanded


def expand_shorthands(data: dict[str, Any], smap: SourceMap) -> Expanded:
    """Expand sizes with units and arrow edges; record aliases in ``smap``."""
    out = Expanded(data=dict(data))
    _expand_datasets(out, smap)
    _expand_edges(out, smap)
    return out
