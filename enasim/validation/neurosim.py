"""enasim against DNN_NeuroSim V1.3 runs (enasim/reference/cim): the `neurosim_v13` hwconfig,
edited as each run's NeuroSim configuration was, on the run's network.

Counting rules (tiles, speed-ups, ADC cycles) must match exactly; chip latency, area and
dynamic energy, and each layer's latency and dynamic energy, within 10 %. NeuroSim's energies
come from traces whose input-bit density differs per layer (neurosim_v13_input_bit_density.csv);
the hwconfig holds one density, so each layer's energy is taken from a run at its own density.
A layer below 1 % of the chip's latency (or dynamic energy) is shown for information: a
relative error on a few hundred cycles says nothing of the chip (fc8 of VGG8 is 0.01 % of its
energy).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from enasim.errors import EnasimError
from enasim.validation import REFERENCE_DIR, Check, group, read_reference

CIM = REFERENCE_DIR / "cim"
HWCONFIG = "neurosim_v13"


@dataclass(frozen=True)
class Run:
    """A NeuroSim run's network and the hwconfig edits reproducing its Param.cpp changes. A run
    with a `gap` (why enasim cannot reproduce it yet) is shown for information, but for the
    counting rules, which stay exact."""

    network: str
    edits: dict[str, object] = field(default_factory=dict)
    gap: str = ""


RUNS: dict[str, Run] = {
    "ns13_vgg8_default": Run("vgg8"),
    "ns13_vgg8_adc4bit": Run("vgg8", {"adc.bits": 4}),
    "ns13_cnn6_default": Run("NetWork_CNN6.csv"),
    "ns13_vgg8_sub256": Run("vgg8", {"crossbar.rows": 256, "crossbar.cols": 256,
                                     "crossbar.rows_parallel": 256},
                            gap="the sensing cycle and the PE periphery do not follow "
                            "crossbar.rows (NeuroSim's clock: 2.935 ns)"),
    # Param.cpp pipeline = true (speedUpDegree 8 as shipped, capped at 4 by NeuroSim)
    "ns13_vgg8_pipeline": Run("vgg8", {"execution.mode": "pipelined",
                                       "mapping.duplication": "balance"}),
}
EXACT, CLOSE, ADC_AREA, CHIP = 0.0, 0.005, 0.05, 0.10
SMALL_LAYER = 0.01  # share of the chip's dynamic energy below which a layer is not graded


def reference_runs() -> list[str]:
    """Run ids with a summary file, each of which must have an entry in RUNS."""
    return sorted(p.name.removeprefix("neurosim_v13_").removesuffix("_summary.csv")
                  for p in CIM.glob("neurosim_v13_*_summary.csv"))


@group("neurosim")
def checks() -> Iterator[Check]:
    for stem in reference_runs():
        yield from run_checks(f"ns13_{stem}")


def run_checks(run: str) -> Iterator[Check]:
    """The checks of one NeuroSim run, by its id (file names neurosim_v13_<id>_*.csv)."""
    from enasim.api import run as simulate

    stem = run.removeprefix("ns13_")
    if run not in RUNS:
        raise EnasimError(f"no hwconfig edits known for NeuroSim run '{run}' "
                          f"(enasim/validation/neurosim.py RUNS)")
    layers = read_reference("cim", f"neurosim_v13_{stem}_layers.csv")
    summary = {r["metric"]: float(r["value"])
               for r in read_reference("cim", f"neurosim_v13_{stem}_summary.csv")}
    spec = RUNS[run]
    net, edits = spec.network, spec.edits
    workload = CIM / net if net.endswith(".csv") else net
    res = simulate(HWCONFIG, workload, overrides=edits, engine="analytical")
    stats, hw = res.stats, res.mapping.hw
    clock = summary["clock_period_ns"]
    src = f"NeuroSim {stem}" + (" (not graded)" if spec.gap else "")
    tol = None if spec.gap else CHIP
    dyn = _dynamic_pj(run, workload, edits, stats)

    def ints(key: str, scale: float = 1.0) -> str:
        return ", ".join(str(round(float(r[key]) / scale)) for r in layers)

    if spec.gap:
        yield Check(src, f"not graded: {spec.gap}", "", "", None)
    yield Check(src, "tiles per layer", ints("num_tiles"),
                ", ".join(str(ls.tiles) for ls in stats.layers), EXACT)
    yield Check(src, "speed-up per layer", ints("speedup"),
                ", ".join(str(ls.speedup) for ls in stats.layers), EXACT)
    yield Check(src, "ADC cycles per layer", ints("adc_latency_ns", clock),
                ", ".join(str(ls.adc_cycles) for ls in stats.layers), EXACT)
    yield Check(src, "clock period (ns)", clock, hw.clock_period_ns,
                CLOSE if tol else None)
    yield Check(src, "ADC area (mm²)", summary["adc_area_um2"] / 1e6,
                stats.area_um2["adc"] / 1e6, ADC_AREA if tol else None)
    yield Check(src, "chip area (mm²)", summary["chip_area_um2"] / 1e6,
                sum(stats.area_um2.values()) / 1e6, tol, headline=not spec.gap)
    yield Check(src, "latency (µs)", summary["read_latency_ns"] / 1e3,
                stats.latency_ns / 1e3, tol, headline=not spec.gap)
    ref_dyn = summary["read_dynamic_energy_pj"]
    yield Check(src, "dynamic energy (µJ)", ref_dyn / 1e6, sum(dyn) / 1e6, tol,
                headline=not spec.gap)
    leak = stats.energy_by_component_pj().get("leakage", 0.0)
    yield Check(src, "leakage energy (µJ)", summary["leakage_energy_pj"] / 1e6, leak / 1e6,
                None)
    for r, ls, e in zip(layers, stats.layers, dyn, strict=True):
        ref_t = float(r["read_latency_ns"])
        yield Check(src, f"layer {r['layer']} latency (µs)", ref_t / 1e3,
                    ls.latency_cycles * hw.clock_period_ns / 1e3,
                    tol if ref_t >= SMALL_LAYER * summary["read_latency_ns"] else None)
        ref_e = float(r["read_dynamic_energy_pj"])
        yield Check(src, f"layer {r['layer']} dynamic energy (µJ)", ref_e / 1e6, e / 1e6,
                    tol if ref_e >= SMALL_LAYER * ref_dyn else None)


def densities(run: str) -> list[float] | None:
    """The input-bit density of each layer of a run's NeuroSim traces, if recorded."""
    rows = [r for r in read_reference("cim", "neurosim_v13_input_bit_density.csv")
            if r["run_id"] == run]
    return [float(r["input_bit_density"]) for r in sorted(rows, key=lambda r: int(r["layer"]))] \
        or None


def _dynamic_pj(run: str, workload, edits: dict[str, object], stats) -> list[float]:
    """Each layer's dynamic energy, at its trace's input-bit density when recorded."""
    from enasim.api import run as simulate

    def dynamic(ls) -> float:
        return ls.total_energy_pj - ls.energy_pj.get("leakage", 0.0)

    dens = densities(run)
    if dens is None:
        return [dynamic(ls) for ls in stats.layers]
    if len(dens) != len(stats.layers):
        raise EnasimError(f"{CIM / 'neurosim_v13_input_bit_density.csv'}: {run} has "
                          f"{len(dens)} input-bit densities for {len(stats.layers)} layers")
    by_density = {d: simulate(HWCONFIG, workload, engine="analytical",
                              overrides={**edits, "activity.input_bit_density": d}).stats
                  for d in sorted(set(dens))}
    return [dynamic(by_density[d].layers[i]) for i, d in enumerate(dens)]
