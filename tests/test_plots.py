"""Figures say what they show: labelled axes, labelled ticks, whole counts where counting,
legends off the data, and the pipelined latency figure drawn as the layers' overlapping spans.

Figures are inspected as matplotlib objects (no pixel comparison), from tiny runs on the ideal
NoC and the analytical engine, or from hand-made rows.
"""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from test_sweep import TINY

from enasim import sweep
from enasim.cli import main
from enasim.config import DEFAULT_HW
from enasim.nas.enasa.cli import _plot_gains, _plot_utilization
from enasim.nas.monas.cli import _plot_blocks, _plot_objectives
from enasim.report.plots import figures
from enasim.sweep.plot import sweep_figure


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def data_axes(fig):
    """The figure's plotting axes (not its colorbars)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def tick_labels(ax, which: str) -> list[tuple[float, str]]:
    """(position, text) of the major ticks inside the view of the x or y axis (after a draw)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    span = hi - lo
    return [(t.get_loc(), t.label1.get_text()) for t in axis.get_major_ticks()
            if lo - 1e-9 * span <= t.get_loc() <= hi + 1e-9 * span]


def assert_readable(fig) -> None:
    """Every axis has a label and at least two ticks, each with a label; every legend lies
    outside all the plotting axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = data_axes(fig)
    for ax in axes:
        for which in "xy":
            label = ax.get_xlabel() if which == "x" else ax.get_ylabel()
            assert label.strip(), f"{ax.get_title()!r}: no {which} label"
            ticks = tick_labels(ax, which)
            assert len(ticks) >= 2, f"{ax.get_title()!r} {label}: ticks {ticks}"
            assert all(text.strip() for _, text in ticks), f"{label}: {ticks}"
        legend = ax.get_legend()
        if legend is not None:
            box = legend.get_window_extent(renderer)
            for other in axes:
                assert not box.overlaps(other.get_window_extent(renderer)), \
                    f"legend of {ax.get_title()!r} over the axes of {other.get_title()!r}"


def assert_integer_ticks(ax, which: str) -> None:
    ticks = tick_labels(ax, which)
    assert ticks and all(float(loc).is_integer() for loc, _ in ticks), ticks


# --- enasim run --plots --------------------------------------------------------------------------

def run_dir(tmp_path, mode: str):
    """A tiny network run on the event engine with the ideal NoC, in `mode`."""
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    hw = DEFAULT_HW.read_text().replace("  model: compiled ", "  model: ideal ", 1)
    hw = hw.replace("  mode: layer_by_layer ", f"  mode: {mode} ", 1)
    assert f"  mode: {mode} " in hw and "  model: ideal " in hw
    (tmp_path / "hw.yaml").write_text(hw)
    out = tmp_path / mode
    assert main(["run", "--hw", str(tmp_path / "hw.yaml"), "--workload",
                 str(tmp_path / "tiny.yaml"), "-o", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("mode", ["layer_by_layer", "pipelined"])
def test_run_figures_are_labelled_with_legends_off_the_data(tmp_path, mode):
    figs = figures(run_dir(tmp_path, mode))
    assert set(figs) == {"latency_breakdown.png", "energy_per_layer.png", "energy_breakdown.png",
                         "crossbar_utilisation.png", "link_utilisation.png"}
    for fig in figs.values():
        assert_readable(fig)
    (util,) = figs["crossbar_utilisation.png"].axes
    assert "%" in util.get_ylabel()
    (heat, _) = figs["link_utilisation.png"].axes
    assert_integer_ticks(heat, "x")
    assert_integer_ticks(heat, "y")


def test_latency_figure_names_the_mode(tmp_path):
    (ax,) = figures(run_dir(tmp_path, "layer_by_layer"))["latency_breakdown.png"].axes
    assert "layer by layer" in ax.get_title()
    assert "pipelined" not in ax.get_title()


def test_pipelined_latency_is_a_gantt_chart_of_the_layers_spans(tmp_path):
    d = run_dir(tmp_path, "pipelined")
    summary = json.loads((d / "summary.json").read_text())
    with (d / "layers.csv").open() as fh:
        layers = list(csv.DictReader(fh))
    assert any(int(a["end_cycle"]) > int(b["start_cycle"])
               for a, b in zip(layers, layers[1:], strict=False)), "no overlap to draw"
    (ax,) = figures(d)["latency_breakdown.png"].axes
    assert "pipelined" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == [r["name"] for r in layers]
    us = summary["clock_period_ns"] / 1000
    for i, r in enumerate(layers):
        row = [p for p in ax.patches if abs(p.get_y() + p.get_height() / 2 - i) < 1e-9]
        assert min(p.get_x() for p in row) == pytest.approx(int(r["start_cycle"]) * us)
        assert max(p.get_x() + p.get_width() for p in row) == \
            pytest.approx(int(r["end_cycle"]) * us)
    (line,) = ax.get_lines()
    assert line.get_xdata()[0] == pytest.approx(summary["latency_cycles"] * us)


# --- enasim monas run ----------------------------------------------------------------------------

def monas_rows(energies, latencies):
    rng = np.random.default_rng(0)
    return [{"accuracy": float(a), "energy_uj": e, "latency_ns": t}
            for a, e, t in zip(rng.uniform(0.6, 0.95, len(energies)), energies, latencies,
                               strict=True)]


@pytest.mark.parametrize(("energy", "latency"), [
    ((40.0, 60.0), (3e5, 5e5)),    # under a decade: a log axis there has no labelled tick
    ((4.0, 90.0), (1.2e5, 9e5)),   # one to two decades
    ((0.5, 700.0), (2e3, 4e6)),    # several decades
])
def test_monas_objectives_label_every_cost_axis(energy, latency):
    rows = monas_rows(np.geomspace(*energy, 12).tolist(), np.geomspace(*latency, 12).tolist())
    for metrics in (["accuracy", "energy_uj"], ["accuracy", "latency_ns", "energy_uj"]):
        fig = _plot_objectives(rows, {"metrics": metrics, "front": rows[:3],
                                      "hypervolume": 0.5})
        assert_readable(fig)
        assert [ax.get_xlabel() for ax in fig.axes] == \
            [{"energy_uj": "energy (µJ)", "latency_ns": "latency (ns)"}[m] for m in metrics[1:]]


def test_monas_front_blocks_count_whole_networks():
    per = [{"position": i, "VGG": int(i == 0), "MVGG": int(i == 1), "RES": int(i == 0),
            "empty": int(i > 0), "mean_channels": 32.0 if i < 2 else None} for i in range(3)]
    fig = _plot_blocks({"per_position": per})
    assert_readable(fig)
    types, channels = fig.axes
    assert_integer_ticks(types, "y")
    for ax in (types, channels):
        assert_integer_ticks(ax, "x")


# --- enasim enasa run ----------------------------------------------------------------------------

def test_enasa_gains_have_value_axes_and_whole_generations():
    rows = [{"generation": g, "speedup_vs_sequential": 3.0 + 0.1 * g,
             "speedup_vs_concurrent": 1.1, "energy_saving_vs_sequential": 1.5 + 0.2 * g,
             "energy_saving_vs_concurrent": 1.2} for g in range(4)]
    fig = _plot_gains(rows)
    assert_readable(fig)
    for ax in fig.axes:
        assert_integer_ticks(ax, "x")


def test_enasa_utilisation_is_labelled_with_the_legend_off_the_data():
    def run(peak):
        return SimpleNamespace(clock_period_ns=1.0, utilization=peak / 2, utilization_curve=lambda
                               bins: (np.linspace(0, 1e6, bins), np.full(bins, peak)))
    fig = _plot_utilization({"ops": run(0.9), "concurrent": run(0.5), "sequential": run(0.2)})
    assert_readable(fig)


# --- enasim sweep plot ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweep_out(tmp_path_factory):
    """Three ADC resolutions x two tiny networks on the analytical engine."""
    d = tmp_path_factory.mktemp("sweep")
    (d / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (d / "wide.yaml").write_text(yaml.safe_dump({**TINY, "name": "wide", "layers": [
        {**TINY["layers"][0], "out_channels": 64}, *TINY["layers"][1:2],
        {**TINY["layers"][2], "out_channels": 64}, *TINY["layers"][3:]]}))
    (d / "spec.yaml").write_text(yaml.safe_dump({
        "name": "plots", "hw": "flash_imc", "axes": {"adc.bits": [3, 4, 5]},
        "workloads": ["tiny.yaml", "wide.yaml"], "engine": "analytical"}))
    sweep.run(d / "spec.yaml", workers=1, out=d / "out", progress=False)
    return d / "out"


def test_sweep_axes_have_readable_labels_and_the_legend_is_off_the_data(sweep_out):
    fig = sweep_figure(sweep_out, "adc.bits", "energy_uj", "workload")
    assert_readable(fig)
    (ax,) = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("ADC bits", "energy (µJ)")
    assert ax.get_legend().get_title().get_text() == "workload"
    assert_integer_ticks(ax, "x")
    fig = sweep_figure(sweep_out, "workload", "area_mm2", "adc.bits")
    assert_readable(fig)
    (ax,) = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("workload", "area (mm²)")
    assert ax.get_legend().get_title().get_text() == "ADC bits"
