"""User-written rules in Rego, evaluated in-process with ``regopy`` (the ``rego`` extra).

A rule file declares a package and a ``deny`` set; every element is one violation of the
option described by ``input`` (see docs/gates.md for the input document). An element is a
message string, or an object ``{"msg": ..., "rule_id": ..., "field": ...}``. Violations
carry gate ``rego:<file name>`` and rule id ``rego.<package>`` (or the object's
``rule_id``). Built-in rules stay in Python; Rego is for the organisation's own rules.

Files are compiled once when loaded; a syntax or compile error becomes a
:class:`GateError` located at file:line:column.

**Evaluated once per distinct input, not once per option.** A rule's verdict depends only
on the parts of ``input`` it references. When a file is loaded, every ``input`` reference
in its source is read (``input.option.spot``, ``input["stage"].kind``, ``import
input.tier as t`` ...): a reference that continues with a variable, a number or a call
keeps only its static prefix (``input.option[k]`` reads all of ``input.option``), and a
bare ``input`` reads the whole document. Each option's document is then *projected* onto
those paths, and the interpreter runs once per distinct projection; options with the same
projection share the answer. This is exact — two documents with the same projection are
indistinguishable to the rule — and turns ~24,000 interpreter calls on the ML example into
a few dozen (``bench/rego_rules.py``). Only the document parts a rule reads are built.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import GateError, Problem
from airflow_cloudplan.model.plan import Violation

_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_ERROR = re.compile(r"\(error \d+:(?P<file>[^|]*)\|(?P<offset>\d+)\|\d+")
_ERRMSG = re.compile(r"\(errormsg \d+:(?P<msg>[^)]*)\)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r'\[\s*"((?:[^"\\]|\\.)*)"\s*\]')

InputPath = tuple[str, ...]
"""A static path into the input document (``()`` is the whole document)."""

MISSING: Any = object()
"""What a document-part getter returns for a key the document does not have."""


def _import_regopy() -> Any:
    # Load order of native libraries matters: importing highspy (which pulp imports to
    # offer HiGHS) *after* regopy aborts the process (free(): invalid pointer); before it,
    # both work. So load highspy first whenever it is installed.
    with contextlib.suppress(ImportError):
        import highspy  # noqa: F401
    try:
        import regopy
    except ImportError as exc:
        raise GateError(
            "user Rego rules need the optional 'regopy' package",
            [Problem(message=f"cannot import regopy ({exc})",
                     path="policy.governance.rego_rules",
                     hint="pip install 'airflow-cloudplan[rego]' or remove the rego_rules")],
        ) from exc
    return regopy


def _locate(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _compile_problem(path: Path, source: str, error_text: str) -> Problem:
    m = _ERROR.search(error_text)
    msg = _ERRMSG.search(error_text)
    message = msg.group("msg").strip() if msg else error_text.strip().splitlines()[0]
    if m is None:
        return Problem(message=f"Rego error: {message}", file=str(path),
                       hint="fix the rule so that `opa check` accepts it")
    line, col = _locate(source, int(m.group("offset")))
    return Problem(
        message=f"Rego error at column {col}: {message}", file=str(path), line=line,
        hint="fix the rule so that `opa check` accepts it",
    )


def input_paths(source: str) -> tuple[InputPath, ...]:
    """Every static ``input`` path a Rego source reads, minimal (no path and its prefix).

    Comments and string literals are skipped. ``input`` preceded by ``.`` is a field of
    something else, not the input document. A reference extends over ``.name`` and
    ``["literal"]`` segments only; anything else ends it, so the rule is assumed to read
    everything below the prefix. ``((),)`` means the whole document.
    """
    found: set[InputPath] = set()
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "#":
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"`":
            i = _string_end(source, i)
        elif c.isalpha() or c == "_":
            m = _IDENT.match(source, i)
            assert m is not None
            word, i = m.group(0), m.end()
            if word != "input" or _previous_char(source, m.start()) == ".":
                continue
            path: list[str] = []
            while i < n:
                if source[i] == "." and (seg := _IDENT.match(source, i + 1)):
                    path.append(seg.group(0))
                    i = seg.end()
                elif source[i] == "[" and (key := _KEY.match(source, i)):
                    path.append(json.loads(f'"{key.group(1)}"'))
                    i = key.end()
                else:
                    break
            found.add(tuple(path))
        else:
            i += 1
    minimal = sorted(p for p in found if not any(q != p and p[:len(q)] == q for q in found))
    return tuple(minimal)


def _string_end(source: str, start: int) -> int:
    quote, i = source[start], start + 1
    while i < len(source) and source[i] != quote:
        i += 2 if quote == '"' and source[i] == "\\" else 1
    return i + 1


def _previous_char(source: str, index: int) -> str:
    j = index - 1
    while j >= 0 and source[j] in " \t":
        j -= 1
    return source[j] if j >= 0 else ""


def project(paths: Sequence[InputPath], part: Callable[[str], Any]) -> dict[str, Any]:
    """The part of a document the paths read; ``part(key)`` gives a top-level value.

    A path that runs into a non-object (``null``, a list, a scalar) keeps that value at
    the level where it stops; a path into a key the document lacks contributes nothing
    (the rule sees it undefined in both documents).
    """
    out: dict[str, Any] = {}
    for path in paths:
        if not path:
            raise ValueError("the whole document is not a projection; build the document")
        value = part(path[0])
        if value is MISSING:
            continue
        depth = 1
        for seg in path[1:]:
            if not isinstance(value, dict):
                break
            if seg not in value:
                value = MISSING
                break
            value, depth = value[seg], depth + 1
        if value is MISSING:
            continue
        node = out
        for seg in path[:depth - 1]:
            node = node.setdefault(seg, {})
        node[path[depth - 1]] = value
    return out


@dataclass
class RegoRule:
    """One compiled rule file, with the input paths it reads and its answers so far."""

    path: Path
    package: str
    _interpreter: Any = field(repr=False)
    reads: tuple[InputPath, ...] = ((),)
    evaluations: int = 0
    """How many times the interpreter ran (distinct inputs seen)."""
    _answers: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    @property
    def gate(self) -> str:
        """The gate name its violations carry."""
        return f"rego:{self.path.name}"

    @property
    def reads_whole_document(self) -> bool:
        """True when the rule references ``input`` as a whole (no projection possible)."""
        return () in self.reads

    def evaluate(self, document: dict[str, Any]) -> list[Violation]:
        """Violations of the option described by ``document`` (empty = admitted)."""
        return self.evaluate_parts(document["stage"]["name"], tuple(document),
                                   lambda key: document.get(key, MISSING))

    def evaluate_parts(self, stage: str, keys: Sequence[str],
                       part: Callable[[str], Any]) -> list[Violation]:
        """Violations of one option of ``stage``; ``part(key)`` gives each document part.

        ``keys`` are the document's top-level keys. Only the parts the rule reads are
        asked for, and the interpreter runs only for a projection not seen before.
        """
        if self.reads_whole_document:
            doc = {k: v for k in keys if (v := part(k)) is not MISSING}
        else:
            doc = project(self.reads, part)
        key = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        denies = self._answers.get(key)
        if denies is None:
            denies = self._query(doc)
            self._answers[key] = denies
        return [self._violation(stage, d) for d in denies]

    def _query(self, document: dict[str, Any]) -> list[Any]:
        regopy = _import_regopy()
        self.evaluations += 1
        self._interpreter.set_input(document)
        try:
            out = self._interpreter.query(f"data.{self.package}.deny")
        except regopy.RegoError as exc:
            source = self.path.read_text(encoding="utf-8")
            raise GateError(f"user rule {self.path.name} failed to evaluate",
                            [_compile_problem(self.path, source, str(exc))]) from exc
        text = str(out)
        if text == "undefined":
            return []
        denies = json.loads(text).get("expressions", [[]])[0] or []
        return sorted(denies, key=json.dumps)

    def _violation(self, stage: str, deny: Any) -> Violation:
        if isinstance(deny, dict):
            return Violation(
                gate=self.gate, rule_id=str(deny.get("rule_id", f"rego.{self.package}")),
                stage=stage, field=deny.get("field"), measured=_opt_str(deny.get("measured")),
                allowed=_opt_str(deny.get("allowed")), message=str(deny.get("msg", deny)),
            )
        return Violation(gate=self.gate, rule_id=f"rego.{self.package}", stage=stage,
                         message=str(deny))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def load_rule(path: Path) -> RegoRule:
    """Read and compile one rule file; a located :class:`GateError` when it is bad."""
    regopy = _import_regopy()
    if not path.is_file():
        raise GateError(f"user rule file {path} not found", [Problem(
            message="no such file", file=str(path), path="policy.governance.rego_rules",
            hint="give a path relative to the spec file, or an absolute path")])
    source = path.read_text(encoding="utf-8")
    m = _PACKAGE.search(source)
    if m is None:
        raise GateError(f"user rule {path.name} has no package", [Problem(
            message="missing `package` declaration", file=str(path), line=1,
            hint="start the file with e.g. `package cloudplan.rules.my_rule`")])
    interpreter = regopy.Interpreter()
    interpreter.log_level = regopy.LogLevel.NONE
    try:
        interpreter.add_module(path.name, source)
        probe = interpreter.query(f"data.{m.group(1)}")
    except regopy.RegoError as exc:
        raise GateError(f"user rule {path.name} does not compile",
                        [_compile_problem(path, source, str(exc))]) from exc
    if "deny" not in (json.loads(str(probe)).get("expressions", [{}])[0] or {}):
        line = source[: m.start(1)].count("\n") + 1
        raise GateError(f"user rule {path.name} defines no deny set", [Problem(
            message=f"package {m.group(1)} has no `deny` rule", file=str(path), line=line,
            hint="add `deny contains msg if { ... }` (an empty set means 'admit')")])
    return RegoRule(path=path, package=m.group(1), _interpreter=interpreter,
                    reads=input_paths(source))


def load_rules(paths: Sequence[str], base_dir: Path | None = None) -> list[RegoRule]:
    """Compile every rule file (relative paths resolve against ``base_dir`` or cwd)."""
    base = base_dir if base_dir is not None else Path.cwd()
    rules: list[RegoRule] = []
    problems: list[Problem] = []
    for p in paths:
        path = Path(p) if Path(p).is_absolute() else base / p
        try:
            rules.append(load_rule(path))
        except GateError as exc:
            problems.extend(exc.problems)
    if problems:
        raise GateError(f"{len(problems)} user rule problem(s)", problems)
    return rules
