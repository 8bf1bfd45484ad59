"""The project's few, typed errors.

Every error a user can cause carries *what* is wrong, *where* (file, line, field path,
stage) and *how to fix it*, and renders as one line per problem, e.g.::

    spec.yaml:14: stages[2].slo.p95_ms: must be > 0 (got -5). Fix: give a positive number.

Nothing here imports anything heavy; the CLI and the Airflow glue render these errors
instead of printing tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One located problem: what is wrong, where, and how to fix it."""

    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None
    hint: str | None = None

    def render(self) -> str:
        """Render as ``file:line: path: message. Fix: hint``."""
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        loc = f"{self.path}: " if self.path else ""
        message = self.message
        if self.hint and not message.endswith((".", "!", "?", ":")):
            message += "."
        fix = f" Fix: {self.hint}" if self.hint else ""
        return f"{where}{loc}{message}{fix}"


@dataclass
class CloudplanError(Exception):
    """Base of every error this project raises on purpose.

    ``problems`` lists every located problem found (not just the first), so a user fixes
    them all in one round.
    """

    summary: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        """Summary line followed by one line per problem."""
        lines = [self.summary]
        lines.extend(f"  {p.render()}" for p in self.problems)
        return "\n".join(lines)

    exit_code: int = 2


class SpecError(CloudplanError):
    """A pipeline spec or policy file is invalid (YAML, schema, references, graph)."""


class CatalogError(CloudplanError):
    """The price/offer catalog is missing, inconsistent, or lacks a requested entry."""


class ProfileError(CloudplanError):
    """Run history cannot be read (unreachable DB, bad credentials, unsupported schema)."""


class GateError(CloudplanError):
    """A policy or user rule cannot be evaluated (malformed rule, contradictory policy)."""


class SolverError(CloudplanError):
    """The optimizer could not produce a trustworthy answer (infeasible, timed out, failed)."""


class ComposeError(CloudplanError):
    """One or more RunOps artifacts could not be generated or failed validation."""


class PlanStoreError(CloudplanError):
    """The plan store is unreadable, a version is missing, or an update would not be atomic."""


class ApplyError(CloudplanError):
    """Applying a plan to Airflow failed; nothing was left half-applied."""


def did_you_mean(name: str, choices: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """Suggest the closest known name for a misspelt one (``None`` when nothing is close)."""
    import difflib

    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
