"""Result files of a run: summary.json, layers.csv, components.csv, and with the event engine
noc.csv, links.csv and timeline.json (DESIGN section 7).

The files are written as one set (`enasim.fileio.result_set`): a reader sees the previous
run's files or all of the new ones. They contain no timestamps, so equal inputs give
byte-identical outputs.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from enasim import __version__
from enasim.config import HardwareConfig, config_hash
from enasim.config.loader import as_dict
from enasim.cost.adc import derived_values
from enasim.cost.area import COMPONENTS
from enasim.fileio import atomic_write, result_set
from enasim.mapping import Mapping
from enasim.report.noc import LINK_COLUMNS, NOC_COLUMNS, link_rows, noc_rows, noc_summary
from enasim.report.tables import shape_str
from enasim.report.timeline import timeline_json
from enasim.stats import Stats

LAYER_COLUMNS = ["layer", "name", "kind", "in_shape", "out_shape", "macs", "ops", "vectors",
                 "tiles", "crossbars", "speedup", "utilization", "start_cycle", "end_cycle",
                 "adc_cycles", "buffer_cycles", "digital_cycles", "noc_cycles", "latency_cycles",
                 "energy_pj"] + [f"energy_{c}_pj" for c in COMPONENTS]


def totals(stats: Stats, mapping: Mapping) -> dict[str, Any]:
    """The headline numbers of a run (what a sweep stores), without reading its traffic."""
    return {"utilization": mapping.utilization(), "area_mm2": sum(stats.area_um2.values()) / 1e6,
            "latency_cycles": stats.latency_cycles, "latency_ns": stats.latency_ns,
            "energy_uj": stats.energy_pj / 1e6, "tops_per_w": stats.tops_per_w}


def summary_dict(stats: Stats, mapping: Mapping, hw_source: str, seed: int,
                 overrides: list[str] | None = None,
                 activity: dict[str, Any] | None = None,
                 functional: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json; `overrides` (the --set items) and `activity` (how ADC energy was charged)
    are recorded when given, with the resolved config, so a run can be reproduced from it.
    `functional` holds the network's measured output error (`rel_rms_error`, None with a
    `reason` when not measured) and the ADC range probe (`enasim.functional.probe`)."""
    hw: HardwareConfig = mapping.hw
    net = mapping.network
    energy = stats.energy_by_component_pj()
    area_total = sum(stats.area_um2.values())
    t = totals(stats, mapping)
    derived = {k: v for k, (v, _) in derived_values(hw).items()}
    return {
        "enasim_version": __version__,
        "engine": stats.engine,
        "seed": seed,
        "hwconfig": {"name": hw.name, "source": hw_source, "hash": config_hash(hw),
                     **({"derived": derived} if derived else {}),
                     **({} if overrides is None else {"overrides": overrides,
                                                       "resolved": as_dict(hw)})},
        **({} if activity is None else {"activity": activity,
                                        "activity_mode": activity["mode"]}),
        "adc_range_mode": hw.adc.range_mode,
        **({} if functional is None else _functional(functional)),
        "workload": {"name": net.name, "layers": len(net.nodes) - 1,
                     "weight_layers": len(net.weight_layers), "macs": net.macs,
                     "params": net.params},
        "mode": hw.execution.mode,
        "accounting": stats.accounting,
        "noc_model": stats.noc_model,
        "clock_period_ns": hw.clock_period_ns,
        "mesh": None if stats.noc_model == "htree" else [mapping.mesh_rows, mapping.mesh_cols],
        "tiles": mapping.total_tiles,
        **({} if mapping.pipeline_speedup_degree is None else {"pipeline_speedup_degree": {
            "configured": hw.mapping.pipeline_speedup_degree,
            "effective": mapping.pipeline_speedup_degree}}),
        "crossbars": mapping.total_arrays,
        "utilization": t["utilization"],
        "area_mm2": t["area_mm2"],
        "area_um2": {"total": area_total, **stats.area_um2},
        "latency_cycles": t["latency_cycles"],
        "latency_ns": t["latency_ns"],
        "ops": stats.ops,
        "energy_uj": t["energy_uj"],
        "energy_uj_by_component": {k: v / 1e6 for k, v in energy.items()},
        "leakage_uw": stats.leakage_uw,
        "tops_per_w": t["tops_per_w"],
        **throughput(stats, hw),
        **({"noc": noc_summary(stats.traffic, stats.latency_cycles)} if stats.traffic else {}),
    }


def throughput(stats: Stats, hw: HardwareConfig) -> dict[str, Any]:
    """With several images: how many, the steady-state period (`Stats.period_cycles`), the
    throughput and the first image's latency; pipelined, the slowest stage and what sets the
    period (`Stats.bottleneck`: that layer, or the interconnect). Nothing for one image, but
    under NeuroSim's pipeline accounting, whose latency is the period: there the first image
    passes every layer in turn."""
    if stats.accounting == "neurosim" and hw.execution.mode == "pipelined":
        slowest = max(stats.layers, key=lambda ls: ls.latency_cycles)
        return {"period_cycles": stats.latency_cycles,
                "throughput_images_per_s": stats.throughput_images_per_s,
                "first_image_latency_cycles": sum(ls.latency_cycles for ls in stats.layers),
                "slowest_stage_layer": slowest.name,
                "slowest_stage_cycles": slowest.latency_cycles,
                "bottleneck_layer": slowest.name}
    if stats.images == 1:
        return {}
    out = {"images": stats.images, "period_cycles": stats.period_cycles,
           "throughput_images_per_s": stats.throughput_images_per_s,
           "first_image_latency_cycles": stats.first_image_latency_cycles}
    if hw.execution.mode == "pipelined":
        slowest, bottleneck = stats.slowest_stage, stats.bottleneck
        out |= {"slowest_stage_layer": slowest.name,
                "slowest_stage_cycles": slowest.busy_cycles_per_image,
                "bottleneck_layer": bottleneck.name if bottleneck else "interconnect"}
    return out


