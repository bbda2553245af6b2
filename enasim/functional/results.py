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
from typing import Any

from enasim import __version__
from enasim.config import HardwareConfig, config_hash
from enasim.fileio import atomic_write, result_set
from enasim.functional.inference import InferenceResult, LayerResult
from enasim.report.tables import format_table

LAYER_COLUMNS = ["layer", "name", "kind", "rows", "cols", "vectors", "row_blocks",
                 "read_phases", "adc_step", "sqnr_db", "rel_rms_error", "e2e_rel_rms_error",
                 "clipped_fraction", "adc_conversions", "clipped_conversions",
                 "input_bit_density", "adc_energy_pj", "adc_energy_assumed_pj"]
RESULT_FILES = ("layers.csv", "summary.json")


def _row(r: LayerResult) -> list[Any]:
    a = r.activity
    return [r.index, r.name, r.kind, r.rows, r.cols, r.vectors, r.row_blocks, r.read_phases,
            r.adc_step, r.sqnr_db, r.rel_rms_error, r.e2e_rel_rms_error, a.clipped_fraction,
            a.conversions, a.clipped_conversions, a.input_bit_density, r.adc_energy_pj,
            r.adc_energy_assumed_pj]


def layers_csv(result: InferenceResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LAYER_COLUMNS)
    for r in result.layers:
        w.writerow([f"{v:.10g}" if isinstance(v, float) else v for v in _row(r)])
    return buf.getvalue()


def summary_dict(result: InferenceResult, hw: HardwareConfig, hw_source: str,
                 weights_source: str, inputs_source: str) -> dict[str, Any]:
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


def write_results(out_dir: str | Path, result: InferenceResult, hw: HardwareConfig,
                  hw_source: str, weights_source: str, inputs_source: str) -> dict[str, Any]:
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
        rows.append([r.index, r.name, f"{r.rows}x{r.cols}", r.vectors, r.read_phases,
                     r.adc_step, round(r.sqnr_db, 2), r.rel_rms_error, r.e2e_rel_rms_error,
                     a.clipped_fraction, a.conversions, round(a.input_bit_density, 4),
                     r.adc_energy_pj / 1e3])
    return format_table(["#", "layer", "rows x cols", "vectors", "phases", "lsb", "sqnr_dB",
                         "rel_rms", "e2e_rel_rms", "clipped", "conversions", "bit_density",
                         "adc_nJ"], rows)
