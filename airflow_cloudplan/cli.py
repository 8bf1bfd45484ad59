"""The ``cloudplan`` command line.

Each module in :mod:`airflow_cloudplan.commands` is one subcommand: it defines
``register(subparsers)`` (argparse wiring, cheap) and ``run(args) -> int``. Modules import
their heavy dependencies inside ``run``. Every :class:`CloudplanError` is rendered as
located, actionable lines and exit code 2 — never a traceback. Help texts come from the
modules' docstrings and are shown as plain text (reStructuredText roles and literals are
stripped). A reader that stops early (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys
import textwrap
from collections.abc import Sequence

from airflow_cloudplan import __version__
from airflow_cloudplan.errors import CloudplanError

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]+?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``(.+?)``")


def plain(text: str | None) -> str | None:
    """Docstring markup to plain text: ``:class:`X``` and ````x```` become ``X`` and ``x``."""
    if text is None:
        return None
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


class ParagraphFormatter(argparse.HelpFormatter):
    """Re-wraps each paragraph of a description on its own (blank lines are kept)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = re.split(r"\n\s*\n", textwrap.dedent(text).strip())
        return "\n\n".join(textwrap.fill(" ".join(p.split()), width, initial_indent=indent,
                                         subsequent_indent=indent) for p in paragraphs)


def _plain_everywhere(parser: argparse.ArgumentParser) -> None:
    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    parser.formatter_class = ParagraphFormatter
    for action in parser._actions:
        action.help = plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain(choice.help)
            for sub in dict.fromkeys(action.choices.values()):
                _plain_everywhere(sub)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command module."""
    from airflow_cloudplan import commands

    parser = argparse.ArgumentParser(
        prog="cloudplan",
        description="Plan, gate and instrument cloud deployments of Airflow pipelines.",
        epilog="From a spec to an applied plan: cloudplan plan SPEC --out DIR --compose, "
               "then cloudplan plans put DIR/plan.json, then cloudplan apply VERSION. "
               "'cloudplan COMMAND --help' describes every option.",
    )
    parser.add_argument("--version", action="version", version=f"cloudplan {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"airflow_cloudplan.commands.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    _plain_everywhere(parser)
    return parser


def _reader_went_away() -> int:
    """The reader of stdout closed the pipe: stop writing, no traceback, no error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_went_away()
    except CloudplanError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
