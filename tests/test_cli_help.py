"""Every option of every `enasim` command has a help text that states its default once, and
`enasim --help` and every subcommand's help are built without the heavy libraries."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from enasim.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
# What a command may load when it runs, never to build the parsers or print their help.
HEAVY = ("numba", "matplotlib", "simpy", "scipy", "networkx")


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


# Run in a fresh interpreter (this one has imported everything): print `enasim --help` and the
# help of every subcommand, as `enasim ... --help` does, then report the heavy modules loaded.
_PRINT_ALL_HELP = """
import argparse, contextlib, io, json, sys
from enasim.cli import build_parser, main

def commands(parser, path):
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, [*path, name])

helps = {}
for path in commands(build_parser(), []):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*path, "--help"])
    helps[" ".join(["enasim", *path])] = (code, out.getvalue())
print(json.dumps({"helps": helps, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def test_help_of_every_command_loads_no_heavy_library():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{_PRINT_ALL_HELP}"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    helps = report["helps"]
    assert len(helps) == sum(1 for _ in _commands(build_parser(), "enasim"))
    for name, (code, text) in helps.items():
        assert code == 0 and text.startswith(f"usage: {name}"), (name, code, text[:200])
    assert report["heavy"] == [], f"building the parsers and their help imported {report['heavy']}"
