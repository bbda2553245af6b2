"""NeuroSim V1.3's pipeline mode: `mapping.duplication: balance` and `execution.mode:
pipelined` under `timing.accounting: neurosim`, against the NeuroSim run
enasim/reference/cim/neurosim_v13_vgg8_pipeline_*.csv (Param.cpp pipeline = true)."""

from __future__ import annotations

import pytest
from conftest import read_reference_csv

from enasim import api
from enasim.config import from_dict
from enasim.errors import ConfigError
from enasim.mapping.tiling import pipeline_degree, pipeline_speedups
from enasim.validation import neurosim

PIPELINE = {"execution.mode": "pipelined", "mapping.duplication": "balance"}


@pytest.fixture(scope="module")
def pipe():
    return api.run("neurosim_v13", "vgg8", overrides=PIPELINE, engine="analytical")


@pytest.fixture(scope="module")
def reference():
    return read_reference_csv("cim/neurosim_v13_vgg8_pipeline_layers.csv")


def test_balanced_floorplan_equals_neurosims(pipe, reference):
    assert [ls.tiles for ls in pipe.stats.layers] == [1, 4, 2, 4, 4, 4, 32, 1]
    assert [ls.speedup for ls in pipe.stats.layers] == [16, 16, 4, 4, 2, 1, 1, 8]
    assert [ls.tiles for ls in pipe.stats.layers] == [round(float(r["num_tiles"]))
                                                      for r in reference]
    assert pipe.mapping.total_tiles == 52


def test_balance_only_adds_replicas_of_the_layer_by_layer_floorplan(pipe):
    base = api.run("neurosim_v13", "vgg8", engine="analytical").mapping
    for lm, b in zip(pipe.mapping.layers, base.layers, strict=True):
        t = lm.tiling
        assert t.replicas == -(-t.copies // b.copies) or t.copies == b.copies
        assert (t.tiles, t.copies) == (b.tiles * t.replicas, b.copies * t.replicas)


def test_degree_is_capped_as_neurosim_caps_it(vgg8, pipe):
    layers = vgg8.weight_layers
    # IFM 32 first, 8 smallest among K > 1 layers: at most 32 / 8 = 4
    assert [pipeline_degree(layers, d) for d in (1, 2, 4, 8, 64)] == [1, 2, 4, 4, 4]
    # bound = ceil(32 / degree); speed-up = ceil((IFM / bound)^2)
    assert pipeline_speedups(layers, 8) == [16, 16, 4, 4, 1, 1, 1, 1]
    assert pipeline_speedups(layers, 2) == [4, 4, 1, 1, 1, 1, 1, 1]
    assert pipe.summary["pipeline_speedup_degree"] == {"configured": 8, "effective": 4}
    smaller = api.run("neurosim_v13", "vgg8", engine="analytical",
                      overrides={**PIPELINE, "mapping.pipeline_speedup_degree": 2})
    assert smaller.summary["pipeline_speedup_degree"] == {"configured": 2, "effective": 2}
    assert [ls.speedup for ls in smaller.stats.layers] == [16, 4, 4, 2, 2, 1, 1, 8]


def test_period_is_the_slowest_layer(pipe, reference):
    lat = [ls.latency_cycles for ls in pipe.stats.layers]
    assert pipe.stats.latency_cycles == max(lat)
    assert all(ls.start_cycle == 0 for ls in pipe.stats.layers)
    ref = max(float(r["read_latency_ns"]) for r in reference)
    assert pipe.stats.latency_ns == pytest.approx(ref, rel=1e-4)


def test_pipeline_leakage_is_the_idle_share_of_the_period(pipe):
    period = pipe.stats.latency_cycles
    slowest = max(pipe.stats.layers, key=lambda ls: ls.latency_cycles)
    assert slowest.energy_pj["leakage"] == 0.0
    total_arrays = pipe.mapping.total_arrays
    for lm, ls in zip(pipe.mapping.layers, pipe.stats.layers, strict=True):
        expect = (pipe.stats.leakage_uw * lm.arrays_allocated / total_arrays
                  * (period - ls.latency_cycles) * pipe.stats.clock_period_ns * 1e-3)
        assert ls.energy_pj["leakage"] == pytest.approx(expect)


def test_pipeline_mode_sizes_the_global_bus_buffer_and_units_by_all_layers(pipe):
    from enasim.analytical.neurosim import _Chip

    base = api.run("neurosim_v13", "vgg8", engine="analytical").mapping
    lbl, pip = _Chip(base), _Chip(pipe.mapping)
    # CM tile side 1024 -> 1024 + 1024/8 = 1152 bits; NM tile 3 x 512 -> 1728 bits.
    # layer by layer: 3 x 1152 + 5 x 1728 = 12096, halved to <= 2048: 1512.
    # pipeline, per tile: 34 x 1152 + 18 x 1728 = 70272, halved six times: 1098.
    assert (lbl.global_bus, pip.global_bus) == (1512.0, 1098.0)
    # global buffer: 8 bits x the largest input (128x32x32) = 64 cores of 16384 bits;
    # pipeline: 8 bits x half of all inputs (290816 / 2) -> ceil(1163264 / 16384) = 71
    assert (lbl.global_cores, pip.global_cores) == (64, 71)
    # ReLU / global adder-tree units: 1536 / 8, and x (8 layers + 1) in pipeline mode
    assert (lbl.relu_units, pip.relu_units) == (192, 1728)


@pytest.mark.parametrize(("data", "field"), [
    ({"execution": {"mode": "pipelined"}}, "mapping.duplication"),
    ({"mapping": {"duplication": "balance"}}, "mapping.duplication"),
    ({"mapping": {"pipeline_speedup_degree": 0}}, "mapping.pipeline_speedup_degree"),
])
def test_config_errors(data, field):
    with pytest.raises(ConfigError) as err:
        from_dict({"extends": "neurosim_v13", **data}, "t.yaml")
    assert err.value.field == field


def test_balance_needs_neurosims_floorplan():
    with pytest.raises(ConfigError) as err:
        from_dict({"extends": "flash_imc", "mapping": {"duplication": "balance"}}, "t.yaml")
    assert err.value.field == "mapping.duplication" and "scheme 'neurosim'" in err.value.message


def test_balance_under_overlapped_accounting_runs_on_the_mesh():
    r = api.run("neurosim_v13", "vgg8", engine="analytical",
                overrides={"mapping.duplication": "balance", "noc.model": "ideal",
                           "timing.accounting": "overlapped"})
    assert r.mapping.total_tiles == 52 and r.stats.accounting == "overlapped"


def test_validation_rows_of_the_pipeline_run_pass():
    checks = list(neurosim.run_checks("ns13_vgg8_pipeline"))
    failed = [c.quantity for c in checks if c.passed is False]
    assert not failed
    graded = {c.quantity for c in checks if c.passed}
    assert {"tiles per layer", "speed-up per layer", "latency (µs)", "chip area (mm²)",
            "dynamic energy (µJ)", "layer 2 latency (µs)"} <= graded
