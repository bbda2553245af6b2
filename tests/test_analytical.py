"""The closed-form performance model: hand-computed cases, NeuroSim goldens, conservation."""

from __future__ import annotations

import pytest
from conftest import hw_with, read_reference_csv
from hypothesis import given
from hypothesis import strategies as st

from enasim.analytical import run_analytical
from enasim.analytical.perf import step_pipeline
from enasim.cost import conversion_energy_pj
from enasim.mapping import map_network
from enasim.workload import load_workload
from enasim.workload.ir import Conv2d, Linear, NetworkBuilder


def _flow_shop(jobs, d):
    """Brute-force 3-stage pipeline: read -> compute -> (lag d) -> write, one job per stage."""
    cr = cc = cw = 0
    for r, c, w in jobs:
        cr += r
        cc = max(cr, cc) + c
        cw = max(cc + d, cw) + w
    return cw


@given(r=st.integers(0, 50), c=st.integers(1, 50), w=st.integers(0, 50), d=st.integers(0, 9),
       n=st.integers(0, 40), last=st.none() | st.tuples(st.integers(0, 50),
                                                         st.integers(1, 50),
                                                         st.integers(0, 50)))
def test_step_pipeline_closed_form_equals_recurrence(r, c, w, d, n, last):
    jobs = [(r, c, w)] * n + ([last] if last else [])
    if jobs:
        assert step_pipeline(r, c, w, d, n, last) == _flow_shop(jobs, d)


def test_single_linear_layer_by_hand():
    """linear 128->32 on one array: 1 vector, 8 copies share the 8 mux positions.

    read  = ceil(128 rows x 8 bits / 256-bit port) = 4 cycles
    adc   = 8 input bits x ceil(1 vector x 8 mux positions / 8 copies) = 8 cycles
    lag   = 1 (shift-add); write = ceil(32 x 8 bits / 256) = 1 -> 4 + 8 + 1 + 1 = 14 cycles.
    """
    b = NetworkBuilder("fc", (128, 1, 1))
    b.add("fc", Linear(32))
    port = {"port_bits": 256}
    hw = hw_with(tile={"input_buffer": port, "output_buffer": port})
    ls = run_analytical(map_network(b.build(), hw)).layers[0]
    assert (ls.speedup, ls.adc_cycles, ls.buffer_cycles, ls.digital_cycles) == (8, 8, 5, 1)
    assert ls.latency_cycles == 14
    assert ls.counts["adc_conversions"] == 1 * 8 * 128  # vectors x bits x columns


def test_zero_load_noc_between_neighbour_tiles():
    """A 4x4x8 map (128 elements x 8 bits = 32 flits) over one link: 7 + 5*1 + 31 cycles."""
    b = NetworkBuilder("two", (4, 4, 4))
    b.add("a", Conv2d(8, (3, 3), padding=1))
    b.add("b", Conv2d(8, (3, 3), padding=1))
    hw = hw_with(noc={"num_vcs": 4, "vc_buf_flits": 8})
    m = map_network(b.build(), hw)
    assert [lm.tile_ids for lm in m.layers] == [(0,), (1,)]
    stats = run_analytical(m)
    assert stats.layers[0].noc_cycles == 0
    assert stats.layers[1].noc_cycles == 7 + 5 * 1 + (32 - 1)
    assert stats.layers[1].counts["link_flits"] == 32
    assert stats.layers[1].counts["router_flits"] == 64


def test_neurosim_adc_latency_per_layer_exact(neurosim_vgg8_mapping, neurosim_hw):
    """ADC cycles = vectors x 8 bits x 8 muxed columns / speed-up, as NeuroSim reports."""
    ref = read_reference_csv("cim", "neurosim_v13_vgg8_default_layers.csv")
    stats = run_analytical(neurosim_vgg8_mapping)
    assert [ls.adc_cycles for ls in stats.layers] == [3600, 14400, 3136, 6272, 1152, 2304, 64, 8]
    for ls, r in zip(stats.layers, ref, strict=True):
        assert ls.adc_cycles * neurosim_hw.clock_period_ns == pytest.approx(
            float(r["adc_latency_ns"]), rel=2e-5)
        assert ls.ops == int(float(r["ops_2x_macs_neurosim"]))


