"""Sweep throughput: points/s of the local backend with 1 and 2 workers, and the speed-up.

Each point is ResNet-18 on the event engine over flash_imc's cycle-level mesh (about 0.6 s)
with one ADC resolution and crossbar width. Target: speed-up >= 1.7x with 2 workers on a
2-core machine. Every run starts from an empty store in a temporary directory. `point_s` is
the mean time of a point inside its worker and `busy` the share of the workers' wall time
spent in points: busy near 100 % with a longer point_s means the cores slow each other down,
not that the pool idles.
Run: python benchmarks/bench_sweep.py [--workers 1 2] [--workload resnet18]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from enasim import sweep
from enasim.report import format_table

TARGET_SPEEDUP = 1.7


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="worker counts to measure; speed-ups are against the first")
    ap.add_argument("--workload", default="resnet18", help="zoo name run at every point")
    args = ap.parse_args()
    spec = sweep.spec_from_dict({
        "name": "bench", "hw": "flash_imc", "engine": "sim", "workloads": [args.workload],
        "axes": {"adc.bits": [3, 4, 5, 6], "crossbar.cols": [128, 256]}})
    rows, base = [], None
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            result = sweep.run(spec, workers=workers, out=Path(tmp), progress=False)
            with sweep.Store(tmp, create=False) as store:
                point_s = [r["wall_s"] for r in store.rows("done")]
        if result.failed:
            raise SystemExit(f"{result.failed} points failed")
        rate = result.done / result.wall_s
        base = base or rate
        speedup = rate / base
        met = "" if workers != 2 else "yes" if speedup >= TARGET_SPEEDUP else "NO"
        busy = sum(point_s) / (result.wall_s * workers)
        rows.append([workers, result.done, round(sum(point_s) / len(point_s), 2),
                     round(result.wall_s, 2), f"{busy:.0%}", round(rate, 3), f"{speedup:.2f}x",
                     met])
    print(format_table(["workers", "points", "point_s", "wall_s", "busy", "points_per_s",
                        "speedup", f">= {TARGET_SPEEDUP}x"], rows))


if __name__ == "__main__":
    main()
