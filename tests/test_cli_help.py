"""Every option of every `enasim` command has a help text that states its default once."""

from __future__ import annotations

import argparse

from enasim.cli import build_parser


def _commands(parser: argparse.ArgumentParser, name: str):
    """(command line, parser) of `parser` and of all its subcommands, recursively."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _commands(sub, f"{name} {sub_name}")


def _help_problems() -> list[str]:
    problems = []
    for name, parser in _commands(build_parser(), "enasim"):
        parser.format_help()  # a stray % in a help text fails here
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction | argparse.
                                                       _VersionAction):
                continue
            flag = f"{name} {'/'.join(action.option_strings)}"
            if not action.help or action.help == argparse.SUPPRESS:
                problems.append(f"{flag}: no help")
                continue
            text = " ".join(formatter._expand_help(action).split())
            if text.count("(default") > 1 or "default: None" in text:
                problems.append(f"{flag}: {text!r}")
    return problems


def test_every_option_has_help_and_states_its_default_once():
    problems = _help_problems()
    assert not problems, "\n".join(problems)
