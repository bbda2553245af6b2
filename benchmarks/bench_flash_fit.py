"""`enasim flash fit` on the cycle-level mesh beside the targets of issue 22.

The default fit (flash_imc with its compiled mesh, 180 train / 540 held-out networks, seed 0)
into a fresh directory, timed end to end, then: the wall time against the 10-minute target,
where the simulation time goes (per-network seconds, the share of the largest networks and of
each w_m), and Table 7's latency and energy errors against theirs (latency mean <= 3 %,
max <= 15 %; energy <= 2 / 10 %). A run takes about half an hour on 2 cores.

    python benchmarks/bench_flash_fit.py [--workers 2] [--train 180] [--test 540] [-o DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from enasim.nas.flash.fit import SIMS, fit_run
from enasim.report.tables import format_table

TARGETS = {"latency_ns": (3.0, 15.0), "energy_uj": (2.0, 10.0), "area_mm2": (1e-6, 1e-6)}
WALL_TARGET_S = 600.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--train", type=int, default=180)
    ap.add_argument("--test", type=int, default=540)
    ap.add_argument("-o", "--out", default=None, help="a fresh directory (default: a temp one)")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp()) / "fit"
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    r = fit_run("flash_imc", args.train, args.test, 0, out, workers=args.workers,
                progress=False)
    wall = time.perf_counter() - t0
    with sqlite3.connect(f"file:{out / SIMS / 'results.sqlite'}?mode=ro", uri=True) as db:
        secs = dict(db.execute("select workload, wall_s from results where status = 'done'"))
    nets = list(csv.DictReader((out / "networks.csv").open()))
    s = np.array([secs[n["network"]] for n in nets])
    wm = np.array([int(n["wm"]) for n in nets])
    top = np.sort(s)[::-1][: len(s) // 10].sum() / s.sum()
    print(f"flash fit on {r.truth}, {args.train} + {args.test} networks, {args.workers} "
          f"workers; load average before the run {load:.2f}")
    print(format_table(["quantity", "measured", "target"], [
        ["whole fit, wall s", f"{wall:.0f}", f"<= {WALL_TARGET_S:.0f}"],
        ["simulating, wall s", f"{r.sim_wall_s:.0f}", ""],
        ["per network s, mean / median / max", f"{s.mean():.2f} / {np.median(s):.2f} / "
         f"{s.max():.1f}", ""],
        ["largest 10 % of the networks, share of the time", f"{top:.0%}", ""],
        *[[f"w_m = {m}: networks, share of the time", f"{(wm == m).sum()}, "
           f"{s[wm == m].sum() / s.sum():.0%}", ""] for m in (1, 2, 3)]]))
    print(format_table(["target", "features", "mean error %", "max error %", "target %"],
                       [[t, f, f"{mean:.3g}", f"{mx:.3g}",
                         f"{TARGETS[t][0]:g} / {TARGETS[t][1]:g}" if f == "enasim" else ""]
                        for t, f, _, mean, mx, _ in r.rows7]))


if __name__ == "__main__":
    main()
