"""``cloudplan validate SPEC [SPEC...]``: check pipeline specs before planning.

Each spec is checked on its own (YAML, fields, references, graph, policy) and against the
price/offer catalog of its provider (the bundled snapshot, or ``--catalog FILE``), so a
misspelt region or instance type is caught here rather than as "no feasible plan".
Exit 0 when every spec is valid (one summary line each); exit 2 with every located
problem of every spec otherwise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError


def register(subparsers: Any) -> None:
    """Add the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check pipeline spec files (exit 0 valid, 2 with located problems)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="pipeline spec YAML file(s)")
    parser.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    parser.add_argument(
        "--catalog", metavar="FILE", default=None,
        help="catalog file (from 'cloudplan catalog refresh'); default: the bundled snapshot",
    )
    parser.add_argument(
        "--no-catalog", action="store_true",
        help="skip the checks of regions, instance types and tiers against a catalog",
    )
    parser.set_defaults(run=run)


def _catalog_for(spec_path: str, catalog_file: str | None) -> Any:
    """The catalog of the provider the spec declares (the default provider if unknown)."""
    from airflow_cloudplan.catalog import load_catalog, provider_names
    from airflow_cloudplan.spec.loader import declared_provider

    provider = declared_provider(spec_path)
    if provider not in provider_names():
        provider = "aws"  # the spec check then reports the unknown provider, located
    return load_catalog(provider, path=catalog_file)


def _check(spec_path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Validate one spec; a JSON-able result with its summary or its problems."""
    from airflow_cloudplan.spec import load_spec

    catalog = None if args.no_catalog or not Path(spec_path).is_file() else _catalog_for(
        spec_path, args.catalog
    )
    result: dict[str, Any] = {"path": spec_path, "catalog": catalog.version if catalog else None}
    try:
        spec = load_spec(spec_path, catalog)
    except SpecError as exc:
        result.update(valid=False, summary=exc.summary, problems=exc.problems)
        return result
    pipeline = spec.pipeline
    result.update(
        valid=True,
        summary=spec.summary(),
        pipeline=pipeline.name,
        stages=len(pipeline.stages),
        edges=len(pipeline.edges),
        datasets=len(pipeline.datasets),
        classes=len(spec.policy.governance.classes),
        sha256=spec.sha256,
        problems=[],
    )
    return result


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file, "line": problem.line, "path": problem.path,
        "message": problem.message, "hint": problem.hint, "text": problem.render(),
    }


def run(args: argparse.Namespace) -> int:
    """Validate every spec; print summaries, then raise one error listing all problems."""
    results = [_check(path, args) for path in args.specs]
    invalid = [r for r in results if not r["valid"]]
    if args.json:
        for r in results:
            r["problems"] = [_problem_json(p) for p in r["problems"]]
        print(json.dumps(results, indent=2))
        return 2 if invalid else 0
    for r in results:
        if r["valid"]:
            against = f" (checked against catalog {r['catalog']})" if r["catalog"] else ""
            print(f"ok {r['path']}: {r['summary']}{against}")
    if not invalid:
        return 0
    problems = [p for r in invalid for p in r["problems"]]
    if len(invalid) == 1:
        raise SpecError(invalid[0]["summary"], problems)
    raise SpecError(
        f"{len(invalid)} of {len(results)} specs are invalid ({len(problems)} problems)",
        problems,
    )

