"""Crossbar MAC speed: 128x128 MVMs per second, Numba kernel vs the numpy reference.

8-bit weights in 2-bit cells (4 slices), 8 input bits applied one per read phase, 4-bit ADC
('full' range), ideal cells; batch 1 and 256, both signed-weight schemes. CrossSim's figures
for the same slicing on the same kind of 2-core machine (../shared/notes/cim-simulators.md 4.1)
are printed beside them. Times are the best of several runs (the machine is shared). The
kernel runs on one thread unless NUMBA_NUM_THREADS is set (`mac.kernel_threads`):

    python benchmarks/bench_mac.py
    NUMBA_NUM_THREADS=2 python benchmarks/bench_mac.py
"""

from __future__ import annotations

import time

import numpy as np

from enasim.config import from_dict
from enasim.kernels import mac, mac_reference
from enasim.kernels.mac_spec import MacSpec, program
from enasim.report.tables import format_table

CROSSSIM_MVM_PER_S = {1: 2e3, 256: 4.9e3}  # 4 x 2-bit weight slices, 8 input-bit slices
SIZE = 128


def mvm_per_s(fn, x, layer, seconds: float = 0.5, repeats: int = 5) -> float:
    fn(x, layer)  # compile / warm up outside the timing
    best = 0.0
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while (dt := time.perf_counter() - t0) < seconds:
            fn(x, layer)
            n += 1
        best = max(best, n * x.shape[0] / dt)
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for scheme in ("offset", "differential"):
        hw = from_dict({"extends": "flash_imc", "precision": {"signed_weights": scheme},
                        "adc": {"bits": 4}}, "bench")
        layer = program(rng.integers(-128, 128, (SIZE, SIZE)), MacSpec.from_hw(hw))
        for batch, crosssim in CROSSSIM_MVM_PER_S.items():
            x = rng.integers(0, 256, (batch, SIZE))
            fast = mvm_per_s(mac.mvm, x, layer)
            ref = mvm_per_s(mac_reference.mvm, x, layer)
            rows.append([scheme, batch, f"{fast:,.0f}", f"{ref:,.0f}", f"{fast / ref:.1f}x",
                         f"{crosssim:,.0f}", f"{fast / crosssim:.0f}x"])
    print(f"{SIZE}x{SIZE} MVMs per second, 8-bit weights in 2-bit cells, 8 input bits, 4-bit "
          f"ADC; {mac.kernel_threads()} kernel threads\n")
    print(format_table(["signed", "batch", "numba", "numpy ref", "speed-up", "CrossSim",
                        "vs CrossSim"], rows))


if __name__ == "__main__":
    main()
