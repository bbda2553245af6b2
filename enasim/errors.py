"""User-facing errors: each names the file, the field and what was expected.

The CLI prints them as one line and exits with code 2; library users catch `EnasimError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EnasimError(Exception):
    """Bad input from a user (config, workload, arguments). Never a bug in enasim."""


class ConfigError(EnasimError):
    """A problem at one place of an input file: `source: field: message`."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        where = f"{_one_line(source)}: " if source else ""
        at = f"field '{_one_line(field)}': " if field else ""
        super().__init__(f"{where}{at}{_one_line(message)}")


def _one_line(text: str) -> str:
    """`text` with newlines and other unprintable characters (from a key or value of the
    input) escaped, so that every error stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def suggest(name: str, valid: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest valid name, or ''."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
