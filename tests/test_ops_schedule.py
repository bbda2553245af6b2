"""The `ops` schedule (ENASA's group of sub-nets inside the main Simulator, enasim/sim/ops.py).

Mesh runs use a toy supernet built here (8x8 maps, 16 channels, 3 choice layers x 3 choices,
a stem conv, a linear head; a few thousand packets per group): the real SPOS/FairNAS groups
carry millions of packets, far too many for the process model. The chip is spread over the
mesh (one array per CE, one CE per tile) so that operators span several tiles and transfers
are many-to-many. The golden test replays the per-group figures of the engine ENASA used before
it moved into the Simulator (tests/golden/README.md) on the real supernets, ideal interconnect.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from enasim.config import load
from enasim.errors import EnasimError
from enasim.mapping import map_network
from enasim.mapping.supernet import SupernetChip
from enasim.nas.spaces.fairnas import FAIRNAS
from enasim.nas.spaces.spos import SPOS
from enasim.nas.spaces.supernet import Block, Supernet, SupernetOp
from enasim.noc.interconnect import IdealInterconnect, zero_load_cycles
from enasim.noc.measure import run_trace
from enasim.noc.mesh import MeshInterconnect
from enasim.noc.packets import Packets
from enasim.noc.router import LOCAL, RouterParams
from enasim.sim.engine import Simulator
from enasim.sim.ops import GROUP_SCHEDULES, run_group
from enasim.workload import load_workload

GOLDEN = Path(__file__).parent / "golden" / "enasa_groups.json"
MESHES = ("compiled", "process")
DEPTHWISE = ("packed", "digital")
TIMING = ("start_cycle", "end_cycle", "adc_cycles", "buffer_cycles", "digital_cycles",
          "noc_cycles")

# -- the toy supernet -------------------------------------------------------------------------

H, C = 8, 16  # feature map side, channels


def _op(layer, choice, name, kind, c_in, c_out, k=1, h=H, section="choice") -> SupernetOp:
    groups = c_in if kind == "dwconv" else 1
    return SupernetOp(section, layer, choice, name, kind, c_in, c_out, groups, k, 1, k // 2, h, h)


def _choices(layer: int) -> tuple[Block, ...]:
    """0: one pw conv; 1: dw 3x3 -> pw (a chain); 2: two branches (3x3 conv | dw -> pw) whose
    outputs the next block reads together (a transfer from two operators' tiles)."""
    return (
        Block(f"L{layer}.pw", (_op(layer, 0, "pw", "pwconv", C, C),), ((),)),
        Block(f"L{layer}.dwpw", (_op(layer, 1, "dw", "dwconv", C, C, 3),
                                 _op(layer, 1, "pw", "pwconv", C, C)), ((), (0,))),
        Block(f"L{layer}.branches", (_op(layer, 2, "conv", "conv", C, C // 2, 3),
                                     _op(layer, 2, "dw", "dwconv", C, C, 3),
                                     _op(layer, 2, "pw", "pwconv", C, C // 2)),
              ((), (), (1,))),
    )


TOY = Supernet(
    "toy", ("pw", "dwpw", "branches"),
    (Block("stem", (_op(None, None, "0", "conv", C, C, 3, section="stem"),), ((),)),),
    tuple(_choices(layer) for layer in range(3)),
    (Block("classifier", (SupernetOp("classifier", None, None, "0", "linear", C, 10, 1, 1, 1,
                                     0, 1, 1),), ((),)),),
    lambda net, arch: None, lambda net, arch: 0)  # builder / BN channels: never called here

# One array per CE and one CE per tile: a 3x3 conv or a packed dw conv takes 2 tiles.
SPREAD = (("ce.pes_per_ce", 1), ("tile.ces_per_tile", 1))
VARIANTS = {
    "spread": SPREAD,  # enasa's 14x14 mesh: the tiles fill its first rows
    # Tile input buffers of 4096 bits, half an 8x8x16 input: every delivered input is partly
    # evicted and fetched again when its consumer starts (the `fetch` path).
    "small": (*SPREAD, ("tile.input_buffer.capacity_bits", 4096)),
    # An 8x4 mesh: routes turn and merge, head flits of different inputs contend for an output
    # VC (on the 14x14 mesh they never do in the same cycle, so arbitration goes untested).
    "narrow": (*SPREAD, ("noc.mesh_rows", 8), ("noc.mesh_cols", 4)),
    # ... and with 2 VCs, flits of different inputs also contend for the switch (iSLIP).
    "narrow2vc": (*SPREAD, ("noc.mesh_rows", 8), ("noc.mesh_cols", 4), ("noc.num_vcs", 2)),
}
# Four sub-nets whose first choices differ: after the shared stem their inputs leave the
# stem's tiles at once; the last shares a two-layer prefix with the first.
GROUP = ((0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 1, 0))


@pytest.fixture(scope="module")
def toy():
    """(chip, run): chip(depthwise, overrides) -> SupernetChip of the toy, run(mode, noc, ...)
    -> GroupRun of a group on it; both cached for the module (runs are deterministic)."""
    chips, runs = {}, {}

    def chip(depthwise: str = "packed", overrides=SPREAD) -> SupernetChip:
        key = (depthwise, overrides)
        if key not in chips:
            chips[key] = SupernetChip(TOY, load("enasa", overrides), depthwise)
        return chips[key]

    def run(mode: str, noc: str, depthwise: str = "packed", overrides=SPREAD, group=GROUP,
            images: int = 1):
        key = (mode, noc, depthwise, overrides, group, images)
        if key not in runs:
            runs[key] = run_group(chip(depthwise, overrides), group, mode=mode, images=images,
                                  noc_model=noc)
        return runs[key]

    return chip, run


def test_toy_chip_fits_the_mesh_and_spreads_operators(toy):
    chip, run = toy
    for dw in DEPTHWISE:
        c = chip(dw)
        assert (c.mesh_rows, c.mesh_cols) == (14, 14) and c.total_tiles <= 14 * 14
        assert max(len(p.tile_ids) for p in c.placements.values()) >= 2
    assert (chip("packed", VARIANTS["narrow"]).mesh_rows, chip().total_tiles) == (8, 30)
    r = run("ops", "ideal")
    assert 1000 <= len(r.stats.traffic.packets) <= 10_000
    assert r.computations < r.op_instances  # the stem and (0, 1) prefix are shared
    assert run("concurrent", "ideal").computations == r.op_instances


# -- 1. two fidelity levels of the mesh: compiled kernel and SimPy router processes -----------

DIFFERENTIAL = [(mode, dw, "spread") for mode in GROUP_SCHEDULES for dw in DEPTHWISE]
DIFFERENTIAL += [(mode, "packed", "small") for mode in ("ops", "concurrent")]
DIFFERENTIAL += [(mode, "packed", "narrow") for mode in GROUP_SCHEDULES]
DIFFERENTIAL += [("ops", "packed", "narrow2vc"), ("concurrent", "digital", "narrow2vc")]


@pytest.mark.parametrize("mode,depthwise,variant", DIFFERENTIAL,
                         ids=["-".join(case) for case in DIFFERENTIAL])
def test_compiled_and_process_mesh_give_identical_group_runs(toy, mode, depthwise, variant):
    _, run = toy
    a, b = (run(mode, noc, depthwise, VARIANTS[variant]) for noc in MESHES)
    assert isinstance(a.latency_cycles, int) and a.latency_cycles > 0
    assert a.latency_cycles == b.latency_cycles
    assert [ls.name for ls in a.stats.layers] == [ls.name for ls in b.stats.layers]
    for la, lb in zip(a.stats.layers, b.stats.layers, strict=True):
        assert [getattr(la, f) for f in TIMING] == [getattr(lb, f) for f in TIMING], la.name
        assert la.energy_pj == lb.energy_pj and la.counts == lb.counts, la.name
    assert a.stats.spans == b.stats.spans  # compute and receive intervals of every computation
    assert a.energy_pj == b.energy_pj and a.stats.chip_energy_pj == b.stats.chip_energy_pj
    assert (a.conflicts, a.decisions, a.busy_array_cycles) == \
        (b.conflicts, b.decisions, b.busy_array_cycles)
    assert a.stats.transfers == b.stats.transfers
    ta, tb = a.stats.traffic, b.stats.traffic
    for col in ("src", "dst", "flits", "cycle", "group"):
        assert np.array_equal(getattr(ta.packets, col), getattr(tb.packets, col)), col
    assert np.array_equal(ta.arrived, tb.arrived)
    assert np.array_equal(ta.link_flits, tb.link_flits)
    if variant == "small":
        assert any(t.purpose == "fetch" for t in a.stats.transfers)  # the path is exercised


# -- 2. invariants on the mesh ----------------------------------------------------------------

INVARIANT = [*DIFFERENTIAL, ("ops", "digital", "narrow")]
INVARIANT_IDS = ["-".join(case) for case in INVARIANT]


@pytest.mark.parametrize("mode,depthwise,variant", INVARIANT, ids=INVARIANT_IDS)
def test_mesh_conserves_flits_and_delivers_every_packet(toy, mode, depthwise, variant):
    chip, run = toy
    r = run(mode, "compiled", depthwise, VARIANTS[variant])
    t, hw = r.stats.traffic, chip(depthwise, VARIANTS[variant]).hw
    p = t.packets
    assert len(p) > 0 and (p.flits >= 1).all()
    assert int(p.flits.sum()) == int(t.link_flits[:, LOCAL].sum())  # injected == ejected
    nodes = t.rows * t.cols
    assert np.array_equal(np.bincount(p.dst, p.flits, nodes).astype(np.int64),
                          t.link_flits[:, LOCAL])  # ... at every node
    assert (t.arrived >= 0).all()  # every packet arrived
    assert (t.latency_cycles >= zero_load_cycles(hw.noc, t.hops, p.flits)).all()
    assert np.array_equal(t.transfer, p.group)  # one message set per transfer
    assert len(r.stats.transfers) == int(p.group.max()) + 1


@pytest.mark.parametrize("mode", GROUP_SCHEDULES)
@pytest.mark.parametrize("depthwise", DEPTHWISE)
def test_mesh_moves_the_ideal_flits_at_the_ideal_energy(toy, mode, depthwise):
    """Same sends, same X-Y routes: only the timing differs (the buffers are large enough
    that nothing is evicted, so the flits do not depend on timing)."""
    _, run = toy
    mesh, ideal = run(mode, "compiled", depthwise), run(mode, "ideal", depthwise)
    assert not any(t.purpose == "fetch" for t in mesh.stats.transfers)
    order = lambda tr: (tr.dst, tr.purpose)  # noqa: E731  (the send order is timing's)
    assert sorted(mesh.stats.transfers, key=order) == sorted(ideal.stats.transfers, key=order)
    tm, ti = mesh.stats.traffic, ideal.stats.traffic
    assert int(tm.packets.flits.sum()) == int(ti.packets.flits.sum())
    assert np.array_equal(tm.link_flits, ti.link_flits)
    assert mesh.energy_pj["noc"] > 0
    assert mesh.energy_pj["noc"] == pytest.approx(ideal.energy_pj["noc"], rel=1e-12)
    for lm, li in zip(mesh.stats.layers, ideal.stats.layers, strict=True):
        assert lm.counts["router_flits"] == li.counts["router_flits"], lm.name
        assert lm.counts["link_flits"] == li.counts["link_flits"], lm.name


@pytest.mark.parametrize("depthwise", DEPTHWISE)
def test_mesh_latency_is_at_least_ideal_latency(toy, depthwise):
    _, run = toy
    for mode in GROUP_SCHEDULES:
        mesh, ideal = run(mode, "compiled", depthwise), run(mode, "ideal", depthwise)
        assert mesh.latency_cycles >= ideal.latency_cycles, mode
        # and the mesh was really in the loop: some packets took longer than on the ideal one
        assert (mesh.stats.traffic.latency_cycles > ideal.stats.traffic.latency_cycles).any()


@pytest.mark.parametrize("mode,depthwise,variant", INVARIANT, ids=INVARIANT_IDS)
def test_no_computation_starts_before_its_input_arrived(toy, mode, depthwise, variant):
    _, run = toy
    r = run(mode, "compiled", depthwise, VARIANTS[variant])
    s = r.stats
    by_name = {ls.name: ls for ls in s.layers}
    assert len(by_name) == len(s.layers) == r.computations
    compute = defaultdict(list)
    receive = defaultdict(list)
    for span in s.spans:
        if span.group == "tiles":
            compute[span.layer].append(span)
        elif span.group == "interconnect":
            receive[span.layer].append(span)
    assert sorted(compute) == [ls.index for ls in s.layers]  # every computation computed once
    assert all(len(v) == 1 for v in compute.values())
    for ls in s.layers:
        start = compute[ls.index][0].start
        assert ls.start_cycle <= start and compute[ls.index][0].end == ls.end_cycle
        for span in receive[ls.index]:
            assert span.start <= span.end <= start, (ls.name, span.name)
    # per packet: its tail reached the consumer's tiles no later than the consumer started,
    # and the receive span of its transfer ends when its last packet arrived
    t = s.traffic
    last = np.full(len(s.transfers), -1, np.int64)
    np.maximum.at(last, t.transfer, t.arrived)
    spans = {span.name: span for span in s.spans if span.group == "interconnect"}
    assert len(spans) == len(s.transfers)
    for i, tr in enumerate(s.transfers):
        ls = by_name[tr.dst]
        assert last[i] <= compute[ls.index][0].start, tr
        assert spans[f"{tr.dst} {tr.purpose}"].end == last[i], tr
    assert receive, "no transfers"


# -- 3. time and energy add up ------------------------------------------------------------------

@pytest.mark.parametrize("mode", GROUP_SCHEDULES)
@pytest.mark.parametrize("depthwise", DEPTHWISE)
@pytest.mark.parametrize("variant", ("spread", "small"))
def test_each_computations_time_adds_up(toy, mode, depthwise, variant):
    """A computation's row: from its input's delivery (sequential: its fetch) to its end,
    receiving + converting + digital + the rest (buffers, and when scheduled the wait for
    the OPS unit and for crossbars another computation holds); the OPS unit's decision
    cycles show in the rest of every scheduled computation."""
    chip, run = toy
    r = run(mode, "compiled", depthwise, VARIANTS[variant])
    decision = chip(depthwise, VARIANTS[variant]).hw.enasa.ops_decision_cycles
    for ls in r.stats.layers:
        parts = ls.adc_cycles + ls.noc_cycles + ls.digital_cycles + ls.buffer_cycles
        assert parts == ls.latency_cycles > 0, ls.name
        assert min(ls.adc_cycles, ls.noc_cycles, ls.digital_cycles, ls.buffer_cycles) >= 0
        if mode != "sequential":
            assert ls.buffer_cycles >= decision > 0



@pytest.mark.parametrize("mode", GROUP_SCHEDULES)
@pytest.mark.parametrize("noc", ("ideal", "compiled"))
def test_energy_adds_up(toy, mode, noc):
    chip, run = toy
    for images in (1, 2):
        r = run(mode, noc, images=images)
        s, hw = r.stats, chip().hw
        layers = sum(ls.total_energy_pj for ls in s.layers)
        assert layers > 0
        assert layers + sum(s.chip_energy_pj.values()) == pytest.approx(r.total_energy_pj,
                                                                        rel=1e-12)
        assert sum(r.energy_pj.values()) == pytest.approx(r.total_energy_pj, rel=1e-12)
        for k, v in r.energy_pj.items():
            parts = sum(ls.energy_pj.get(k, 0.0) for ls in s.layers)
            assert v == pytest.approx(parts + s.chip_energy_pj.get(k, 0.0), rel=1e-12), k
        # leakage: the whole chip over the whole run, charged once (not per computation)
        assert all(ls.energy_pj.get("leakage", 0.0) == 0.0 for ls in s.layers)
        assert s.chip_energy_pj["leakage"] == pytest.approx(
            chip().leakage_uw * r.latency_ns * 1e-3, rel=1e-12)
        assert r.energy_pj["leakage"] == s.chip_energy_pj["leakage"] > 0
        expected_ops = 0.0 if mode == "sequential" else \
            r.decisions * hw.enasa.ops_energy_pj_per_decision
        assert r.energy_pj["ops_unit"] == pytest.approx(expected_ops, rel=1e-12)
        assert (r.decisions == 0) == (mode == "sequential")
        if mode != "sequential":
            assert r.decisions == r.computations
    one, two = run(mode, noc), run(mode, noc, images=2)
    assert two.energy_pj["adc"] == pytest.approx(2 * one.energy_pj["adc"], rel=1e-12)


# -- 4. golden equivalence with the former SupernetChip engine (commit 09e2fd8) ---------------

CASES = json.loads(GOLDEN.read_text())["cases"]
SPACES = {"spos": SPOS, "fairnas": FAIRNAS}


@pytest.fixture(scope="module")
def golden_chips():
    hw, chips = load("enasa"), {}

    def chip(space: str, depthwise: str) -> SupernetChip:
        if (space, depthwise) not in chips:
            chips[(space, depthwise)] = SupernetChip(SPACES[space], hw, depthwise)
        return chips[(space, depthwise)]

    return chip


def test_golden_file_covers_both_spaces_mappings_and_modes():
    assert len(CASES) == 72
    keys = {(c["space"], c["depthwise"], c["mode"], c["images"]) for c in CASES}
    assert keys == {(s, d, m, n) for s in SPACES for d in DEPTHWISE for m in GROUP_SCHEDULES
                    for n in (1, 2)}


COMPUTE = ("crossbar", "adc", "shift_add", "periphery", "buffer", "accumulator", "activation",
           "pooling", "depthwise_unit", "ops_unit")


def _in_tile_fetch_cycles(chip, case) -> int:
    """Zero-load cycles the former engine spent on inputs that never leave their tile: a
    consumer on one tile fed only by operators on that same tile (its one tile pair)."""
    from math import ceil

    from enasim.sim.ops import build_computations

    noc, place = chip.hw.noc, chip.placements
    comps, _ = build_computations(chip, tuple(map(tuple, case["group"])), False,
                                  case["images"])
    saved = 0
    for c in comps:
        src = {n for s in c.sources for n in place[s].nodes}
        if c.sources and src == set(place[c.key].nodes) and len(src) == 1:
            saved += int(zero_load_cycles(noc, 0, max(1, ceil(c.input_bits / noc.flit_bits))))
    return saved


@pytest.mark.parametrize("case", CASES, ids=[
    f"{c['space']}-{c['depthwise']}-{c['mode']}-n{c['images']}-{i}"
    for i, c in enumerate(CASES)])
def test_ideal_runs_equal_the_former_engine_but_in_tile_data(golden_chips, case):
    """The former engine sent the share of an input that a tile sends to itself (producer and
    consumer operators on the same tile) over the NoC: one router traversal per flit and the
    zero-load time. The engine keeps it in the tile. Everything else is unchanged: the
    computations, their energy, the OPS unit's decisions exactly; one sub-net at a time
    (`sequential`, no evictions), the NoC energy differs by exactly the in-tile flits' router
    energy and the latency by exactly the fetches that stayed in one tile."""
    chip = golden_chips(case["space"], case["depthwise"])
    r = run_group(chip, case["group"], mode=case["mode"], images=case["images"],
                  noc_model="ideal")
    assert r.computations == case["computations"]
    assert r.decisions == case["decisions"]
    assert r.busy_array_cycles == pytest.approx(case["busy_array_cycles"], rel=1e-9)
    assert set(r.energy_pj) == set(case["energy_pj"])
    for k in COMPUTE:
        v = case["energy_pj"][k]
        assert r.energy_pj[k] == pytest.approx(v, rel=1e-9, abs=0 if v else 1e-12), k
    local = sum(ls.counts["local_flits"] for ls in r.stats.layers)
    assert local > 0
    old_noc, noc = case["energy_pj"]["noc"], chip.hw.noc
    if case["mode"] == "sequential":
        assert old_noc == pytest.approx(r.energy_pj["noc"]
                                        + local * noc.router_energy_pj_per_flit, rel=1e-9)
        assert case["latency_cycles"] - r.latency_cycles == _in_tile_fetch_cycles(chip, case)
    else:  # pushed inputs and evictions follow the (earlier) arrivals: no exact identity
        assert r.energy_pj["noc"] < old_noc
        assert r.latency_cycles < case["latency_cycles"]  # all 48 of these groups: 1-11 %
    leak = case["energy_pj"]["leakage"] * r.latency_cycles / case["latency_cycles"]
    assert r.energy_pj["leakage"] == pytest.approx(leak, rel=1e-9)


def test_simulator_refuses_what_a_group_run_would_ignore(toy):
    chip, _ = toy
    for kwargs in ({"trace_ces": True}, {"activity": {"stem.0": object()}}):
        with pytest.raises(EnasimError, match="neither CE tracks nor measured activity"):
            Simulator(chip(), group=GROUP, **kwargs)
    with pytest.raises(EnasimError, match="expected one of ops, concurrent, sequential"):
        Simulator(chip(), schedule="pipelined", group=GROUP)  # a network's schedule
    mapping = map_network(load_workload("vgg8"), load("flash_imc"))
    for kwargs in ({"group": GROUP}, {"schedule": "ops"}):
        with pytest.raises(EnasimError, match="a mapped network runs under layer_by_layer, "
                                              "pipelined"):
            Simulator(mapping, **kwargs)


@pytest.mark.parametrize("mode", GROUP_SCHEDULES)
def test_a_finished_run_frees_its_mesh_without_a_garbage_collection(toy, mode):
    """No reference cycle keeps a run's mesh (and its packets) alive once its results are
    dropped: a search runs hundreds of groups in one process."""
    import gc
    import weakref

    chip, _ = toy
    gc.disable()
    try:
        for target, kwargs in ((chip(), {"schedule": mode, "group": GROUP}),
                               (map_network(load_workload("vgg8"), load("flash_imc")), {})):
            sim = Simulator(target, noc_model="compiled", **kwargs)
            stats = sim.run()
            assert stats.traffic is not None
            mesh = weakref.ref(sim.net.mesh)
            del sim, stats
            assert mesh() is None
    finally:
        gc.enable()


def test_a_group_too_large_for_memory_is_refused_before_it_runs(toy, monkeypatch, capsys,
                                                               tmp_path):
    from enasim import sim
    from enasim.cli import main

    chip, run = toy
    packets = len(run("ops", "compiled").stats.traffic.packets)
    monkeypatch.setattr(sim.ops, "MAX_GROUP_PACKETS", packets // 2)  # deliveries exceed it
    with pytest.raises(EnasimError, match=r"would put about .* packets on the NoC"):
        Simulator(chip(), schedule="ops", group=GROUP, noc_model="ideal").run()
    monkeypatch.undo()
    # SPOS on 16 images: about 3e7 packets (8 images run); refused in one line, nothing written
    out = tmp_path / "big"
    assert main(["enasa", "run", "--generations", "0", "--population", "4", "--images", "16",
                 "--workers", "1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use fewer --images or a smaller --group" in err
    assert not out.exists()


# -- 5. determinism -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", GROUP_SCHEDULES)
def test_same_group_twice_gives_identical_stats(toy, mode):
    chip, run = toy
    first = run(mode, "compiled")  # cold chip caches when this runs first, warm otherwise
    again = run_group(chip(), GROUP, mode=mode, noc_model="compiled")  # warm chip caches
    fresh_chip = SupernetChip(TOY, load("enasa", SPREAD), "packed")
    sim = Simulator(fresh_chip, noc_model="compiled", schedule=mode, group=GROUP)
    fresh = sim.run()
    assert isinstance(sim.net, MeshInterconnect) and sim.events_processed > 0
    for s in (again.stats, fresh):
        assert s.spans == first.stats.spans
        assert s.layers == first.stats.layers  # timing, counts and energy of each computation
        assert s.chip_energy_pj == first.stats.chip_energy_pj
        assert s.energy_by_component_pj() == first.stats.energy_by_component_pj()
        assert np.array_equal(s.traffic.arrived, first.stats.traffic.arrived)
    ideal = Simulator(fresh_chip, noc_model="ideal", schedule=mode, group=GROUP)
    ideal.run()
    assert isinstance(ideal.net, IdealInterconnect)


# -- 6. contention between the sub-nets' transfers on the mesh ----------------------------------

def _alone_latency(traffic, noc) -> np.ndarray:
    """Each packet's latency when its message set is replayed alone on an empty mesh (the
    set's packets created together at cycle 0, in the order the run offered them)."""
    p, out = traffic.packets, np.empty(len(traffic.packets), np.int64)
    params = RouterParams.from_noc(noc, traffic.rows, traffic.cols)
    for g in np.unique(p.group):
        m = np.flatnonzero(p.group == g)
        _, rec = run_trace(params, Packets(p.src[m], p.dst[m], p.flits[m], np.zeros(len(m))))
        out[m] = rec.tail_ejected
    return out


def test_ops_transfers_contend_on_the_mesh(toy):
    """The `ops` variant fetches the four sub-nets' first-choice inputs from the stem's tiles
    at once: packets wait behind other transfers' packets. `sequential` (one transfer at a time)
    is the control: there every packet takes exactly as long as with its set alone."""
    chip, run = toy
    noc = chip().hw.noc
    ops = run("ops", "compiled").stats.traffic
    # above zero load (this alone also counts a message's own packets queueing at its source)
    assert (ops.latency_cycles > zero_load_cycles(noc, ops.hops, ops.packets.flits)).any()
    alone = _alone_latency(ops, noc)
    assert (ops.latency_cycles >= alone).all()
    delayed = ops.latency_cycles > alone
    assert np.unique(ops.packets.group[delayed]).size >= 3  # several transfers slowed down
    # the stem's outputs to the sub-nets' different first choices leave in the same cycle:
    # all but the first wait for the ones ahead of them
    transfers = run("ops", "compiled").stats.transfers
    stem = [g for g, tr in enumerate(transfers) if tr.src == "stem.0"]
    assert len(stem) >= 3
    assert np.unique(ops.packets.cycle[np.isin(ops.packets.group, stem)]).size == 1
    assert sum(bool(delayed[ops.packets.group == g].any()) for g in stem) == len(stem) - 1
    seq = run("sequential", "compiled").stats.traffic
    assert np.array_equal(seq.latency_cycles, _alone_latency(seq, noc))
