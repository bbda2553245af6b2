"""ENASA engine speed: simulated sub-net evaluations per wall-second on enasa.yaml.

Groups of 4 seeded random SPOS sub-nets (and stage-wise groups, bottom half fixed), one image,
in each mode. Target (issue 8): >= 50 sub-nets/s for OPS groups of 4, so that a full
1,050-candidate SPOS search (50 + 20 x 50) simulates in well under a minute per image batch;
the last column extrapolates to that search (OPS only, and with both baselines as
`enasim enasa run` does by default). Run: python benchmarks/bench_enasa.py [--groups N]
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
    ap.add_argument("--groups", type=int, default=50, help="groups per case")
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
    rows, per_mode = [], {}
    for name, groups in cases.items():
        for mode in MODES:
            start = time.perf_counter()
            for g in groups:
                run_group(chip, g, mode, 1)
            wall = time.perf_counter() - start
            rate = 4 * len(groups) / wall
            per_mode.setdefault(name, {})[mode] = rate
            met = "yes" if rate >= TARGET_SUBNETS_PER_S else "NO"
            rows.append([name, mode, chip.depthwise, len(groups), round(wall, 3), round(rate, 1),
                         f">= {TARGET_SUBNETS_PER_S:g}" if mode == "ops" else "-",
                         met if mode == "ops" else "-"])
    print(format_table(["groups", "mode", "depthwise", "n_groups", "wall_s", "subnets_per_s",
                        "target", "met"], rows))
    for name, rates in per_mode.items():
        ops_only = SEARCH_EVALUATIONS / rates["ops"]
        with_baselines = sum(SEARCH_EVALUATIONS / r for r in rates.values())
        print(f"{name}: a {SEARCH_EVALUATIONS}-candidate search simulates in {ops_only:.1f} s "
              f"(OPS only) or {with_baselines:.1f} s (with both baselines), per image batch; "
              f"chip mapped in {map_s:.3f} s")


if __name__ == "__main__":
    main()
