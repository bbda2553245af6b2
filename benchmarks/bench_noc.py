"""NoC speed and BookSim2 agreement.

Prints flits per wall-second (best of three runs) for both models at 4x4 @ 0.1 and 8x8 @ 0.3
(uniform, 1-flit) beside BookSim2's figures from enasim/reference/README.md: the compiled
model's run alone, counting the mesh's start-up (building it and the first call, in a process
where Numba's code is loaded), and as a whole fresh process (Python, NumPy and Numba start-up
included, as a one-off command pays them); then (with --curves) the full latency curves and
saturation throughput against mesh_uniform_curves.csv.

    python benchmarks/bench_noc.py [--curves]
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

from enasim.noc.measure import Measurement, make_mesh, run_synthetic, throughput_mode
from enasim.noc.router import RouterParams
from enasim.noc.traffic import SyntheticSource, generate
from enasim.report.tables import format_table

REFERENCE = Path(__file__).resolve().parents[1] / "enasim" / "reference" / "booksim"
BOOKSIM_FLITS_PER_S = {(4, 0.1): 118e3, (8, 0.3): 71e3}  # reference README, same machine kind


def speed(k: int, rate: float, model: str, cycles: int, repeat: int = 3) -> tuple[float, float]:
    """Flits per wall-second of `cycles` cycles, the best of `repeat` runs (the host's other
    load only ever slows a run down): of the run alone (Numba's code loaded by a 10-cycle run
    on another mesh), and counting the mesh's start-up (building it, first call)."""
    pk = generate("uniform", k, k, rate, 1, 0, cycles, seed=1)
    make_mesh(RouterParams(k, k), pk, model).run(10)  # load the compiled code once
    run_only = with_startup = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        mesh = make_mesh(RouterParams(k, k), pk, model)
        mesh.run(10)
        t1 = time.perf_counter()
        mesh.run(cycles)
        t2 = time.perf_counter()
        run_only = max(run_only, mesh.ejected_flits / (t2 - t1))
        with_startup = max(with_startup, mesh.ejected_flits / (t2 - t0))
    return run_only, with_startup


PROCESS = """
import sys
from enasim.noc.router import RouterParams
from enasim.noc.measure import make_mesh
from enasim.noc.traffic import generate
k, rate, cycles = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
mesh = make_mesh(RouterParams(k, k), generate("uniform", k, k, rate, 1, 0, cycles, seed=1))
mesh.run(cycles)
print(mesh.ejected_flits)
"""


def whole_process(k: int, rate: float, cycles: int, repeat: int = 3) -> float:
    """Flits per wall-second of a fresh interpreter that imports enasim, loads Numba's cached
    code and runs `cycles` cycles (Python's and Numba's start-up included)."""
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROCESS, str(k), str(rate), str(cycles)],
                             capture_output=True, text=True, check=True).stdout
        best = max(best, int(out) / (time.perf_counter() - t0))
    return best


def speed_table() -> None:
    rows = []
    for (k, rate), booksim in BOOKSIM_FLITS_PER_S.items():
        comp, comp_start = speed(k, rate, "compiled", 20000)
        proc, _ = speed(k, rate, "process", 2000 if k == 8 else 5000)
        fresh = whole_process(k, rate, 20000)
        rows.append([f"{k}x{k} @ {rate}", f"{booksim:,.0f}", f"{comp:,.0f}",
                     f"{comp / booksim:.1f}x", f"{comp_start / booksim:.1f}x",
                     f"{fresh / booksim:.2f}x", f"{proc:,.0f}", f"{proc / booksim:.2f}x"])
    print("uniform traffic, 1-flit packets, 20,000 cycles (process model: 2,000-5,000); "
          "targets: compiled >= 20x BookSim2 at 8x8 @ 0.3, >= 10x at 4x4 @ 0.1 with start-up")
    print(format_table(["load", "BookSim2 flits/s", "compiled flits/s", "vs BookSim",
                        "with mesh start-up", "whole fresh process", "process flits/s",
                        "vs BookSim"], rows))


def curves() -> None:
    rows = []
    for r in csv.DictReader((REFERENCE / "mesh_uniform_curves.csv").open()):
        k, flits = int(r["cfg_k"]), int(r["cfg_packet_size"])
        rate = float(r["cfg_injection_rate"])
        src = SyntheticSource("uniform", k, k, rate, flits, 1)
        if r["run_id"].startswith("thr"):
            res = run_synthetic(RouterParams(k, k), src, throughput_mode())
            ref, got = float(r["acc_flit_rate_avg"]), res["accepted_flit_rate"]
            what = "saturation throughput"
        else:
            res = run_synthetic(RouterParams(k, k), src, Measurement())
            ref, got = float(r["plat_avg"]), res["avg_packet_latency"]
            what = "latency" + (" (saturated)" if res["saturated"] else "")
        err = f"{(got - ref) / ref:+.2%}" if got is not None else "-"
        rows.append([r["run_id"], what, r["status"], f"{ref:.4g}",
                     "-" if got is None else f"{got:.4g}", err])
        print(rows[-1], file=sys.stderr)
    print(format_table(["run", "metric", "BookSim status", "BookSim", "enasim", "error"], rows))


if __name__ == "__main__":
    speed_table()
    if "--curves" in sys.argv:
        curves()
