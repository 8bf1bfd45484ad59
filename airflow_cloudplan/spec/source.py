"""Read YAML text into plain data plus a map from every field path to its line.

Pydantic reports errors by location tuples (``("stages", 2, "slo", "p95_ms")``); people
fix files by line number. :class:`SourceMap` joins the two: it is built from the node
tree of ``yaml.compose`` (whose marks carry line numbers) walked in step with the data
that the *safe* constructor built from the same nodes. Duplicate keys, which
``yaml.safe_load`` silently resolves to the last value, are reported here.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml

from airflow_cloudplan.errors import Problem

PathKey = str | int
Path = tuple[PathKey, ...]


def sentence(text: str) -> str:
    """End a message with a full stop so ``message. Fix: hint.`` reads as sentences."""
    return text if text.endswith((".", "?", "!")) else text + "."


def format_path(path: Path) -> str:
    """Render a location the way people write it: ``stages[2].slo.p95_ms``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class SourceMap:
    """Line numbers of a YAML document, by field path.

    ``lines`` holds the line of each mapping key and of each sequence item as written in
    the file. ``aliases`` maps a path of the *normalised* data (after shorthands such as
    ``size: 20GB`` or ``"a -> b"`` edges were expanded) back to the path the person wrote.
    """

    filename: str
    lines: dict[Path, int] = field(default_factory=dict)
    aliases: dict[Path, Path] = field(default_factory=dict)

    def written_path(self, path: Path) -> Path:
        """The path as written in the file for a path into the normalised data."""
        for cut in range(len(path), 0, -1):
            alias = self.aliases.get(path[:cut])
            if alias is not None:
                return alias + path[cut:]
        return path

    def line_of(self, path: Path) -> int | None:
        """The line of the deepest element of ``path`` (normalised) written in the file."""
        written = self.written_path(path)
        for cut in range(len(written), -1, -1):
            line = self.lines.get(written[:cut])
            if line is not None:
                return line
        return None

    def problem(self, path: Path, message: str, hint: str) -> Problem:
        """A problem located at ``path`` (a path into the normalised data)."""
        return self.written_problem(self.written_path(path), message, hint)

    def written_problem(self, written: Path, message: str, hint: str) -> Problem:
        """A problem located at ``written`` (a path as written in the file)."""
        line = None
        for cut in range(len(written), -1, -1):
            line = self.lines.get(written[:cut])
            if line is not None:
                break
        return Problem(
            message=sentence(message),
            file=self.filename,
            line=line,
            path=format_path(written) or None,
            hint=sentence(hint),
        )


_YAML_HINTS = (
    ("'\\t'", "indent with spaces; YAML does not allow tab characters for indentation"),
    ("mapping values are not allowed", "check the indentation, and quote values that "
     "contain ': ' (e.g. description: \"a: b\")"),
    ("expected <block end>", "align this line with its siblings (same indentation)"),
    ("found undefined alias", "define the anchor (&name) before using the alias (*name)"),
    ("could not determine a constructor", "remove the custom tag; only plain YAML is "
     "accepted (yaml.safe_load)"),
    ("unhashable", "use a plain string as the key"),
)


def _yaml_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    """A located problem for a YAML syntax error (line and column from the parser)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}, {what}" if context else str(what)
    hint = "fix the YAML syntax at this position (indentation, quotes, brackets)"
    for needle, candidate in _YAML_HINTS:
        if needle in text:
            hint = candidate
            break
    if mark is None:
        return Problem(message=f"invalid YAML: {text}", file=filename, hint=hint)
    return Problem(
        message=f"invalid YAML at column {mark.column + 1}: {text}",
        file=filename,
        line=mark.line + 1,
        hint=hint,
    )


def _duplicate_keys(filename: str, node: yaml.Node, loader: yaml.SafeLoader) -> list[Problem]:
    """Every key written twice in the same mapping (before merge keys are applied)."""
    problems: list[Problem] = []
    stack: list[yaml.Node] = [node]
    seen_nodes: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:  # aliases can share nodes
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[Hashable, int] = {}
            for key_node, value_node in current.value:
                stack.append(value_node)
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if isinstance(key, Hashable) and key in first:
                    problems.append(
                        Problem(
                            message=f"duplicate key '{key}' (first written on line "
                            f"{first[key]}); YAML would silently keep only the last one",
                            file=filename,
                            line=line,
                            path=str(key),
                            hint=f"remove one of the two '{key}' entries or merge them",
                        )
                    )
                elif isinstance(key, Hashable):
                    first[key] = line
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return problems


def _record_lines(
    node: yaml.Node, data: Any, path: Path, smap: SourceMap, loader: yaml.SafeLoader
) -> None:
    """Walk nodes and constructed data together, recording the line of every path."""
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node)
            if not isinstance(key, str | int) or key not in data:
                continue
            child = (*path, key)
            smap.lines.setdefault(child, key_node.start_mark.line + 1)
            _record_lines(value_node, data[key], child, smap, loader)
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for index, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
            child = (*path, index)
            smap.lines[child] = item_node.start_mark.line + 1
            _record_lines(item_node, item, child, smap, loader)


def read_yaml(text: str, filename: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse YAML safely; return the data, its source map and any problems found.

    Only the safe constructor is used (no Python objects from tags). When the text is not
    valid YAML, the data is ``None`` and the problems hold the parser's line and column.
    """
    smap = SourceMap(filename=filename)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, smap, []
        problems = _duplicate_keys(filename, node, loader)
        data = loader.construct_document(node)
        smap.lines[()] = node.start_mark.line + 1
        _record_lines(node, data, (), smap, loader)
    except yaml.YAMLError as exc:
        return None, smap, [_yaml_problem(filename, exc)]
    finally:
        loader.dispose()
    return data, smap, problems
