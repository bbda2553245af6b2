"""`enasim validate`: run the comparisons with the reference tools and print one table."""

from __future__ import annotations

import argparse
import sys

from enasim.validation import HEADER, ORDER, markdown, run_checks, table_rows


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="compare enasim with NeuroSim V1.3, BookSim2 and the NAS "
                       "papers' code on the reference data in the package; exit 1 on a failure")
    p.add_argument("--only", nargs="+", choices=ORDER, metavar="GROUP",
                   help=f"run only these groups ({', '.join(ORDER)}); default: all")
    p.add_argument("--brief", action="store_true",
                   help="print the headline rows only (the README's table); failures are "
                   "counted over every row all the same")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    from enasim.report.tables import format_table  # not at import: it loads the engine

    checks = run_checks(args.only or (), progress=lambda g: print(f"validate: {g} ...",
                                                                  file=sys.stderr))
    shown = [c for c in checks if c.headline] if args.brief else checks
    print(markdown(shown) if args.markdown else format_table(HEADER, table_rows(shown)))
    failed = [c for c in checks if c.passed is False]
    graded = sum(c.passed is not None for c in checks)
    print(f"\n{graded - len(failed)} of {graded} checks passed"
          + (f"; failed: {'; '.join(f'{c.source}: {c.quantity}' for c in failed)}"
             if failed else ""), file=sys.stderr if args.markdown else sys.stdout)
    return 1 if failed else 0

