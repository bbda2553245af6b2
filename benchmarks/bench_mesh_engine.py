"""The event engine with the cycle-level mesh on NAS-scale work, beside the ideal NoC.

A fixed, seeded set of FLASH networks (`enasim flash fit`'s sampler over w_m 1-3 and depths
5-30, 3 cells), plus vgg8 and resnet18, on flash_imc with the compiled mesh, layer_by_layer
and pipelined. Per case: wall seconds of the simulation (mapping included; mean and max over
the FLASH networks), simulated cycles and flits on the mesh, and the same with the ideal NoC
in the same run. Numba's cache is warmed by an untimed run first. Targets (issue "Mesh NoC,
part 1"): FLASH mean <= 0.5 s and max <= 3 s; vgg8 <= 0.3 s and resnet18 <= 3 s layer by
layer; pipelined vgg8 <= 2 s.

    python benchmarks/bench_mesh_engine.py [--networks 40] [--repeat 1] [--hw flash_imc]
"""

from __future__ import annotations

import argparse
import statistics
import time

from enasim.config import load
from enasim.mapping import map_network
from enasim.nas.flash.fit import sample_networks
from enasim.nas.spaces.densenet_flash import FlashSpace, build_from_spec
from enasim.report import format_table
from enasim.sim import Simulator
from enasim.workload import load_workload

TARGETS = {  # (case, mode) -> (target of the mean or single network s, target of the max s)
    ("flash", "layer_by_layer"): (0.5, 3.0), ("flash", "pipelined"): (0.5, 3.0),
    ("vgg8", "layer_by_layer"): (0.3, None), ("resnet18", "layer_by_layer"): (3.0, None),
    ("vgg8", "pipelined"): (2.0, None),
}


def simulate(network, hw, noc: str) -> tuple[float, int, int]:
    """Wall seconds (mapping and simulation), cycles and flits of one run."""
    t0 = time.perf_counter()
    stats = Simulator(map_network(network, hw), noc_model=noc).run()
    wall = time.perf_counter() - t0
    return wall, stats.latency_cycles, int(stats.traffic.packets.flits.sum())


def measure(networks, hw, noc: str, repeat: int) -> list[tuple[float, int, int]]:
    """Per network: the median wall time of `repeat` runs, cycles and flits."""
    out = []
    for net in networks:
        runs = [simulate(net, hw, noc) for _ in range(repeat)]
        out.append((statistics.median(r[0] for r in runs), runs[0][1], runs[0][2]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=int, default=40, help="FLASH networks (seeded)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per network, median shown (default 1: the whole script takes "
                         "about 25 minutes on a 2-core machine)")
    ap.add_argument("--hw", default="flash_imc")
    args = ap.parse_args()
    space = FlashSpace()
    wm, depths, tcs = sample_networks(space, args.networks, seed=0)
    flash = [build_from_spec(space.spec(wm[k], depths[k], tcs[k])) for k in range(len(wm))]
    simulate(load_workload("vgg8"), load(args.hw), "compiled")  # warm Numba's cache
    rows = []
    for mode in ("layer_by_layer", "pipelined"):
        hw = load(args.hw, [("execution.mode", mode)])
        for case, nets in (("flash", flash), ("vgg8", [load_workload("vgg8")]),
                           ("resnet18", [load_workload("resnet18")])):
            mesh = measure(nets, hw, "compiled", args.repeat)
            ideal = measure(nets, hw, "ideal", args.repeat)
            walls = [m[0] for m in mesh]
            mean_t, max_t = TARGETS.get((case, mode), (None, None))
            met = [w <= t for w, t in ((statistics.mean(walls), mean_t), (max(walls), max_t))
                   if t is not None]
            rows.append([
                f"{case} x{len(nets)}" if len(nets) > 1 else case, mode,
                f"{statistics.mean(walls):.3f}", f"{max(walls):.3f}",
                "-" if mean_t is None else f"{mean_t:g}" + (f" / {max_t:g}" if max_t else ""),
                "-" if not met else ("yes" if all(met) else "NO"),
                f"{statistics.mean(m[1] for m in mesh):,.0f}",
                f"{statistics.mean(m[2] for m in mesh):,.0f}",
                f"{statistics.mean(m[0] for m in ideal):.3f}",
                f"{statistics.mean(m[1] for m in ideal):,.0f}"])
            print(*rows[-1], flush=True)
    print(f"\n{args.hw}, compiled mesh vs ideal NoC; wall = median of {args.repeat} runs per "
          f"network, then mean and max over the networks")
    print(format_table(["case", "mode", "mesh wall s (mean)", "max", "target s (mean / max)",
                        "met", "mesh cycles (mean)", "flits (mean)", "ideal wall s (mean)",
                        "ideal cycles (mean)"], rows))


if __name__ == "__main__":
    main()
