"""The SimPy engine: equal to the closed form without contention, equal to a per-cycle
reference, sensitive to port width and ADC count exactly as hand calculations say."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import ZOO_GROUPED, hw_with, overlapped

from enasim.analytical import run_analytical
from enasim.mapping import map_network
from enasim.plan import plan_layer
from enasim.report.timeline import chrome_trace
from enasim.sim import Simulator
from enasim.workload import load_workload, zoo_names
from enasim.workload.ir import Conv2d, Linear, NetworkBuilder

TIMING = ("start_cycle", "end_cycle", "adc_cycles", "buffer_cycles", "digital_cycles",
          "noc_cycles")


@pytest.mark.parametrize(("hw_name", "workload", "depthwise"), [
    *(("flash_imc", w, "packed") for w in sorted(zoo_names())),
    *(("neurosim_v13", w, "packed") for w in sorted(set(zoo_names()) - ZOO_GROUPED)),
    *(("flash_imc", w, "digital") for w in sorted(ZOO_GROUPED))])
def test_engine_equals_analytical_without_contention(hw_name, workload, depthwise):
    hw = overlapped(hw_name)
    hw = replace(hw, mapping=replace(hw.mapping, depthwise=depthwise))
    m = map_network(load_workload(workload), hw)
    a, s = run_analytical(m), Simulator(m, noc_model="ideal").run()
    for la, ls in zip(a.layers, s.layers, strict=True):
        assert [getattr(ls, k) for k in TIMING] == [getattr(la, k) for k in TIMING], la.name
        assert ls.counts == pytest.approx(la.counts)
        assert ls.energy_pj == pytest.approx(la.energy_pj)
    assert s.latency_cycles == a.latency_cycles


def _one_layer(op, shape, **hw_sections):
    b = NetworkBuilder("one", shape)
    b.add("layer", op)
    hw = hw_with(**hw_sections)
    return map_network(b.build(), hw)


def _per_cycle_reference(plan) -> int:
    """A deliberately naive cycle-by-cycle simulation of one layer's read/convert/write.

    Each cycle: the read port moves up to its width of the current step's bits (a step's reads
    are not mixed with the next step's in one cycle); the ADC group spends one cycle on the
    oldest read step; a converted step becomes writable `lag` cycles later; the write port moves
    up to its width of the oldest writable step. Returns the cycle count until the last bit is
    written.
    """
    hw, lm = plan.hw, plan.lm
    prec = hw.precision
    rport = lm.tiles * hw.tile.input_buffer.port_bits
    wport = lm.tiles * hw.tile.output_buffer.port_bits
    steps = plan.steps
    read_left = [v * plan.rows * prec.input_bits for v in steps]
    conv_left = [plan.step_cycles(v)[1] for v in steps]
    write_left = [v * plan.out_channels * prec.output_bits for v in steps]
    read_done, conv_done_at, written = 0, [], 0
    cycle = 0
    while written < len(steps):
        r_now, c_now = read_done, len(conv_done_at)
        if r_now < len(steps):  # read port
            read_left[r_now] -= rport
            if read_left[r_now] <= 0:
                read_done += 1
        if c_now < r_now:  # ADC group works on a step whose read finished before this cycle
            conv_left[c_now] -= 1
            if conv_left[c_now] == 0:
                conv_done_at.append(cycle + 1)
        if written < len(conv_done_at) and conv_done_at[written] + plan.lag <= cycle:
            write_left[written] -= wport
            if write_left[written] <= 0:
                written += 1
        cycle += 1
    return cycle


CASES = {
    # name: (op, input shape, hw overrides)
    "conv-compute-bound": (Conv2d(16, (3, 3), padding=1), (8, 6, 6), {}),
    "conv-narrow-read-port": (Conv2d(16, (3, 3), padding=1), (32, 6, 6),
                              {"tile": {"input_buffer": {"port_bits": 16}}}),
    "conv-narrow-write-port": (Conv2d(64, (1, 1)), (16, 5, 5),
                               {"tile": {"output_buffer": {"port_bits": 8}},
                                "mapping": {"duplication": "none"}}),
    "fc-shared-mux": (Linear(8), (100, 1, 1), {}),
    "deep-rows": (Conv2d(8, (3, 3), padding=1), (64, 4, 4),
                  {"crossbar": {"rows": 64, "cols": 64, "rows_parallel": 32},
                   "tile": {"input_buffer": {"port_bits": 32}}}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_coarse_events_equal_per_cycle_reference(case):
    op, shape, hw_sections = CASES[case]
    m = _one_layer(op, shape, **hw_sections)
    plan = plan_layer(m.layers[0], m.hw)
    ls = Simulator(m).run().layers[0]
    pipeline = ls.adc_cycles + ls.buffer_cycles + plan.lag
    assert pipeline == _per_cycle_reference(plan)


def test_halving_read_port_width_costs_what_hand_calculation_says():
    """conv 3x3, 32->16 channels on 6x6: 36 vectors of 288 rows x 8 bits; 3 arrays in a tile of
    12 -> 4 copies -> 9 steps. Read r = ceil(4*288*8 / 64) = 144 cycles, convert
    c = 8 bits x ceil(4 vectors x 8 mux / 4 copies) = 64, write w = 2: reads bound the pipeline,
    r + c + d + w + 8r. Halving the port to 32 bits doubles r: 9 x 144 = 1296 cycles more."""
    op, shape = Conv2d(16, (3, 3), padding=1), (32, 6, 6)
    ce, out = {"pes_per_ce": 3}, {"port_bits": 256}
    wide = _one_layer(op, shape, ce=ce, tile={"input_buffer": {"port_bits": 64},
                                              "output_buffer": out})
    narrow = _one_layer(op, shape, ce=ce, tile={"input_buffer": {"port_bits": 32},
                                                "output_buffer": out})
    lw, ln = Simulator(wide).run().layers[0], Simulator(narrow).run().layers[0]
    plan = plan_layer(wide.layers[0], wide.hw)
    assert (plan.copies, plan.n_full, plan.rem, plan.rows) == (4, 9, 0, 288)
    assert plan.step_cycles(4) == (144, 64, 2)
    assert ln.latency_cycles - lw.latency_cycles == 9 * 144


def test_halving_adc_count_costs_what_hand_calculation_says():
    """Twice the columns per ADC (half the ADCs) doubles every step's mux cycles.
    conv 3x3 8->16 on 6x6: one array, 4 per tile -> 4 copies, 9 steps; conversion bound
    (r = 9, w = 2, c = 8 bits x 8 mux = 64); with 16 columns per ADC c = 128: +9 x 64 cycles."""
    op, shape = Conv2d(16, (3, 3), padding=1), (8, 6, 6)
    port = {"port_bits": 256}
    small_tile = {"ce": {"pes_per_ce": 2},
                  "tile": {"ces_per_tile": 2, "input_buffer": port, "output_buffer": port}}
    base = _one_layer(op, shape, **small_tile)
    half = _one_layer(op, shape, **small_tile, adc={"cols_per_adc": 16})
    lb, lh = Simulator(base).run().layers[0], Simulator(half).run().layers[0]
    plan = plan_layer(base.layers[0], base.hw)
    assert plan.steps == (4,) * 9
    assert plan.step_cycles(4) == (9, 64, 2)
    assert lh.adc_cycles - lb.adc_cycles == 9 * 64
    assert lh.latency_cycles - lb.latency_cycles == 9 * 64


def test_energy_conservation_and_event_counts(flash_hw):
    m = map_network(load_workload("resnet18"), flash_hw)
    s = Simulator(m, noc_model="ideal").run()
    assert sum(s.energy_by_component_pj().values()) == pytest.approx(s.energy_pj)
    for ls, lm in zip(s.layers, m.layers, strict=True):
        t = lm.tiling
        bits = flash_hw.precision.input_bits
        phases = sum(-(-r // flash_hw.crossbar.rows_parallel) for r in t.block_rows)
        assert ls.counts["adc_conversions"] == lm.vectors * bits * phases * t.cols
        assert ls.counts["input_buffer_read_bits"] == lm.vectors * t.rows * bits
    assert sum(ls.counts["link_flits"] for ls in s.layers) > 0


def _tracks(trace) -> dict[str, list[tuple[int, int]]]:
    """Track name -> sorted (start, end) cycles of its spans, checking each event's form."""
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
             if e["name"] == "thread_name"}
    out: dict[str, list] = {}
    for e in trace["traceEvents"]:
        if e["ph"] != "X":
            continue
        assert {"name", "ts", "dur", "pid", "tid", "args"} <= set(e)
        assert e["dur"] >= 0
        start = e["args"]["start_cycle"]
        out.setdefault(names[(e["pid"], e["tid"])], []).append(
            (start, start + e["args"]["cycles"]))
    return {k: sorted(v) for k, v in out.items()}


