"""`enasim validate`: every comparison of enasim with the established tools' results kept in
`enasim/reference` (NeuroSim V1.3, BookSim2, the NAS papers' own code), as one table.

Each comparison is a `Check`: a quantity, the reference value, enasim's value, the relative
error and the tolerance it must meet. The reference numbers are read from the data files (with
their provenance in enasim/reference/README.md), never written here; the hwconfig edits that
reproduce each reference run are (`neurosim.RUNS`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def read_reference(*parts: str) -> list[dict[str, str]]:
    """The rows of a CSV file of the reference data (REFERENCE_DIR / parts)."""
    with REFERENCE_DIR.joinpath(*parts).open() as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Check:
    """One comparison. `tolerance` is relative (0: exact); None marks a figure shown for
    information, which cannot fail. Lists (per-layer counts) pass only if equal."""

    source: str
    quantity: str
    reference: float | str
    enasim: float | str
    tolerance: float | None
    headline: bool = False

    @property
    def error(self) -> float | None:
        """(enasim - reference) / reference, or None for lists and a zero reference."""
        if isinstance(self.reference, str) or isinstance(self.enasim, str) \
                or not self.reference:
            return None
        return (self.enasim - self.reference) / self.reference

    @property
    def passed(self) -> bool | None:
        if self.tolerance is None:
            return None
        if isinstance(self.reference, str) or isinstance(self.enasim, str):
            return self.reference == self.enasim
        if not math.isfinite(self.enasim):
            return False
        if self.error is None:
            return self.enasim == self.reference
        return abs(self.error) <= self.tolerance + 1e-12


GROUPS: dict[str, Callable[[], Iterable[Check]]] = {}
ORDER = ("neurosim", "booksim", "nas")  # the groups, in the order they run and print


def group(name: str):
    """Register a function yielding the checks of one group (`enasim validate --only NAME`)."""
    def register(fn):
        GROUPS[name] = fn
        return fn
    return register


def run_checks(only: Sequence[str] = (), progress: Callable[[str], None] | None = None
               ) -> list[Check]:
    """The checks of the named groups (all when empty), in group order."""
    from enasim.validation import booksim, nas, neurosim  # noqa: F401  (register the groups)

    out: list[Check] = []
    for name in ORDER:
        if only and name not in only:
            continue
        if progress:
            progress(name)
        out.extend(GROUPS[name]())
    return out


HEADER = ("source", "quantity", "reference", "enasim", "error", "tolerance", "pass")


def table_rows(checks: Iterable[Check]) -> list[tuple[str, ...]]:
    """The printed table's cells: numbers to 4 significant digits, error and tolerance in %."""
    rows = []
    for c in checks:
        err = "" if c.error is None else f"{100 * c.error:+.2f} %"
        if c.tolerance is None:
            tol, ok = "info", "-"
        else:
            tol = "exact" if c.tolerance == 0 else f"±{100 * c.tolerance:g} %"
            ok = "yes" if c.passed else "NO"
        rows.append((c.source, c.quantity, _cell(c.reference), _cell(c.enasim), err, tol, ok))
    return rows


def _cell(v: float | str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e9:
        return f"{int(v):,}"
    return f"{v:.4g}"


def markdown(checks: Iterable[Check]) -> str:
    """The table as Markdown (the README's and docs/validation.md's tables are this output)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(checks)]
    return "\n".join(lines)
