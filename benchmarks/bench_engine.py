"""Event-engine speed: wall time, events and simulated cycles per workload on flash_imc.yaml.

Prints one row per workload beside the wall time other tools need for the same job (from
../shared/reference and ../shared/notes: NeuroSim V1.3's C++ model, 107 s for VGG8 plus 12 s of
trace dumping; MNSIM-2.0, 8.3 s for its own VGG8). Targets: VGG8 < 2 s, ResNet-18 < 20 s on a
2-core machine. Run: python benchmarks/bench_engine.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time

from enasim.config import load
from enasim.mapping import map_network
from enasim.report import format_table
from enasim.sim import Simulator
from enasim.workload import load_workload

CASES = [  # workload, target (s), NeuroSim V1.3 (s), MNSIM-2.0 (s)
    ("vgg8", 2.0, "107", "8.3"),
    ("resnet18", 20.0, "-", "-"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per workload (best is shown)")
    ap.add_argument("--hw", default="flash_imc")
    args = ap.parse_args()
    hw = load(args.hw)
    rows = []
    for name, target, neurosim, mnsim in CASES:
        t0 = time.perf_counter()
        mapping = map_network(load_workload(name), hw)
        map_s = time.perf_counter() - t0
        best, sim = float("inf"), None
        for _ in range(args.repeat):
            sim = Simulator(mapping)
            t0 = time.perf_counter()
            stats = sim.run()
            best = min(best, time.perf_counter() - t0)
        wall = map_s + best
        rows.append([name, hw.name, round(wall, 3), sim.events_processed, stats.latency_cycles,
                     f"< {target:g}", "yes" if wall < target else "NO", neurosim, mnsim])
    print(format_table(["workload", "hwconfig", "wall_s", "events", "sim_cycles", "target_s",
                        "met", "NeuroSim_V1.3_s", "MNSIM-2.0_s"], rows))


if __name__ == "__main__":
    main()