def test_timeline_is_valid_and_tracks_never_overlap(flash_hw):
    m = map_network(load_workload("resnet18"), flash_hw)
    s = Simulator(m, noc_model="ideal").run()
    tracks = _tracks(json.loads(json.dumps(chrome_trace(s))))
    assert f"tile {m.total_tiles - 1}" in tracks and "interconnect" in tracks
    for intervals in tracks.values():
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert start >= end
    # Layer by layer, a tile is busy for exactly its layer's latency.
    for ls, lm in zip(s.layers, m.layers, strict=True):
        assert sum(e - b for b, e in tracks[f"tile {lm.tile_ids[0]}"]) == ls.latency_cycles


def test_ce_tracks_show_which_ces_hold_weights(flash_hw, vgg8):
    """conv1 of VGG8 on flash_imc: 4 arrays x 4 copies = 16 arrays = all 4 CEs of its tile;
    fc8: 8 arrays x 2 copies = 16 -> 4 CEs; conv2: 36 arrays over 3 tiles -> 4 + 4 + 1 CEs."""
    m = map_network(vgg8, flash_hw)
    tracks = _tracks(chrome_trace(Simulator(m, trace_ces=True).run()))
    ces = [t for t in tracks if " ce " in t]
    conv2_tiles = m.layer("conv2").tile_ids
    assert sum(t.startswith(f"tile {conv2_tiles[2]} ce") for t in ces) == 1
    assert sum(t.startswith(f"tile {conv2_tiles[0]} ce") for t in ces) == 4
    assert f"tile {m.layer('conv1').tile_ids[0]} ce 3" in ces