def _functional(f: dict[str, Any]) -> dict[str, Any]:
    """The functional-error fields of summary.json: the error, or null and the reason."""
    out: dict[str, Any] = {"functional_rel_rms_error": f["rel_rms_error"]}
    if f["rel_rms_error"] is None:
        out["functional_error_reason"] = f["reason"]
    return {**out, "adc_range_probe": f["adc_range_probe"]}


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    """CSV with a header; floats to 10 significant digits."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([f"{v:.10g}" if isinstance(v, float) else v for v in r])
    return buf.getvalue()


def _extra_components(stats: Stats) -> list[str]:
    """Blocks beyond `COMPONENTS` that some layer charged (ENASA's depthwise units)."""
    return list(dict.fromkeys(k for ls in stats.layers for k in ls.energy_pj
                              if k not in COMPONENTS))


# With several images: each layer's stage time, and 1 on the layer that sets the period
# (pipelined, `Stats.bottleneck`)
IMAGE_COLUMNS = ["busy_cycles_per_image", "bottleneck"]


def layer_columns(stats: Stats) -> list[str]:
    """layers.csv's header: `LAYER_COLUMNS`, a column per extra component, then with several
    images `IMAGE_COLUMNS`."""
    return (LAYER_COLUMNS + [f"energy_{c}_pj" for c in _extra_components(stats)]
            + (IMAGE_COLUMNS if stats.images > 1 else []))


def layer_rows(stats: Stats, pipelined: bool = False) -> list[list[Any]]:
    """layers.csv's rows; `pipelined` marks the layer that sets the period (layer by layer,
    or when the interconnect sets it, none does)."""
    parts = [*COMPONENTS, *_extra_components(stats)]
    bottleneck = stats.bottleneck if pipelined and stats.images > 1 else None
    rows = []
    for ls in stats.layers:
        rows.append([ls.index, ls.name, ls.kind, shape_str(ls.in_shape), shape_str(ls.out_shape),
                     ls.macs, ls.ops, ls.vectors, ls.tiles, ls.crossbars, ls.speedup,
                     ls.utilization, ls.start_cycle, ls.end_cycle, ls.adc_cycles,
                     ls.buffer_cycles, ls.digital_cycles, ls.noc_cycles, ls.latency_cycles,
                     ls.total_energy_pj] + [ls.energy_pj.get(c, 0.0) for c in parts]
                    + ([ls.busy_cycles_per_image, int(ls is bottleneck)] if stats.images > 1
                       else []))
    return rows


def component_rows(stats: Stats) -> list[list[Any]]:
    """Per component (`COMPONENTS`, then any other block of the chip): area and energy."""
    energy = stats.energy_by_component_pj()
    e_total, a_total = sum(energy.values()), sum(stats.area_um2.values())
    rows = []
    for c in dict.fromkeys([*energy, *stats.area_um2]):
        area, e = stats.area_um2.get(c, 0.0), energy.get(c, 0.0)
        rows.append([c, area, area / a_total if a_total else 0.0, e,
                     e / e_total if e_total else 0.0])
    return rows


COMPONENT_COLUMNS = ["component", "area_um2", "area_fraction", "energy_pj", "energy_fraction"]


def result_tables(stats: Stats, hw: HardwareConfig) -> dict[str, str]:
    """The run's CSV files as text, by name (noc and links when the engine recorded traffic)."""
    tables = {"layers": csv_text(layer_columns(stats),
                                 layer_rows(stats, hw.execution.mode == "pipelined")),
              "components": csv_text(COMPONENT_COLUMNS, component_rows(stats))}
    if stats.traffic is not None:
        tables["noc"] = csv_text(NOC_COLUMNS, noc_rows(stats.traffic, stats.transfers, hw.noc))
        tables["links"] = csv_text(LINK_COLUMNS, link_rows(stats.traffic, stats.latency_cycles))
    return tables


# What a results directory of `enasim run` may hold (anything else is not replaced).
RESULT_FILES = ("summary.json", "layers.csv", "components.csv", "noc.csv", "links.csv",
                "timeline.json", "plots")


def write_results(out_dir: str | Path, stats: Stats, mapping: Mapping, hw_source: str,
                  seed: int, overrides: list[str] | None = None,
                  activity: dict[str, Any] | None = None,
                  functional: dict[str, Any] | None = None, plots: bool = False,
                  tables: dict[str, str] | None = None) -> dict[str, Any]:
    """Replace `out_dir` with the run's files as one set (noc.csv, links.csv and timeline.json
    when the engine recorded traffic and spans; with `plots`, plots/ drawn from them); return
    the summary. `tables` are the CSV texts if the caller has already made them."""
    summary = summary_dict(stats, mapping, hw_source, seed, overrides, activity, functional)
    with result_set(out_dir, RESULT_FILES) as out:
        atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        for name, text in (tables or result_tables(stats, mapping.hw)).items():
            atomic_write(out / f"{name}.csv", text)
        if stats.spans:
            atomic_write(out / "timeline.json", timeline_json(stats, {
                "workload": summary["workload"]["name"],
                "hwconfig": summary["hwconfig"]["name"],
                "hwconfig_hash": summary["hwconfig"]["hash"],
                **{k: summary[k] for k in ("images", "period_cycles") if k in summary}}))
        if plots:
            from enasim.report.plots import plot_results

            plot_results(out)
    return summary
