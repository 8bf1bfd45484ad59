"""``cloudplan --help`` and every subcommand's help: plain text, every option described."""

from __future__ import annotations

import argparse
import re

import pytest

from airflow_cloudplan.cli import build_parser, main, plain

MARKUP = re.compile(r"``|:(class|func|mod|meth|attr|data|obj|ref):`")


def _parsers(parser: argparse.ArgumentParser, path: str = "cloudplan"
             ) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _parsers(sub, f"{path} {name}")
    return out


PARSERS = _parsers(build_parser())


@pytest.mark.parametrize(("path", "parser"), PARSERS, ids=[p for p, _ in PARSERS])
def test_help_is_plain_text_and_describes_every_option(path: str,
                                                       parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert not MARKUP.search(text), f"`{path} --help` shows markup:\n{text}"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{path} {choice.dest}: no help"
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS, f"{path} {name}: no help"


def test_plain_strips_roles_and_literals() -> None:
    assert plain("the :class:`PlanResult` in ``plan.json``") == "the PlanResult in plan.json"
    assert plain(":func:`~airflow_cloudplan.demo.run_demo`") == "airflow_cloudplan.demo.run_demo"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out
