"""The ``cloudplan`` command line.

Each module in :mod:`airflow_cloudplan.commands` is one subcommand: it defines
``register(subparsers)`` (argparse wiring, cheap) and ``run(args) -> int``. Modules import
their heavy dependencies inside ``run``. Every :class:`CloudplanError` is rendered as
located, actionable lines and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from airflow_cloudplan import __version__
from airflow_cloudplan.errors import CloudplanError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command module."""
    from airflow_cloudplan import commands

    parser = argparse.ArgumentParser(
        prog="cloudplan",
        description="Plan, gate and instrument cloud deployments of Airflow pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"cloudplan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"airflow_cloudplan.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        code: int = args.run(args)
    except CloudplanError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
