"""User-written rules in Rego, evaluated in-process with ``regopy`` (the ``rego`` extra).

A rule file declares a package and a ``deny`` set; every element is one violation of the
option described by ``input`` (see docs/gates.md for the input document). An element is a
message string, or an object ``{"msg": ..., "rule_id": ..., "field": ...}``. Violations
carry gate ``rego:<file name>`` and rule id ``rego.<package>`` (or the object's
``rule_id``). Built-in rules stay in Python; Rego is for the organisation's own rules.

Files are compiled once when loaded; a syntax or compile error becomes a
:class:`GateError` located at file:line:column.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import GateError, Problem
from airflow_cloudplan.model.plan import Violation

_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_ERROR = re.compile(r"\(error \d+:(?P<file>[^|]*)\|(?P<offset>\d+)\|\d+")
_ERRMSG = re.compile(r"\(errormsg \d+:(?P<msg>[^)]*)\)")


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


@dataclass
class RegoRule:
    """One compiled rule file."""

    path: Path
    package: str
    _interpreter: Any = field(repr=False)

    @property
    def gate(self) -> str:
        """The gate name its violations carry."""
        return f"rego:{self.path.name}"

    def evaluate(self, document: dict[str, Any]) -> list[Violation]:
        """Violations of the option described by ``document`` (empty = admitted)."""
        regopy = _import_regopy()
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
        stage = document["stage"]["name"]
        return [self._violation(stage, d) for d in sorted(denies, key=json.dumps)]

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
    return RegoRule(path=path, package=m.group(1), _interpreter=interpreter)


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
