"""ADC range modes of the bundled chips (issue 23, item 4): they compute (functional error on
seeded random data), their read phases are charged in time and energy, and `enasim run` records
and reports what it knows of the error."""

from __future__ import annotations

import json

import pytest

from enasim import api
from enasim.cli import _print_range_warning, main
from enasim.config import from_dict
from enasim.config.loader import load_option
from enasim.functional.data import random_inputs, random_weights
from enasim.functional.inference import run_inference
from enasim.functional.probe import MAX_OUTPUT_REL_RMS, PROBE_WARN_REL_RMS, range_probe
from enasim.kernels.mac_spec import MacSpec
from enasim.mapping import map_network
from enasim.plan import plan_layer
from enasim.workload import NetworkBuilder, load_workload
from enasim.workload.ir import Activation, BatchNorm, Conv2d, Linear, Pool

COMPUTING = ("flash_imc", "enasa")  # bundled chips with a range mode that computes
NEUROSIM = "neurosim_v13"  # keeps NeuroSim's `full` range to reproduce it


def small_vgg():
    """A VGG in miniature: 3x3 convolutions of 27, 288 and 576 rows, pooling, batch norm,
    ReLU and a classifier, so errors compound over layers as in vgg8."""
    b = NetworkBuilder("small_vgg", (3, 12, 12))
    for i, c in enumerate((32, 64, 64)):
        b.add(f"c{i}", Conv2d(c, (3, 3), 1, 1))
        b.add(f"bn{i}", BatchNorm())
        b.add(f"r{i}", Activation("relu"))
        if i:
            b.add(f"p{i}", Pool("max", 2, 2))
    b.add("fc", Linear(10))
    return b.build()


def output_error(hw, seed: int = 0) -> float:
    net = small_vgg()
    spec = MacSpec.from_hw(hw)
    res = run_inference(
        net, hw, random_weights(net, spec, seed), random_inputs(net, spec, 2, seed), seed
    )
    return res.layers[-1].e2e_rel_rms_error


@pytest.mark.parametrize("name", COMPUTING)
@pytest.mark.parametrize("seed", [0, 1])
def test_bundled_chips_compute_within_the_error_target(name, seed):
    assert output_error(load_option(name)[0], seed) <= MAX_OUTPUT_REL_RMS


def test_full_range_on_128_rows_does_not_compute():
    """What the bundled chips had before: a 4-bit (flash_imc) or 8-bit (enasa, LSB 2 levels)
    ADC over the full range of 128 rows, and NeuroSim's 5-bit one, miss the target."""
    for name in (*COMPUTING, NEUROSIM):
        hw = from_dict(
            {"extends": name, "adc": {"range_mode": "full"}, "crossbar": {"rows_parallel": 128}},
            "test",
        )
        assert output_error(hw) > MAX_OUTPUT_REL_RMS, name


def test_neurosim_keeps_its_full_range_and_misses_the_target():
    hw = load_option(NEUROSIM)[0]
    assert hw.adc.range_mode == "full" and hw.crossbar.rows_parallel == 128
    assert output_error(hw) > MAX_OUTPUT_REL_RMS