def test_neurosim_area_within_20_percent(neurosim_vgg8_mapping):
    ref = {r["metric"]: float(r["value"])
           for r in read_reference_csv("cim", "neurosim_v13_vgg8_default_summary.csv")}
    stats = run_analytical(neurosim_vgg8_mapping)
    area = sum(stats.area_um2.values())
    assert area / ref["chip_area_um2"] == pytest.approx(1.0, abs=0.20)
    # The ADCs are counted exactly as NeuroSim does: 16 per subarray, all subarrays of the tiles.
    assert stats.area_um2["adc"] == pytest.approx(ref["adc_area_um2"], rel=1e-3)
    assert stats.area_um2["crossbar"] == pytest.approx(ref["cim_array_area_um2"], rel=1e-3)


@pytest.mark.parametrize(("bits", "activity", "neurosim_fj"),
                         [(5, 0.10, 140.4), (5, 0.37, 364.6), (5, 0.60, 565.0),
                          (4, 0.10, 112.1), (4, 0.37, 336.2), (4, 0.60, 536.6)])
def test_neurosim_adc_energy_model_close_to_neurosim(bits, activity, neurosim_fj):
    """The MLSA formula at mean cell conductance is within 10 % of NeuroSim's harness values."""
    hw = hw_with(adc={"bits": bits})
    assert conversion_energy_pj(hw, 128 * activity) * 1e3 == pytest.approx(neurosim_fj, rel=0.10)


def test_comparator_only_energy_matches_formula():
    hw = hw_with(adc={"bits": 5})
    assert conversion_energy_pj(hw, 0) * 1e3 == pytest.approx(57.8, rel=1e-3)


@pytest.mark.parametrize("workload", ["vgg8", "resnet18"])
def test_energy_and_latency_add_up(workload, flash_hw):
    stats = run_analytical(map_network(load_workload(workload), flash_hw))
    by_comp = stats.energy_by_component_pj()
    assert sum(by_comp.values()) == pytest.approx(stats.energy_pj)
    assert sum(ls.total_energy_pj for ls in stats.layers) == pytest.approx(stats.energy_pj)
    assert sum(ls.latency_cycles for ls in stats.layers) == stats.latency_cycles
    for ls in stats.layers:
        assert ls.latency_cycles == (ls.noc_cycles + ls.adc_cycles + ls.buffer_cycles
                                     + ls.digital_cycles)
        assert min(ls.adc_cycles, ls.buffer_cycles, ls.digital_cycles, ls.noc_cycles) >= 0
        assert all(v >= 0 for v in ls.energy_pj.values())
    # Leakage is power x time for the whole chip.
    leak_pj = stats.leakage_uw * stats.latency_ns * 1e-3
    assert by_comp["leakage"] == pytest.approx(leak_pj)


def test_event_counts_closed_form(neurosim_vgg8_mapping):
    """conv1: 900 vectors x 8 bits x 1 row block x 512 columns conversions; conv2: 9 blocks."""
    stats = run_analytical(neurosim_vgg8_mapping)
    assert stats.layers[0].counts["adc_conversions"] == 900 * 8 * 1 * 512
    assert stats.layers[1].counts["adc_conversions"] == 900 * 8 * 9 * 512
    assert stats.layers[1].counts["accumulator_ops"] == 900 * 128 * 8
    assert stats.layers[1].counts["pooling_ops"] == 128 * 16 * 16 * 4  # 2x2 max-pool
    assert stats.layers[0].counts["input_buffer_read_bits"] == 900 * 27 * 8


def test_more_copies_never_slower():
    """Duplication shortens a layer's compute; with 'none' it is vectors x bits x mux."""
    net = load_workload("vgg8")
    dup = run_analytical(map_network(net, hw_with())).layers[0]
    single = run_analytical(map_network(net, hw_with(mapping={"duplication": "none"}))).layers[0]
    assert single.adc_cycles == 1024 * 8 * 8
    assert dup.adc_cycles == 1024 * 8 * 8 // dup.speedup
    assert dup.latency_cycles < single.latency_cycles
