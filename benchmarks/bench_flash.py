"""FLASH search speed beside the targets of issue 7, on flash_imc.

Training-free NAS over 20,000 samples (target <= 0.05 s) and hierarchical SHGO, unconstrained
(<= 0.1 s) and constrained (<= 0.3 s), with one-level SHGO beside it; each the best of three
timed runs after an untimed one (which imports and warms caches). Models: `--models FILE`
(from `enasim flash fit`) or, by default, fitted here on 120 networks simulated with the
analytical engine.

    python benchmarks/bench_flash.py [--models OUT/models.json]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from enasim.analytical.fitted import HardwareModels
from enasim.config import load
from enasim.nas.flash import search as fs
from enasim.nas.flash.fit import fit_run
from enasim.nas.spaces.densenet_flash import FlashSpace
from enasim.report.tables import format_table

PREDICTOR = (1.05, 120.0, -3.0)  # an example theta(g); the searches' cost does not depend on it
CONSTRAINED = fs.Bounds(area_mm2=20.0, latency_ms=0.5, energy_mj=0.05)


def models_path() -> Path:
    if "--models" in sys.argv:
        return Path(sys.argv[sys.argv.index("--models") + 1])
    out = Path(tempfile.mkdtemp()) / "fit"
    fit_run("flash_imc", 60, 60, 0, out, engine="analytical", noc=None, progress=False)
    return out / "models.json"


def timed(name: str, bounds: fs.Bounds, hw, models) -> fs.Result:
    def once():
        ev = fs.Evaluator(hw, models, FlashSpace(), PREDICTOR, bounds)
        return fs.SEARCHES[name](ev)

    once()
    return min((once() for _ in range(3)), key=lambda r: r.seconds)


def main() -> None:
    hw = load("flash_imc")
    models = HardwareModels.load(models_path())
    cases = [("training-free", fs.Bounds(area_mm2=20.0), 0.05),
             ("hierarchical", fs.Bounds(), 0.1), ("one-level", fs.Bounds(), None),
             ("hierarchical", CONSTRAINED, 0.3), ("one-level", CONSTRAINED, None)]
    rows = []
    for name, bounds, target in cases:
        r = timed(name, bounds, hw, models)
        rows.append([name, "yes" if bounds.any else "no", r.evaluations, f"{r.seconds:.3f}",
                     f"<= {target}" if target else "-", f"{r.objective:.5g}" if r.feasible
                     else "infeasible"])
    print(f"FLASH searches on flash_imc, space of {FlashSpace().count():.3g} architectures")
    print(format_table(["search", "constrained", "evaluations", "seconds", "target s",
                        "objective"], rows))


if __name__ == "__main__":
    main()
