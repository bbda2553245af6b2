"""ENASA group runs: simulated sub-net evaluations per wall-second on enasa.yaml, on the ideal
interconnect and on the cycle-level mesh, and what the mesh does to OPS's speed-up.

Groups of 4 seeded random SPOS sub-nets (and stage-wise groups, bottom half fixed), one image,
in each mode, through the main engine's `ops` schedule. Target (issue 8, zero-load timing):
>= 50 sub-nets/s for OPS groups of 4 with the ideal interconnect. The mesh carries about 9
million one-flit packets per SPOS group, so it gets fewer groups (`--mesh-groups`). The second
table gives per case and interconnect the chip cycles summed over the groups and OPS's speed-up
over the sequential and concurrent baselines; the last lines extrapolate the wall time of a
1,050-candidate search. Run: python benchmarks/bench_enasa.py [--groups N] [--mesh-groups N]
"""

from __future__ import annotations

import argparse
import random
import time

from enasim.config import load
from enasim.mapping.supernet import SupernetChip
from enasim.nas.enasa.groups import random_group, stagewise_group
from enasim.nas.spaces.spos import SPOS
from enasim.report import format_table
from enasim.sim.ops import GROUP_SCHEDULES as MODES
from enasim.sim.ops import run_group

TARGET_SUBNETS_PER_S = 50.0
SEARCH_EVALUATIONS = 1050


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=50, help="groups per case, ideal NoC")
    ap.add_argument("--mesh-groups", type=int, default=2, help="groups per case, mesh")
    ap.add_argument("--hw", default="enasa")
    ap.add_argument("--depthwise", choices=("packed", "digital"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    hw = load(args.hw)
    t0 = time.perf_counter()
    chip = SupernetChip(SPOS, hw, args.depthwise)
    map_s = time.perf_counter() - t0
    rng = random.Random(args.seed)
    cases = {"random": [random_group(rng, SPOS, 4) for _ in range(args.groups)]}
    best = random_group(rng, SPOS, 1)[0]
    cases["stagewise"] = [stagewise_group(rng, SPOS, 4, best, "bottom")
                          for _ in range(args.groups)]
    rows, gains, rates = [], [], {}
    for noc, n in (("ideal", args.groups), (hw.noc.model, args.mesh_groups)):
        for name, groups in cases.items():
            cycles = {}
            for mode in MODES:
                start = time.perf_counter()
                cycles[mode] = sum(run_group(chip, g, mode, 1, noc).latency_cycles
                                   for g in groups[:n])
                wall = time.perf_counter() - start
                rate = 4 * n / wall
                rates[(noc, name, mode)] = rate
                target = noc == "ideal" and mode == "ops"
                rows.append([name, noc, mode, chip.depthwise, n, round(wall, 3), round(rate, 2),
                             f">= {TARGET_SUBNETS_PER_S:g}" if target else "-",
                             ("yes" if rate >= TARGET_SUBNETS_PER_S else "NO") if target
                             else "-"])
            gains.append([name, noc, n, cycles["ops"], cycles["concurrent"],
                          cycles["sequential"],
                          round(cycles["sequential"] / cycles["ops"], 3),
                          round(cycles["concurrent"] / cycles["ops"], 3)])
    print(format_table(["groups", "noc", "mode", "depthwise", "n_groups", "wall_s",
                        "subnets_per_s", "target", "met"], rows))
    print()
    print(format_table(["groups", "noc", "n_groups", "ops_cycles", "concurrent_cycles",
                        "sequential_cycles", "speedup_vs_sequential",
                        "speedup_vs_concurrent"], gains))
    for (noc, name, mode), rate in rates.items():
        if mode != "ops":
            continue
        with_baselines = sum(SEARCH_EVALUATIONS / rates[(noc, name, m)] for m in MODES)
        print(f"{name}, {noc}: a {SEARCH_EVALUATIONS}-candidate search simulates in "
              f"{SEARCH_EVALUATIONS / rate:.1f} s (OPS only) or {with_baselines:.1f} s (with "
              f"both baselines) on one worker, per image batch")
    print(f"chip mapped in {map_s:.3f} s")


if __name__ == "__main__":
    main()
