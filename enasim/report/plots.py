"""Figures of a results directory (FLASH Fig. 4-style breakdowns), read from its files only.

`plot_results(DIR)` writes `DIR/plots/*.png`: per-layer latency stacked by compute / buffer /
digital / interconnect (pipelined: the layers' overlapping spans as a Gantt chart), per-layer
energy by component, crossbar utilisation over time (needs `timeline.json`), the mesh links'
utilisation as a heat map (needs `links.csv`; both written by the event engine) and the chip's
energy breakdown.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from enasim.cost.area import COMPONENTS  # noqa: E402
from enasim.errors import EnasimError  # noqa: E402
from enasim.fileio import atomic_write, check_result_dir, result_set  # noqa: E402

LATENCY_PARTS = (("adc_cycles", "compute (crossbar + ADC)"), ("buffer_cycles", "buffer"),
                 ("digital_cycles", "digital"),
                 ("noc_cycles", "interconnect (waiting for inputs)"))
PLOT_FILES = ("*.png",)


def plot_results(results_dir: str | Path) -> list[Path]:
    """Replace `results_dir/plots` with the figures, as one set (`result_set`)."""
    d = Path(results_dir)
    out = check_result_dir(d / "plots", PLOT_FILES, "RESULTS_DIR")
    figs = figures(d)
    with result_set(out, PLOT_FILES, flag="RESULTS_DIR") as stage:
        for name, fig in figs.items():
            save_png(fig, stage / name)
    return [out / name for name in figs]


def figures(results_dir: str | Path) -> dict[str, Figure]:
    """The figures of a results directory by PNG name, drawn but not saved (tests inspect them)."""
    d = Path(results_dir)
    try:
        summary = json.loads((d / "summary.json").read_text())
        with (d / "layers.csv").open() as fh:
            layers = list(csv.DictReader(fh))
    except (OSError, ValueError) as exc:
        raise EnasimError(f"{d}: not a results directory of 'enasim run' ({exc})") from None
    if not isinstance(summary, dict) or not {"workload", "hwconfig", "mode"} <= summary.keys():
        what = (" but of 'enasim enasa run', which draws its own plots/"
                if isinstance(summary, dict) and summary.get("command") == "enasa run" else "")
        raise EnasimError(f"{d}: not a results directory of 'enasim run'{what} (summary.json "
                          f"has no workload, hwconfig and mode)")
    figs = {"latency_breakdown.png": _latency(layers, summary),
            "energy_per_layer.png": _energy_layers(layers, summary),
            "energy_breakdown.png": energy_components(summary)}
    if (d / "timeline.json").is_file():
        trace = json.loads((d / "timeline.json").read_text())
        figs["crossbar_utilisation.png"] = _utilisation(trace, layers, summary)
    if (d / "links.csv").is_file():
        with (d / "links.csv").open() as fh:
            links = list(csv.DictReader(fh))
        figs["link_utilisation.png"] = link_heatmap(links, summary)
    return figs


def save_png(fig: Figure, path: Path) -> Path:
    """Write a figure as a PNG, atomically and byte-reproducibly (no software metadata)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def legend_outside(ax, **kwargs) -> None:
    """The legend to the right of the axes, where it cannot hide data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


def _title(summary: dict, what: str, sep: str = ": ") -> str:
    return f"{what}{sep}{summary['workload']['name']} on {summary['hwconfig']['name']}"


def _latency(layers, summary) -> Figure:
    """Per-layer latency by part; layers overlap in time when pipelined, so there a Gantt chart."""
    if summary.get("mode") == "pipelined":
        return _latency_gantt(layers, summary)
    names = [r["name"] for r in layers]
    us = summary["clock_period_ns"] / 1000
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 4))
    bottom = np.zeros(len(names))
    for col, label in LATENCY_PARTS:
        vals = np.array([float(r[col]) * us for r in layers])
        ax.bar(names, vals, bottom=bottom, label=label)
        bottom += vals
    ax.set_xlabel("layer")
    ax.set_ylabel("latency (µs)")
    ax.set_title(_title(summary, "Per-layer latency, layer by layer"))
    legend_outside(ax, fontsize="small")
    ax.tick_params(axis="x", rotation=90)
    return fig


def _latency_gantt(layers, summary) -> Figure:
    """Each layer's span from its start to its end cycle on the chip's time axis, split into the
    shares of its parts (interleaved in time, drawn one after another), and the chip's latency."""
    names = [r["name"] for r in layers]
    us = summary["clock_period_ns"] / 1000
    fig, ax = plt.subplots(figsize=(8, max(2.5, 1.2 + 0.3 * len(names))))
    left = np.array([float(r["start_cycle"]) * us for r in layers])
    for col, label in LATENCY_PARTS:
        width = np.array([float(r[col]) * us for r in layers])
        ax.barh(names, width, left=left, label=label)
        left += width
    total = summary["latency_cycles"] * us
    ax.axvline(total, color="black", ls="--", lw=1, label=f"chip latency ({total:.4g} µs)")
    ax.invert_yaxis()
    ax.set_xlabel("time (µs); each bar's parts are its cycle shares, interleaved in time")
    ax.set_ylabel("layer")
    ax.set_title(_title(summary, "Per-layer spans, pipelined"))
    legend_outside(ax, fontsize="small")
    return fig


