"""The emitter template: build artifacts, then validate them, reporting every problem.

Each emitter turns the :class:`ComposeContext` into files. :meth:`Emitter.run` is the
template method: it calls :meth:`Emitter.build` and then :meth:`Emitter.check` on what was
built, and converts anything an emitter raises on purpose into located problems, so the
composer can run every emitter and report all problems at once (slo-generator's
exporter pattern) instead of stopping at the first.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import yaml

from airflow_cloudplan.errors import CloudplanError, Problem
from airflow_cloudplan.runops.context import ComposeContext


@dataclass(frozen=True)
class Artifact:
    """One generated file: its path under the artifacts directory and its exact bytes.

    ``evidence`` names the governance requirement the file satisfies (e.g.
    ``iam:train``); ``stage`` the stage it belongs to, if any; ``checks`` the checks that
    ran on it at compose time and passed (set by :meth:`Emitter.run`).
    """

    path: str
    content: bytes
    kind: str
    stage: str | None = None
    evidence: str | None = None
    checks: tuple[str, ...] = ()


def dump_json(data: Any) -> bytes:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


class _NoAliasDumper(yaml.SafeDumper):
    """A safe dumper that writes repeated objects out in full (no anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any, header: str = "") -> bytes:
    """Deterministic YAML: sorted keys, block style, no anchors, optional comment header."""
    text = yaml.dump(
        data,
        Dumper=_NoAliasDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )
    prefix = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return (prefix + text).encode()


@dataclass
class EmitterResult:
    """What one emitter produced and what went wrong."""

    name: str
    artifacts: list[Artifact] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Emitter(ABC):
    """Base of all emitters (template method: ``run`` = ``build`` then ``check``).

    ``checks`` names what :meth:`check` verifies, per artifact kind; an emitter that
    overrides ``check`` without naming its checks records ``<name>.check`` on every
    artifact. A problem whose ``file`` is an artifact's path fails that artifact; one
    without a file fails all of the emitter's. Artifacts that passed carry the names of
    the checks of their kind in :attr:`Artifact.checks`.
    """

    name: str = "emitter"
    checks: ClassVar[dict[str, tuple[str, ...]]] = {}

    def run(self, ctx: ComposeContext) -> EmitterResult:
        """Build and check this emitter's artifacts; never raises for expected failures."""
        result = EmitterResult(name=self.name)
        try:
            result.artifacts = list(self.build(ctx))
        except CloudplanError as exc:
            result.problems.extend(exc.problems or [Problem(message=exc.summary)])
            return result
        except (KeyError, ValueError) as exc:
            result.problems.append(
                Problem(
                    message=f"{self.name}: cannot generate artifacts: {exc!r}",
                    path=self.name,
                    hint="check that the plan was made for this spec and catalog",
                )
            )
            return result
        result.problems.extend(self.check(ctx, result.artifacts))
        result.artifacts = [replace(a, checks=self.check_names(a.kind))
                            for a in result.artifacts if not failed_by(a, result.problems)]
        return result

    def check_names(self, kind: str) -> tuple[str, ...]:
        """The names of the checks this emitter runs on artifacts of ``kind``."""
        if self.checks:
            return self.checks.get(kind, ())
        return (f"{self.name}.check",) if type(self).check is not Emitter.check else ()

    @abstractmethod
    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """Generate this emitter's files."""

    def check(self, ctx: ComposeContext, artifacts: list[Artifact]) -> list[Problem]:
        """Validate generated files (default: nothing to check)."""
        return []

    def problem(self, message: str, hint: str, stage: str | None = None,
                file: str | None = None) -> Problem:
        """A problem located at this emitter (and stage), and at an artifact if given."""
        where = f"{self.name}.{stage}" if stage else self.name
        return Problem(message=message, path=where, hint=hint, file=file)


def failed_by(artifact: Artifact, problems: list[Problem]) -> bool:
    """Whether a problem names the artifact (or names no file at all)."""
    return any(p.file is None or p.file == artifact.path for p in problems)
