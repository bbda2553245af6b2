"""Result files of `enasim infer`: layers.csv and summary.json, written as one set
(`enasim.fileio.result_set`) and without timestamps (equal inputs give byte-identical files);
and the terminal table."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enasim import __version__
from enasim.config import HardwareConfig, config_hash
from enasim.fileio import atomic_write, result_set
from enasim.functional.inference import InferenceResult, LayerResult
from enasim.report.tables import format_table

if TYPE_CHECKING:
    from enasim.functional.accuracy import AccuracyReport

LAYER_COLUMNS = [
    "layer",
    "name",
    "kind",
    "rows",
    "cols",
    "vectors",
    "row_blocks",
    "read_phases",
    "adc_step",
    "sqnr_db",
    "rel_rms_error",
    "e2e_rel_rms_error",
    "clipped_fraction",
    "adc_conversions",
    "clipped_conversions",
    "input_bit_density",
    "adc_energy_pj",
    "adc_energy_assumed_pj",
]
RESULT_FILES = ("layers.csv", "summary.json")
# trained runs (`enasim.functional.accuracy`): a row per range mode and layer, with the signed
# inputs; the sweep files only with --adc-bits
TRAINED_LAYER_COLUMNS = [
    "range_mode",
    *LAYER_COLUMNS,
    "input_values",
    "negative_inputs",
    "saturated_inputs",
]
SWEEP_CSV, SWEEP_PNG = "accuracy_vs_adc_bits.csv", "accuracy_vs_adc_bits.png"
TRAINED_FILES = (*RESULT_FILES, SWEEP_CSV, SWEEP_PNG)


def _row(r: LayerResult) -> list[Any]:
    a = r.activity
    return [
        r.index,
        r.name,
        r.kind,
        r.rows,
        r.cols,
        r.vectors,
        r.row_blocks,
        r.read_phases,
        r.adc_step,
        r.sqnr_db,
        r.rel_rms_error,
        r.e2e_rel_rms_error,
        a.clipped_fraction,
        a.conversions,
        a.clipped_conversions,
        a.input_bit_density,
        r.adc_energy_pj,
        r.adc_energy_assumed_pj,
    ]


def layers_csv(result: InferenceResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LAYER_COLUMNS)
    for r in result.layers:
        w.writerow([f"{v:.10g}" if isinstance(v, float) else v for v in _row(r)])
    return buf.getvalue()


def summary_dict(
    result: InferenceResult,
    hw: HardwareConfig,
    hw_source: str,
    weights_source: str,
    inputs_source: str,
) -> dict[str, Any]:
    conversions = sum(r.activity.conversions for r in result.layers)
    clipped = sum(r.activity.clipped_conversions for r in result.layers)
    last = result.layers[-1]
    return {
        "enasim_version": __version__,
        "hwconfig": {"name": hw.name, "source": hw_source, "hash": config_hash(hw)},
        "workload": result.network,
        "images": result.images,
        "seed": result.seed,
        "weights": weights_source,
        "inputs": inputs_source,
        "signed_weights": hw.precision.signed_weights,
        "adc": {"bits": hw.adc.bits, "range_mode": hw.adc.range_mode},
        "device": dataclasses.asdict(hw.device),
        "output_rel_rms_error": _json_float(last.e2e_rel_rms_error),
        "adc_conversions": conversions,
        "clipped_fraction": clipped / conversions if conversions else 0.0,
        "adc_energy_pj": sum(r.adc_energy_pj for r in result.layers),
    }


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def write_results(
    out_dir: str | Path,
    result: InferenceResult,
    hw: HardwareConfig,
    hw_source: str,
    weights_source: str,
    inputs_source: str,
) -> dict[str, Any]:
    """Replace `out_dir` with layers.csv and summary.json (one set); return the summary."""
    summary = summary_dict(result, hw, hw_source, weights_source, inputs_source)
    with result_set(out_dir, RESULT_FILES) as out:
        atomic_write(out / "layers.csv", layers_csv(result))
        atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def layers_table(result: InferenceResult) -> str:
    rows = []
    for r in result.layers:
        a = r.activity
        rows.append(
            [
                r.index,
                r.name,
                f"{r.rows}x{r.cols}",
                r.vectors,
                r.read_phases,
                r.adc_step,
                round(r.sqnr_db, 2),
                r.rel_rms_error,
                r.e2e_rel_rms_error,
                a.clipped_fraction,
                a.conversions,
                round(a.input_bit_density, 4),
                r.adc_energy_pj / 1e3,
            ]
        )
    return format_table(
        [
            "#",
            "layer",
            "rows x cols",
            "vectors",
            "phases",
            "lsb",
            "sqnr_dB",
            "rel_rms",
            "e2e_rel_rms",
            "clipped",
            "conversions",
            "bit_density",
            "adc_nJ",
        ],
        rows,
    )


def _fmt(v: Any) -> Any:
    return f"{v:.10g}" if isinstance(v, float) else v


def write_accuracy(report: AccuracyReport) -> dict[str, Any]:
    """Replace the report's directory with layers.csv (a row per range mode and crossbar
    layer), summary.json and, with a sweep, accuracy_vs_adc_bits.csv and .png; return the
    summary."""
    from enasim.functional.accuracy import summary_fields
    from enasim.report.plots import save_png

    first = report.runs[0].result
    summary = summary_dict(
        first, report.hw, report.hw_source, report.checkpoint, f"{report.dataset} test split"
    )
    del summary["output_rel_rms_error"], summary["clipped_fraction"], summary["adc_conversions"]
    del summary["adc_energy_pj"]
    summary["adc"] = {
        "bits": report.hw.adc.bits,
        "range_modes": [r.range_mode for r in report.runs],
    }
    summary.update(summary_fields(report))
    summary["crossbar"] = {r.range_mode: _mode_summary(r.result) for r in report.runs}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TRAINED_LAYER_COLUMNS)
    for run in report.runs:
        for r in run.result.layers:
            w.writerow(
                [
                    run.range_mode,
                    *map(_fmt, _row(r)),
                    r.input_values,
                    r.negative_inputs,
                    r.saturated_inputs,
                ]
            )
    with result_set(report.out, TRAINED_FILES) as out:
        atomic_write(out / "layers.csv", buf.getvalue())
        atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        if report.sweep:
            atomic_write(out / SWEEP_CSV, sweep_csv(report))
            save_png(sweep_figure(report), out / SWEEP_PNG)
    return summary


def _mode_summary(result: InferenceResult) -> dict[str, Any]:
    conversions = sum(r.activity.conversions for r in result.layers)
    clipped = sum(r.activity.clipped_conversions for r in result.layers)
    return {
        "output_rel_rms_error": _json_float(result.layers[-1].e2e_rel_rms_error),
        "adc_conversions": conversions,
        "clipped_fraction": clipped / conversions if conversions else 0.0,
        "adc_energy_pj": sum(r.adc_energy_pj for r in result.layers),
    }


def sweep_csv(report: AccuracyReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["bits", "mode", "accuracy"])
    for r in report.sweep:
        w.writerow([r.adc_bits, r.range_mode, _fmt(r.accuracy_crossbar)])
    return buf.getvalue()


def sweep_figure(report: AccuracyReport):
    """Accuracy against adc.bits, a line per range mode; float and quantised as references."""
    from enasim.report.plots import legend_outside, plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for mode in dict.fromkeys(r.range_mode for r in report.sweep):
        pts = [
            (r.adc_bits, r.accuracy_crossbar * 100) for r in report.sweep if r.range_mode == mode
        ]
        ax.plot(*zip(*pts, strict=True), marker="o", label=f"crossbar, {mode}")
    ax.axhline(report.accuracy_float * 100, color="black", linestyle="--", label="float")
    ax.axhline(
        report.accuracy_quantised * 100,
        color="grey",
        linestyle=":",
        label=f"quantised ({report.hw.precision.weight_bits}-bit weights, "
        f"{report.hw.precision.input_bits}-bit inputs)",
    )
    ax.set_xlabel("adc.bits")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_xticks(sorted({r.adc_bits for r in report.sweep}))
    ax.set_ylim(0, 100)
    ax.set_title(
        f"{report.network.name} on {report.hw.name}: {report.dataset}, {report.images} test images"
    )
    legend_outside(ax)
    return fig


def accuracy_text(report: AccuracyReport) -> str:
    """The terminal summary of a trained run."""
    hw, first = report.hw, report.runs[0].result
    lines = [
        f"{report.network.name} on {hw.name}: {report.images} of {report.test_images} test "
        f"images of {report.dataset}, device seed {report.seed}; {hw.precision.weight_bits}-bit "
        f"weights ({hw.precision.signed_weights}) in {hw.crossbar.cell_bits}-bit cells, "
        f"{hw.precision.input_bits}-bit inputs, {hw.adc.bits}-bit ADC",
        "",
    ]
    for run in report.runs:
        lines += [f"layers, {run.range_mode} range:", layers_table(run.result), ""]
    rows = [
        ["float (torch, eval mode)", f"{report.accuracy_float:.2%}"],
        ["quantised (integer)", f"{report.accuracy_quantised:.2%}"],
    ]
    rows += [[f"crossbar, {r.range_mode}", f"{r.accuracy_crossbar:.2%}"] for r in report.runs]
    lines.append(format_table(["model", "top-1 accuracy"], rows))
    if report.checkpoint_accuracy is not None:
        lines.append(
            f"(enasim train measured {report.checkpoint_accuracy:.2%} on all "
            f"{report.test_images} test images)"
        )
    negative = sum(r.negative_inputs for r in first.layers)
    if negative:
        lines.append(f"{negative} negative input values ran as second crossbar passes")
    if report.sweep:
        modes = list(dict.fromkeys(r.range_mode for r in report.sweep))
        bits = sorted({r.adc_bits for r in report.sweep})
        acc = {(r.adc_bits, r.range_mode): r.accuracy_crossbar for r in report.sweep}
        lines += [
            "",
            "accuracy vs adc.bits:",
            format_table(
                ["bits", *modes], [[b, *(f"{acc[b, m]:.2%}" for m in modes)] for b in bits]
            ),
        ]
    return "\n".join(lines)
