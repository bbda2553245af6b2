"""`enasim sweep`: run a sweep spec (`enasim sweep SPEC.yaml -o OUT`), plot or export its store.

`run` is the default action: `enasim sweep SPEC.yaml` means `enasim sweep run SPEC.yaml`, so a
spec file literally named `plot`, `export` or `run` must be written `./plot`.
"""

from __future__ import annotations

import argparse
import sys

from enasim.config.options import add_set_option
from enasim.errors import ConfigError
from enasim.fileio import check_output_file
from enasim.sweep.backends import BACKENDS
from enasim.validate import WORKERS_MAX, int_arg

ACTIONS = ("run", "plot", "export")


def default_action(argv: list[str]) -> list[str]:
    """`sweep SPEC ...` -> `sweep run SPEC ...`; other command lines unchanged."""
    if len(argv) >= 2 and argv[0] == "sweep" and argv[1] not in (*ACTIONS, "-h", "--help"):
        return ["sweep", "run", *argv[1:]]
    return argv


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run grids of hwconfigs x workloads into a result store",
                       description="enasim sweep SPEC.yaml -o OUT runs a sweep ('run' is the "
                                   "default action); 'plot' and 'export' read OUT's store.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    r = actions.add_parser("run", help="run the points of SPEC.yaml not yet in OUT (default)")
    r.add_argument("spec", metavar="SPEC.yaml")
    add_set_option(r)
    r.add_argument("-o", "--out", metavar="OUT",
                   help="sweep directory holding results.sqlite (default: results/sweep-NAME)")
    r.add_argument("--workers", type=int_arg(1, WORKERS_MAX), metavar="N",
                   help="worker processes of the local backend or of --scheduler local "
                        "(default: the CPUs available)")
    r.add_argument("--backend", choices=BACKENDS, default="local",
                   help="'local': process pool (default); 'dask': a dask.distributed cluster "
                        "(needs --scheduler)")
    r.add_argument("--scheduler", metavar="ADDRESS|local",
                   help="with --backend dask: the scheduler's address (e.g. "
                        "tcp://10.0.0.1:8786), or 'local' to start a cluster of --workers "
                        "processes for this sweep and close it at the end")
    r.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip points already stored (default); --no-resume reruns them all")
    r.add_argument("--retry-failed", action="store_true",
                   help="rerun the points stored as failed (--no-resume reruns them anyway)")
    r.add_argument("--quiet", action="store_true", help="no progress bar, print only OUT")
    r.set_defaults(func=cmd_run)

    pl = actions.add_parser("plot", help="plot one store column over another into OUT/plots")
    pl.add_argument("out", metavar="OUT")
    pl.add_argument("--x", required=True, metavar="COLUMN", help="e.g. adc.bits")
    pl.add_argument("--y", required=True, metavar="COLUMN", help="e.g. energy_uj")
    pl.add_argument("--hue", metavar="COLUMN", help="one line per value, e.g. workload")
    pl.set_defaults(func=cmd_plot)

    ex = actions.add_parser("export", help="write OUT's table as CSV and/or Parquet")
    ex.add_argument("out", metavar="OUT")
    ex.add_argument("--csv", metavar="FILE", help="CSV file to write")
    ex.add_argument("--parquet", metavar="FILE", help="needs pyarrow ('enasim[parquet]')")
    ex.set_defaults(func=cmd_export)


def cmd_run(args) -> int:
    from enasim.sweep.runner import run
    from enasim.sweep.spec import load_spec
    from enasim.sweep.store import Store

    if args.retry_failed and not args.resume:
        raise ConfigError("", "--retry-failed", "applies when resuming; --no-resume reruns "
                          "every point, failed ones included")
    spec = load_spec(args.spec, args.set)
    try:
        result = run(spec, backend=args.backend, workers=args.workers, out=args.out,
                     scheduler=args.scheduler, resume=args.resume,
                     retry_failed=args.retry_failed, progress=False if args.quiet else None)
    except KeyboardInterrupt:
        print("\nenasim: sweep interrupted; finished points are stored, run the same command "
              "again to resume", file=sys.stderr)
        return 130
    out = result.store.parent
    if args.quiet:
        print(out)
        return 0
    print(f"sweep {spec.name}: {result.total} points: {result.skipped} already stored, "
          f"{result.done} done and {result.failed} failed now ({result.wall_s:.1f} s)")
    with Store(out, create=False) as store:
        failed = store.rows("failed")
    for row in failed[:3]:
        what = ", ".join(f"{a}={row[a]}" for a in spec.axis_names)
        print(f"  failed: {what + ' ' if what else ''}{row['workload']} repeat {row['repeat']}: "
              f"{row['error']}")
    if len(failed) > 3:
        print(f"  ... {len(failed)} failed points in all (column 'error')")
    print(f"results in {result.store} and {out / 'results.csv'}")
    return 0


def cmd_plot(args) -> int:
    from enasim.sweep.plot import plot_sweep

    print(plot_sweep(args.out, args.x, args.y, args.hue))
    return 0


def cmd_export(args) -> int:
    from enasim.sweep.store import Store

    if not args.csv and not args.parquet:
        raise ConfigError("", "--csv", "give --csv FILE and/or --parquet FILE")
    for flag, path in (("--csv", args.csv), ("--parquet", args.parquet)):
        if path:
            check_output_file(path, flag)
    with Store(args.out, create=False) as store:
        if args.csv:
            print(store.export_csv(args.csv))
        if args.parquet:
            print(store.export_parquet(args.parquet))
    return 0
