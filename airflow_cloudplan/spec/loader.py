"""Load a YAML pipeline spec into a validated :class:`Spec`, or explain every problem.

The loading steps are separate so each can report with a location:

1. ``read_yaml``: safe YAML parse, duplicate keys, line of every field.
2. ``expand_shorthands``: sizes with units, ``"a -> b"`` edges.
3. Pydantic validation of the whole document (:class:`SpecDocument`).
4. Semantic checks (names, references, cycles, SLOs, residency) and, given a catalog,
   catalog checks.

All problems of all steps are collected and raised together as one :class:`SpecError`,
sorted by line, so a person fixes everything in one round.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model import (
    Catalog,
    Pipeline,
    PlanningInput,
    Policy,
    ProfileSet,
)
from airflow_cloudplan.model.catalog import Frozen
from airflow_cloudplan.spec.catalog_checks import check_catalog
from airflow_cloudplan.spec.checks import (
    SpecFacts,
    check_buckets,
    check_cycles,
    check_names,
    check_references,
    check_residency,
    check_stages,
)
from airflow_cloudplan.spec.lineage_checks import check_lineage
from airflow_cloudplan.spec.messages import validation_problems
from airflow_cloudplan.spec.shorthand import expand_shorthands
from airflow_cloudplan.spec.source import SourceMap, read_yaml, sentence

_MODEL_CHECKS_DONE_BETTER = ("stage names must be unique",)


class SpecDocument(Pipeline):
    """The YAML spec as written: the pipeline's fields plus an optional ``policy``."""

    policy: Policy = Field(default_factory=Policy, description="governance, observability, weights")


class Spec(Frozen):
    """A validated pipeline spec: the pipeline, its policy, and where it came from."""

    pipeline: Pipeline
    policy: Policy
    path: str = Field(description="the file it was read from")
    sha256: str = Field(description="SHA-256 of the file's bytes (plans record it)")

    def planning_input(
        self, catalog: Catalog, profiles: ProfileSet | None = None
    ) -> PlanningInput:
        """The input of gates and optimizer; raises ``SpecError`` if the catalog lacks names."""
        data: dict[str, Any] = self.pipeline.model_dump(mode="json")
        data["policy"] = self.policy.model_dump(mode="json")
        smap = SourceMap(filename=self.path)
        problems = check_catalog(SpecFacts.collect(data), catalog, smap)
        if problems:
            raise SpecError(
                f"{self.path}: the spec does not match catalog {catalog.version}", problems
            )
        return PlanningInput(
            pipeline=self.pipeline, policy=self.policy, catalog=catalog, profiles=profiles
        )

    def summary(self) -> str:
        """One line: the pipeline's name and the size of its graph and policy."""
        p = self.pipeline
        return (
            f"pipeline {p.name}: {len(p.stages)} stages, {len(p.edges)} edges, "
            f"{len(p.datasets)} datasets, {len(self.policy.governance.classes)} "
            f"sensitivity classes"
        )


def _fail(filename: str, problems: list[Problem]) -> SpecError:
    """One error holding every problem once, in file order, each written as sentences."""
    unique = list(dict.fromkeys(
        replace(p, message=sentence(p.message), hint=sentence(p.hint) if p.hint else None)
        for p in problems
    ))
    unique.sort(key=lambda p: (p.line or 0))
    count = len(unique)
    return SpecError(
        f"{filename}: {count} problem{'s' if count != 1 else ''} in the pipeline spec", unique
    )


def _top_level(data: Any, filename: str) -> Problem | None:
    if data is None:
        return Problem(
            message="the file is empty",
            file=filename,
            line=1,
            hint="write at least 'name:' and 'stages:' (see docs/examples/ml_pipeline.yaml)",
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        return Problem(
            message=f"the top level is {kind}, not a mapping of fields",
            file=filename,
            line=1,
            hint="start the file with 'name: my_pipeline' and 'stages:' at column 1",
        )
    return None


def parse_spec(
    text: str, filename: str, catalog: Catalog | None = None, *, sha256: str | None = None
) -> Spec:
    """Parse and validate spec text; ``filename`` is used in messages and ``Spec.path``."""
    data, smap, problems = read_yaml(text, filename)
    if data is None and problems:
        raise _fail(filename, problems)
    top = _top_level(data, filename)
    if top is not None:
        raise _fail(filename, [*problems, top])
    expanded = expand_shorthands(data, smap)
    problems += expanded.problems
    document: SpecDocument | None = None
    try:
        document = SpecDocument.model_validate(expanded.data)
    except ValidationError as exc:
        problems += validation_problems(
            exc, SpecDocument, smap, expanded.reported, _MODEL_CHECKS_DONE_BETTER
        )
    facts = SpecFacts.collect(expanded.data)
    problems += check_names(expanded.data, smap)
    problems += check_references(facts, expanded.data, smap)
    problems += check_cycles(facts, smap)
    problems += check_stages(facts, smap)
    problems += check_residency(facts, smap, catalog)
    problems += check_buckets(facts, smap, catalog)
    if catalog is not None:
        problems += check_catalog(facts, catalog, smap)
    if problems or document is None:
        raise _fail(filename, problems)
    pipeline = Pipeline(**{name: getattr(document, name) for name in Pipeline.model_fields})
    problems = check_lineage(pipeline, document.policy, smap, catalog)
    if problems:
        raise _fail(filename, problems)
    digest = sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Spec(pipeline=pipeline, policy=document.policy, path=filename, sha256=digest)


def load_spec(path: str | Path, catalog: Catalog | None = None) -> Spec:
    """Read and validate a spec file (``SpecError`` with every located problem if invalid)."""
    filename = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{filename}: no such file", [Problem(
            "the spec file does not exist", file=filename,
            hint="check the path (it is relative to the current directory)",
        )]) from None
    except OSError as exc:
        raise SpecError(f"{filename}: cannot read", [Problem(
            f"cannot read the spec file: {exc.strerror}", file=filename,
            hint="pass a readable YAML file",
        )]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(filename, [Problem(
            f"not UTF-8 text (byte {exc.start})", file=filename, line=line,
            hint="save the file as UTF-8",
        )]) from None
    return parse_spec(text, filename, catalog, sha256=hashlib.sha256(raw).hexdigest())


def declared_provider(path: str | Path) -> str:
    """The ``provider:`` a spec file declares ("aws" when absent or unreadable).

    Used to pick the catalog before the full load, so that one load reports every
    problem, catalog ones included.
    """
    try:
        data, _smap, _problems = read_yaml(Path(path).read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return "aws"
    provider = data.get("provider") if isinstance(data, dict) else None
    return provider if isinstance(provider, str) else "aws"
