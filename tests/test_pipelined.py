"""The pipelined execution mode: input windows, overlap, conservation."""

from __future__ import annotations

import pytest
from conftest import hw_with, overlapped

from enasim.analytical import run_analytical
from enasim.errors import EnasimError
from enasim.mapping import map_network
from enasim.sim import Simulator
from enasim.sim.windows import input_need
from enasim.workload import load_workload
from enasim.workload.ir import Conv2d, NetworkBuilder, Pool

PIPE = {"execution": {"mode": "pipelined"}}


def _pipelined(name: str):
    return overlapped(name, [("execution.mode", "pipelined")])


def test_window_arithmetic_through_conv_and_pooling():
    """8x8 map; consumer 3x3/pad 1. After one consumer row (8 vectors) it needs producer rows
    0-1 (16 vectors). Behind a 2x2 max-pool (4x4 consumer): one consumer row (4 vectors) needs
    pooled rows 0-1, i.e. producer rows 0-3 (32 vectors)."""
    b = NetworkBuilder("w", (4, 8, 8))
    b.add("p", Conv2d(8, (3, 3), padding=1))
    b.add("c", Conv2d(8, (3, 3), padding=1))
    b.add("pool", Pool("max", kernel=2))
    b.add("d", Conv2d(8, (3, 3), padding=1))
    m = map_network(b.build(), hw_with(**PIPE))
    p, c, d = m.layers
    assert input_need(m, c, p, 8, "input") == 16
    assert input_need(m, c, p, 1, "input") == 16  # the first row already needs two
    assert input_need(m, c, p, 64, "input") == 64
    assert input_need(m, d, c, 4, "input") == 32
    assert input_need(m, d, c, 16, "input") == 64


@pytest.mark.parametrize("hw_name", ["flash_imc", "neurosim_v13"])
@pytest.mark.parametrize("workload", ["vgg8", "resnet18"])
def test_pipelining_overlaps_layers_and_keeps_the_work(hw_name, workload):
    net = load_workload(workload)
    lbl = Simulator(map_network(net, overlapped(hw_name)), noc_model="ideal").run()
    pipe = Simulator(map_network(net, _pipelined(hw_name)), noc_model="ideal").run()
    assert pipe.latency_cycles < lbl.latency_cycles
    # No layer can finish before its own conversions are done.
    assert pipe.latency_cycles >= max(ls.adc_cycles for ls in pipe.layers)
    for lp, ll in zip(pipe.layers, lbl.layers, strict=True):
        # The same vectors are converted, read and written; only time and NoC packets differ.
        for k in ("adc_conversions", "input_buffer_read_bits", "accumulator_ops",
                  "activation_ops", "pooling_ops"):
            assert lp.counts[k] == pytest.approx(ll.counts[k])
        assert lp.adc_cycles == ll.adc_cycles
        assert lp.latency_cycles == (lp.adc_cycles + lp.noc_cycles + lp.buffer_cycles
                                     + lp.digital_cycles)
        assert min(lp.noc_cycles, lp.buffer_cycles, lp.digital_cycles) >= 0
    assert sum(pipe.energy_by_component_pj().values()) == pytest.approx(pipe.energy_pj)
    # The chip leaks once over the run in both modes, though pipelined layers overlap
    # (charging each layer its own span counted vgg8's leakage 7 times).
    for stats in (lbl, pipe):
        leak = sum(ls.energy_pj["leakage"] for ls in stats.layers)
        assert leak == pytest.approx(stats.leakage_uw * stats.latency_ns * 1e-3, rel=1e-12)
    assert sum(ls.latency_cycles for ls in pipe.layers) > 2 * pipe.latency_cycles


def test_consumers_start_before_producers_finish():
    m = map_network(load_workload("vgg8"), _pipelined("flash_imc"))
    s = Simulator(m, noc_model="ideal").run()
    tile_spans = {sp.layer: sp for sp in s.spans if sp.group == "tiles"}
    conv1, conv2 = s.layers[0], s.layers[1]
    assert conv2.adc_cycles > 0 and tile_spans[2].start < conv1.end_cycle


def test_pipelined_timeline_tracks_do_not_overlap():
    m = map_network(load_workload("resnet18"), _pipelined("flash_imc"))
    s = Simulator(m, noc_model="ideal").run()
    tracks: dict[str, list] = {}
    for sp in s.spans:
        tracks.setdefault(sp.track, []).append((sp.start, sp.end))
    for spans in tracks.values():
        spans.sort()
        assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))


def test_analytical_model_refuses_pipelined():
    with pytest.raises(EnasimError, match="layer_by_layer"):
        run_analytical(map_network(load_workload("vgg8"), hw_with(**PIPE)))