def test_progress_reports_every_layer(flash_hw, vgg8):
    seen = []
    Simulator(map_network(vgg8, flash_hw), progress=lambda d, t: seen.append((d, t))).run()
    assert seen == [(i, 8) for i in range(1, 9)]


def test_partial_rows_reads_in_sub_phases_consistently():
    """partial_rows drives floor(T / L) rows a phase (4-bit ADC, 2-bit cells: 5 rows), so every
    128-row block needs ceil(128 / 5) = 26 read phases, each converting all its columns: compute
    cycles and conversions scale by that, and the engine still equals the analytical model."""
    net = load_workload("vgg8")
    full = map_network(net, hw_with(adc={"bits": 4, "range_mode": "full"}))
    part = map_network(net, hw_with(adc={"bits": 4, "range_mode": "partial_rows"}))
    pf, pp = plan_layer(full.layers[1], full.hw), plan_layer(part.layers[1], part.hw)
    assert pp.rows_at_once == 5 and pf.rows_at_once == 128
    blocks = full.layers[1].tiling.block_rows
    sub = sum(-(-r // 5) for r in blocks) / len(blocks)
    assert pp.per_vector_counts["adc_conversions"] == pytest.approx(
        pf.per_vector_counts["adc_conversions"] * sub)
    assert pp.step_cycles(4)[1] == 26 * pf.step_cycles(4)[1]
    a, s = run_analytical(part), Simulator(part, noc_model="ideal").run()
    for la, ls in zip(a.layers, s.layers, strict=True):
        assert [getattr(ls, k) for k in TIMING] == [getattr(la, k) for k in TIMING], la.name
        assert ls.energy_pj == pytest.approx(la.energy_pj)