def test_read_phases_are_charged_in_time_and_energy():
    """flash_imc reads 7 rows a phase: a 128-row block takes ceil(128 / 7) = 19 phases, each
    converting every column once per input bit. Against the same chip reading all 128 rows
    at once, compute cycles are 19x, conversions and the per-conversion shift-add and switch
    matrix energies sum(ceil(r / 7)) / blocks x (closed form)."""
    net = load_workload("vgg8")
    hw = load_option("flash_imc")[0]
    assert MacSpec.from_hw(hw).rows_at_once == 7
    one = from_dict({"extends": "flash_imc", "crossbar": {"rows_parallel": 128}}, "test")
    m7, m128 = map_network(net, hw), map_network(net, one)
    for lm7, lm128 in zip(m7.layers, m128.layers, strict=True):
        p7, p128 = plan_layer(lm7, hw), plan_layer(lm128, one)
        blocks = lm7.tiling.block_rows
        phases = -(-min(lm7.node.weight_rows, 128) // 7)
        conv = hw.precision.input_bits * lm7.tiling.cols * sum(-(-r // 7) for r in blocks)
        assert p7.per_vector_counts["adc_conversions"] == conv
        assert p128.per_vector_counts["adc_conversions"] * sum(
            -(-r // 7) for r in blocks
        ) == conv * len(blocks)
        assert p7.per_vector_energy_pj["shift_add"] == pytest.approx(
            conv * hw.pe.shift_add_energy_pj
        )
        assert p7.per_vector_energy_pj["periphery"] == pytest.approx(
            conv * hw.pe.switch_matrix_energy_pj
        )
        assert p7.step_cycles(p7.copies)[1] == phases * p128.step_cycles(p7.copies)[1]


def test_summary_records_activity_range_mode_and_unmeasured_error(tmp_path):
    r = api.run("flash_imc", "vgg8", engine="analytical", out=tmp_path / "run")
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s == r.summary
    assert s["activity_mode"] == "assumed" and s["adc_range_mode"] == "calibrated"
    assert s["activity"]["input_bit_density"] == 0.3
    assert s["functional_rel_rms_error"] is None
    assert s["functional_error_reason"].startswith("not measured")
    probe = range_probe(load_option("flash_imc")[0])
    assert s["adc_range_probe"]["rel_rms_error"] == probe.rel_rms_error < PROBE_WARN_REL_RMS
    assert s["adc_range_probe"]["read_phases"] == 19


def test_summary_records_the_measured_error():
    net = small_vgg()
    r = api.run("neurosim_v13", net, engine="analytical", activity="measured", images=1)
    assert r.summary["activity_mode"] == "measured" and r.summary["adc_range_mode"] == "full"
    hw = load_option(NEUROSIM)[0]
    spec = MacSpec.from_hw(hw)
    expected = (
        run_inference(net, hw, random_weights(net, spec, 0), random_inputs(net, spec, 1, 0), 0)
        .layers[-1]
        .e2e_rel_rms_error
    )
    assert r.summary["functional_rel_rms_error"] == expected > MAX_OUTPUT_REL_RMS
    assert "functional_error_reason" not in r.summary


@pytest.mark.parametrize("name, warns", [("flash_imc", False), ("enasa", False), (NEUROSIM, True)])
def test_run_says_when_the_range_computes_badly(name, warns, tmp_path, capsys):
    assert main(["run", "--hw", name, "--engine", "analytical", "-o", str(tmp_path)]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("accuracy")]
    assert len(lines) == warns
    if warns:
        assert "range_mode full" in lines[0] and "0.59" in lines[0]


def test_measured_error_above_target_is_reported(capsys):
    """A measured network error decides over the probe: reported above the target only."""
    adc = load_option(NEUROSIM)[0].adc
    probe = {"rows": 128, "rel_rms_error": 0.6, "adc_step": 13}
    for measured, lines in ((4.6, 1), (0.2, 0)):
        _print_range_warning({"functional_rel_rms_error": measured, "adc_range_probe": probe}, adc)
        out = capsys.readouterr().out.splitlines()
        assert len(out) == lines
    _print_range_warning({"functional_rel_rms_error": 4.6, "adc_range_probe": probe}, adc)
    assert "4.6 measured on this network" in capsys.readouterr().out


def test_range_probe_costs_little():
    """The probe runs in every `enasim run`: one array's worth of work, whatever the network
    (a few ms; the wall time is measured in docs/models.md, not asserted on a shared machine)."""
    hw = load_option("flash_imc")[0]
    probe = range_probe(hw)
    assert probe.rows <= hw.crossbar.rows and probe.outputs <= hw.crossbar.cols