def _energy_layers(layers, summary) -> Figure:
    names = [r["name"] for r in layers]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 4))
    bottom = np.zeros(len(names))
    for comp in COMPONENTS:
        vals = np.array([float(r[f"energy_{comp}_pj"]) / 1e3 for r in layers])
        if vals.any():
            ax.bar(names, vals, bottom=bottom, label=comp)
            bottom += vals
    ax.set_xlabel("layer")
    ax.set_ylabel("energy (nJ)")
    ax.set_title(_title(summary, "Per-layer energy"))
    legend_outside(ax, fontsize="small")
    ax.tick_params(axis="x", rotation=90)
    return fig


def energy_components(summary) -> Figure:
    e = {k: v for k, v in summary["energy_uj_by_component"].items() if v > 0}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.barh(list(e), list(e.values()))
    ax.invert_yaxis()
    ax.set_xlabel("energy (µJ)")
    ax.set_ylabel("component")
    ax.set_title(_title(summary, f"Energy {summary['energy_uj']:.4g} µJ"))
    return fig


def _utilisation(trace, layers, summary) -> Figure:
    """Share of the chip's crossbars converting, over time (from the ADC spans)."""
    crossbars = {int(r["layer"]): int(r["crossbars"]) for r in layers}
    delta: dict[int, int] = {0: 0}
    for ev in trace["traceEvents"]:
        if ev.get("ph") != "X" or not ev["name"].endswith(" convert"):
            continue
        start, layer = ev["args"]["start_cycle"], ev["args"]["layer"]
        end = start + ev["args"]["cycles"]
        delta[start] = delta.get(start, 0) + crossbars[layer]
        delta[end] = delta.get(end, 0) - crossbars[layer]
    times = sorted(delta)
    level = 100 * np.cumsum([delta[t] for t in times]) / summary["crossbars"]
    us = summary["clock_period_ns"] / 1000
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.step(np.array(times) * us, level, where="post")
    ax.set_xlabel("time (µs)")
    ax.set_ylabel("crossbars converting\n(% of all)")
    ax.set_ylim(0, 105)
    ax.set_title(_title(summary, "Crossbar utilisation"))
    return fig


def link_heatmap(links, summary) -> Figure:
    """Each directed mesh link as a segment beside its reverse, coloured by utilisation."""
    from matplotlib.collections import LineCollection

    rows, cols = summary["mesh"]
    segments, values = [], []
    for ln in links:
        x0, y0, x1, y1 = (float(ln[k]) for k in ("src_x", "src_y", "dst_x", "dst_y"))
        dx, dy = x1 - x0, y1 - y0
        off = 0.08  # traffic in opposite directions drawn side by side (right-hand side)
        ox, oy = dy * off, -dx * off
        segments.append([(x0 + 0.2 * dx + ox, y0 + 0.2 * dy + oy),
                         (x1 - 0.2 * dx + ox, y1 - 0.2 * dy + oy)])
        values.append(float(ln["utilization"]))
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * cols, 0.8 + 0.6 * rows))
    cmap = plt.get_cmap("viridis").with_extremes(under="0.88")  # idle links in grey
    lines = LineCollection(segments, cmap=cmap, linewidths=3)
    lines.set_array(np.array(values))
    lines.set_clim(1e-12, max(values + [1e-9]))
    ax.add_collection(lines)
    yy, xx = np.divmod(np.arange(rows * cols), cols)
    ax.scatter(xx, yy, s=18, c="0.3", zorder=3)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("mesh column (x)")
    ax.set_ylabel("mesh row (y)")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(lines, ax=ax, label="link utilisation (flits/cycle)")
    # on two lines: in one, a narrow mesh's title runs into the colorbar's label
    ax.set_title(_title(summary, f"NoC link utilisation ({summary['noc_model']})", ":\n"))
    return fig
