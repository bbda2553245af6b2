"""Command-line options of every command that loads a hwconfig: `--hw` and `--set`."""

from __future__ import annotations

import argparse

from enasim.config.loader import bundled_names


def add_hw_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hw", default="flash_imc", metavar="FILE",
                        help="hwconfig YAML file, or the name of a bundled one "
                             f"({', '.join(bundled_names())}; default: flash_imc)")
    add_set_option(parser)


def add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override one hwconfig field, e.g. --set execution.mode=pipelined "
                             "(repeatable; VALUE is read as YAML)")
