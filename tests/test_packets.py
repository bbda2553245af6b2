"""Packets of at most noc.max_packet_flits flits: the closed forms of `Pairs` and `MessageSet`,
what the engine puts on the interconnect in both execution modes, compiled == process with
packets, the ideal NoC's per-packet arrivals, NoC energy, the hwconfig field, and appending
packets to the meshes."""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np
import pytest
from conftest import hw_with
from hypothesis import given
from hypothesis import strategies as st

from enasim.analytical.perf import noc_phases
from enasim.cli import main
from enasim.config import BUNDLED_DIR, DEFAULT_HW, load
from enasim.errors import ConfigError
from enasim.mapping import map_network
from enasim.nas.spaces.densenet_flash import build_densenet_flash
from enasim.noc.compiled import CompiledMesh
from enasim.noc.interconnect import MessageSet, Pairs, pairs, to_packets, zero_load_cycles
from enasim.noc.packets import Packets
from enasim.noc.router import LOCAL, ProcessMesh, RouterParams
from enasim.sim import Simulator
from enasim.workload import load_workload

MODES = ("layer_by_layer", "pipelined")


# --- 1. closed forms ------------------------------------------------------------------------


def _pairs(n: int, flits: int, vectors: int) -> Pairs:
    """`n` pairs from nodes 0.. to nodes 100.., `flits` per pair for `vectors` vectors."""
    src = np.arange(n, dtype=np.int64)
    return Pairs(src, src + 100, src % 3, flits, vectors, layer=7)


@given(flits=st.integers(1, 500), vectors=st.integers(1, 500))
def test_flits_after_and_vectors_carried_closed_form(flits, vectors):
    p = _pairs(2, flits, vectors)
    after = [p.flits_after(v) for v in range(vectors + 1)]
    assert after[0] == 0 and after[-1] == flits
    assert all(a <= b for a, b in pairwise(after))  # monotone
    assert p.flits_after(vectors + 5) == flits  # more vectors than the producer has: all
    # whole flits only: the data of v vectors fills v*F/N flits, and the rest waits
    assert all(after[v] == v * flits // vectors for v in range(vectors))
    carried = [p.vectors_carried(f) for f in range(flits + 1)]
    assert carried[-1] == vectors and p.vectors_carried(flits + 3) == vectors
    assert all(a <= b for a, b in pairwise(carried))
    # f flits carry the vectors whose data fits in them, in full, and no more
    for f, v in enumerate(carried[:-1]):
        assert v * flits <= f * vectors < (v + 1) * flits
    for v in range(vectors + 1):
        got = p.vectors_carried(after[v])
        assert got <= v  # never counts a vector whose flits have not all been sent
        # ... and lags the written vectors by at most one flit's worth of vectors
        assert v - got <= -(-(vectors - 1) // flits)


def _stream(p: Pairs, steps: list[int]) -> list[tuple[int, int]]:
    """The (flits, vectors) increments the engine's pipelined `_stream` sends for a producer
    writing `steps` vectors at a time."""
    written = sent = carried = 0
    out = []
    for v in steps:
        written += v
        flits = p.flits_after(written)
        if flits > sent:
            now_carried = p.vectors_carried(flits)
            out.append((flits - sent, now_carried - carried))
            sent, carried = flits, now_carried
    return out


@given(flits=st.integers(1, 300), data=st.data())
def test_streaming_in_any_steps_sends_the_whole_transfer(flits, data):
    steps = data.draw(st.lists(st.integers(1, 40), min_size=1, max_size=40))
    p = _pairs(3, flits, sum(steps))
    sends = _stream(p, steps)
    assert all(f >= 1 and v >= 0 for f, v in sends)
    assert sum(f for f, _ in sends) == flits  # exactly the flits of sending it whole
    assert sum(v for _, v in sends) == sum(steps)  # and every vector arrives


def test_streaming_vector_by_vector():
    """One vector a step: a 5-vector, 2-flit transfer leaves as 2 single flits."""
    p = _pairs(1, 2, 5)
    assert _stream(p, [1] * 5) == [(1, 2), (1, 3)]
    p = _pairs(1, 5, 2)  # more flits than vectors: every step sends
    assert _stream(p, [1, 1]) == [(2, 0), (3, 2)]


@pytest.mark.parametrize("max_flits, sizes, ends", [
    (1, [1] * 7, [1, 2, 3, 4, 5, 6, 7]),
    (3, [3, 3, 1], [3, 6, 7]),  # not a divisor: the last packet is shorter
    (7, [7], [7]),  # as long as the message
    (4096, [7], [7]),
])
def test_message_set_packets(max_flits, sizes, ends):
    p = _pairs(3, 99, 10)
    pair, flits, end = p.messages(7).packets(max_flits)
    k = len(sizes)
    # round robin: packet round j of every pair before round j + 1
    assert pair.tolist() == [0, 1, 2] * k
    assert flits.tolist() == [s for s in sizes for _ in range(3)]
    assert end.tolist() == [e for e in ends for _ in range(3)]
    for i in range(3):
        assert flits[pair == i].sum() == 7
        assert np.array_equal(np.cumsum(flits[pair == i]), end[pair == i])


@given(n=st.integers(1, 6), flits=st.integers(1, 60), max_flits=st.integers(1, 70))
def test_message_set_packets_properties(n, flits, max_flits):
    pair, size, end = _pairs(n, 1, 1).messages(flits).packets(max_flits)
    k = -(-flits // max_flits)
    assert len(pair) == n * k
    assert ((size >= 1) & (size <= max_flits)).all()
    assert np.array_equal(pair, np.tile(np.arange(n), k))
    for i in range(n):
        mine = size[pair == i]
        assert mine.sum() == flits and (mine[:-1] == max_flits).all()
        assert np.array_equal(np.cumsum(mine), end[pair == i])


def test_to_packets_labels_every_packet_with_its_set():
    a = _pairs(2, 5, 5).messages(5)
    b = MessageSet(_pairs(3, 2, 1), 2)
    pk, end, hops = to_packets([(10, 0, a), (12, 1, b)], 2)
    assert len(pk) == 2 * 3 + 3 * 1
    assert pk.cycle.tolist() == [10] * 6 + [12] * 3
    assert pk.group.tolist() == [0] * 6 + [1] * 3
    assert (pk.layer == 7).all()
    assert pk.src.tolist() == [0, 1] * 3 + [0, 1, 2]
    assert (pk.dst == pk.src + 100).all() and np.array_equal(hops, pk.src % 3)
    assert pk.flits.tolist() == [2, 2, 2, 2, 1, 1, 2, 2, 2]
    assert end.tolist() == [2, 2, 4, 4, 5, 5, 2, 2, 2]
    empty, end, _ = to_packets([], 4)
    assert len(empty) == 0 and len(end) == 0


# --- engine runs, cached per module ---------------------------------------------------------

# Multi-tile layers (round robin over several destinations) and a residual add; small enough
# for the process mesh in about half a second.
RESIDUAL = """
name: residual
input: [64, 6, 6]
layers:
  - {name: conv1, op: conv2d, out_channels: 128, kernel: 3, padding: 1}
  - {name: relu1, op: activation}
  - {name: conv2, op: conv2d, out_channels: 128, kernel: 3, padding: 1}
  - {name: relu2, op: activation}
  - {name: conv3, op: conv2d, out_channels: 128, kernel: 3, padding: 1}
  - {name: sum, op: add, inputs: [relu1, conv3]}
  - {name: pool, op: pool, mode: max, kernel: 2}
  - {name: fc, op: linear, out_features: 10}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """run(workload, mode, max_packet_flits, model, **noc) -> (mapping, stats, simulator),
    each run once per module."""
    path = tmp_path_factory.mktemp("wl") / "residual.yaml"
    path.write_text(RESIDUAL)
    networks = {"residual": lambda: load_workload(str(path)),
                "flash": lambda: build_densenet_flash(wm=1, depths=5),
                "flash3": lambda: build_densenet_flash(wm=1, depths=3, tcs=(5, 10, 20)),
                "vgg8": lambda: load_workload("vgg8"),
                "resnet18": lambda: load_workload("resnet18")}
    cache: dict = {}

    def get(workload: str, mode: str, max_flits: int, model: str, **noc):
        key = (workload, mode, max_flits, model, tuple(sorted(noc.items())))
        if key not in cache:
            hw = hw_with(noc={"max_packet_flits": max_flits, **noc}, execution={"mode": mode})
            m = map_network(networks[workload](), hw)
            sim = Simulator(m, noc_model=model)
            cache[key] = (m, sim.run(), sim)
        return cache[key]

    return get


def test_residual_workload_has_adds_and_many_to_many_transfers(run):
    m, _, _ = run("residual", "layer_by_layer", 1, "ideal")
    assert {tr.purpose for tr in m.transfers} == {"input", "add"}
    assert any(len(np.unique(p.src)) > 1 and len(np.unique(p.dst)) > 1
               for p in (pairs(m, tr) for tr in m.transfers))


# --- 2. what the engine puts on the interconnect --------------------------------------------


def _transfer_flits(m, stats) -> np.ndarray:
    t = stats.traffic
    return np.bincount(t.transfer, weights=t.packets.flits, minlength=len(m.transfers))


def _check_packets(m, stats, max_flits: int) -> None:
    """Packet sizes, and every message set is `MessageSet.packets` of equal messages."""
    t = stats.traffic
    f = t.packets.flits
    assert len(f) and ((f >= 1) & (f <= max_flits)).all()
    if max_flits == 1:
        assert len(t.packets) == t.packets.total_flits
    assert (t.transfer >= 0).all()
    group = t.packets.group
    assert (np.diff(group) >= 0).all()  # a set's packets are together, sets in send order
    starts = np.flatnonzero(np.r_[True, np.diff(group) != 0, True])
    for a, b in pairwise(starts.tolist()):
        tr = m.transfers[int(t.transfer[a])]
        p = pairs(m, tr)
        assert (t.transfer[a:b] == t.transfer[a]).all()
        n = len(p.src)
        message = int(f[a:b].sum()) // n
        assert message * n == f[a:b].sum()
        pair, flits, _ = p.messages(message).packets(max_flits)
        assert np.array_equal(t.packets.src[a:b], p.src[pair])
        assert np.array_equal(t.packets.dst[a:b], p.dst[pair])
        assert np.array_equal(f[a:b], flits)
        assert (t.packets.layer[a:b] == m.layer(tr.src).index).all()


WORKLOADS = ["vgg8", "flash", "residual",
             pytest.param("resnet18", marks=pytest.mark.slow)]


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("max_flits", [1, 3])
def test_both_modes_put_the_same_flits_on_the_ideal_noc(run, workload, max_flits):
    runs = {mode: run(workload, mode, max_flits, "ideal") for mode in MODES}
    m = runs["layer_by_layer"][0]
    whole = np.array([p.flits * len(p.src) for p in (pairs(m, tr) for tr in m.transfers)])
    for mode, (mm, stats, _) in runs.items():
        _check_packets(mm, stats, max_flits)
        assert np.array_equal(_transfer_flits(mm, stats), whole), mode
    # layer by layer: one message set per transfer, each message whole
    lbl = runs["layer_by_layer"][1].traffic
    assert (np.bincount(lbl.transfer, minlength=len(m.transfers)) > 0).all()
    assert len(np.unique(lbl.packets.group)) == len(m.transfers)
    # pipelined: streamed in several sets (the same data, in more pieces)
    pip = runs["pipelined"][1].traffic
    assert len(np.unique(pip.packets.group)) > len(m.transfers)


@pytest.mark.parametrize("workload, mode", [("vgg8", "pipelined"), ("residual", "pipelined"),
                                            ("residual", "layer_by_layer")])
def test_the_mesh_carries_what_the_engine_sent(run, workload, mode):
    """On the compiled mesh: packets within the limit, the same flits per transfer as on the
    ideal NoC, and the mesh's own packet list is the traffic reported."""
    m, stats, sim = run(workload, mode, 4, "compiled")
    _check_packets(m, stats, 4)
    ideal = run(workload, mode, 4, "ideal")[1]
    assert np.array_equal(_transfer_flits(m, stats), _transfer_flits(m, ideal))
    t, mine = stats.traffic, sim.net.mesh.packets
    for name in ("src", "dst", "flits", "cycle", "layer", "group"):
        assert np.array_equal(getattr(mine, name), getattr(t.packets, name)), name
    assert (t.arrived >= 0).all()


# --- 3. compiled == process -----------------------------------------------------------------

TIMING = ("start_cycle", "end_cycle", "adc_cycles", "buffer_cycles", "digital_cycles",
          "noc_cycles")


def _same_runs(c, p) -> None:
    (_, sc, simc), (_, sp, simp) = c, p
    assert sc.latency_cycles == sp.latency_cycles
    for lc, lp in zip(sc.layers, sp.layers, strict=True):
        assert [getattr(lc, k) for k in TIMING] == [getattr(lp, k) for k in TIMING], lc.name
        assert lc.energy_pj == lp.energy_pj
    tc, tp = sc.traffic, sp.traffic
    for name in ("src", "dst", "flits", "cycle", "layer", "group"):
        assert np.array_equal(getattr(tc.packets, name), getattr(tp.packets, name)), name
    assert np.array_equal(tc.transfer, tp.transfer)
    assert np.array_equal(tc.arrived, tp.arrived)
    assert np.array_equal(tc.latency_cycles, tp.latency_cycles)
    assert np.array_equal(tc.link_flits, tp.link_flits)
    rc, rp = simc.net.mesh.records, simp.net.mesh.records
    for name in ("created", "head_injected", "tail_ejected", "flit_latency_sum", "hops"):
        assert np.array_equal(getattr(rc, name), getattr(rp, name)), name


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_flits, noc", [
    (1, {}), (3, {}), (4, {}),
    (4, {"num_vcs": 2, "vc_buf_flits": 4}),  # multi-flit packets over several VCs
])
def test_compiled_and_process_mesh_agree_with_packets(run, mode, max_flits, noc):
    c, p = (run("residual", mode, max_flits, model, **noc) for model in ("compiled", "process"))
    assert c[1].traffic.packets.flits.max() == max_flits  # the limit is reached
    _same_runs(c, p)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_compiled_and_process_mesh_agree_on_a_flash_network_with_packets(run, mode):
    _same_runs(*(run("flash3", mode, 4, model) for model in ("compiled", "process")))


# --- 4. ideal NoC ---------------------------------------------------------------------------


def _message_end(pk: Packets) -> np.ndarray:
    """Per packet: the flits of its message (its set's packets to the same pair) up to and
    including it."""
    out, sent = np.zeros(len(pk), np.int64), {}
    for i, key in enumerate(zip(pk.group.tolist(), pk.src.tolist(), pk.dst.tolist(),
                                        strict=True)):
        sent[key] = out[i] = sent.get(key, 0) + int(pk.flits[i])
    return out


@pytest.mark.parametrize("workload", ["residual", "flash", "vgg8"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_flits", [1, 3, 4])
def test_ideal_arrivals_are_closed_form(run, workload, mode, max_flits):
    m, stats, _ = run(workload, mode, max_flits, "ideal")
    t, noc = stats.traffic, m.hw.noc
    pk = t.packets
    end = _message_end(pk)
    assert np.array_equal(t.arrived, pk.cycle + zero_load_cycles(noc, t.hops, end))
    # a set completes at the zero-load latency of its longest whole message
    last = np.r_[np.flatnonzero(np.diff(pk.group)), len(pk) - 1]
    first = np.r_[0, last[:-1] + 1]
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        whole = zero_load_cycles(noc, t.hops[a:b + 1], end[a:b + 1]).max()
        assert t.arrived[a:b + 1].max() == pk.cycle[a] + whole


@pytest.mark.parametrize("workload", ["residual", "flash"])
@pytest.mark.parametrize("mode", MODES)
def test_ideal_timing_does_not_depend_on_packet_size(run, workload, mode):
    runs = [run(workload, mode, k, "ideal")[1] for k in (1, 3, 65536)]
    for s in runs[1:]:
        assert s.latency_cycles == runs[0].latency_cycles
        for a, b in zip(runs[0].layers, s.layers, strict=True):
            assert [getattr(a, k) for k in TIMING] == [getattr(b, k) for k in TIMING], a.name
            assert a.energy_pj == b.energy_pj
        assert s.traffic.packets.total_flits == runs[0].traffic.packets.total_flits
    # with packets as long as any message (the largest allowed), one packet per message
    big = runs[-1].traffic.packets
    assert len(np.unique(np.c_[big.group, big.src, big.dst], axis=0)) == len(big)


# --- 5. energy ------------------------------------------------------------------------------


@pytest.mark.parametrize("workload, mode, max_flits, model", [
    ("residual", "layer_by_layer", 1, "compiled"),
    ("residual", "pipelined", 4, "compiled"),
    ("residual", "pipelined", 3, "ideal"),
    ("flash", "pipelined", 3, "ideal"),
    ("vgg8", "pipelined", 4, "compiled"),
])
def test_noc_energy_is_the_sum_over_packets(run, workload, mode, max_flits, model):
    m, stats, _ = run(workload, mode, max_flits, model)
    t, noc = stats.traffic, m.hw.noc
    flits, hops = t.packets.flits.astype(np.int64), t.hops
    router, link = flits * (hops + 1), flits * hops
    consumer = np.array([m.layer(tr.dst).index for tr in m.transfers])[t.transfer]
    for ls in stats.layers:
        mine = consumer == ls.index
        assert ls.counts["router_flits"] == router[mine].sum(), ls.name
        assert ls.counts["link_flits"] == link[mine].sum(), ls.name
        assert ls.energy_pj["noc"] == pytest.approx(
            router[mine].sum() * noc.router_energy_pj_per_flit
            + link[mine].sum() * noc.link_energy_pj_per_flit, rel=1e-12), ls.name
    # the routers sent exactly those flits: on links, and out of the ejection ports
    assert t.link_flits.sum() == router.sum()
    assert t.link_flits[:, :LOCAL].sum() == link.sum()
    assert t.link_flits[:, LOCAL].sum() == flits.sum()


def test_layer_by_layer_noc_energy_matches_the_analytical_model(run):
    m, stats, _ = run("residual", "layer_by_layer", 3, "ideal")
    phases = noc_phases(m)
    for ls in stats.layers:
        ph = phases.get(ls.name, {}).values()
        assert ls.counts["router_flits"] == sum(p.router_flits for p in ph)
        assert ls.counts["link_flits"] == sum(p.link_flits for p in ph)


# --- 6. hwconfig ----------------------------------------------------------------------------


def test_bundled_packet_sizes():
    assert load(DEFAULT_HW).noc.max_packet_flits == 1
    assert load(BUNDLED_DIR / "enasa.yaml").noc.max_packet_flits == 1
    assert load(BUNDLED_DIR / "neurosim_v13.yaml").noc.max_packet_flits == 4


def test_hwconfig_without_max_packet_flits_is_refused(tmp_path, capsys):
    text = DEFAULT_HW.read_text()
    assert not re.search(r"^extends:", text, re.M)
    path = tmp_path / "hw.yaml"
    path.write_text(re.sub(r"^\s*max_packet_flits:.*\n", "", text, flags=re.M))
    assert "max_packet_flits" not in path.read_text()
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.field == "noc.max_packet_flits" and "missing" in exc.value.message
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert str(path) in err and "noc.max_packet_flits" in err and "missing" in err


@pytest.mark.parametrize("value, expected", [("0", ">= 1"), ("-4", ">= 1"),
                                             ("2.5", "integer"), ("65537", "<= 65536")])
def test_bad_max_packet_flits_is_refused(tmp_path, capsys, value, expected):
    path = tmp_path / "hw.yaml"
    path.write_text(f"extends: flash_imc\nnoc: {{max_packet_flits: {value}}}\n")
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.field == "noc.max_packet_flits" and expected in exc.value.message
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "noc.max_packet_flits" in err and expected in err


def test_max_packet_flits_zero_via_set_is_refused(capsys):
    assert main(["config", "show", "flash_imc", "--set", "noc.max_packet_flits=0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "noc.max_packet_flits" in err and ">= 1" in err


# --- 7. appending packets to the meshes -----------------------------------------------------

MESHES = {"compiled": CompiledMesh, "process": ProcessMesh}
END = 100_000


def _params(**noc) -> RouterParams:
    return RouterParams.from_noc(hw_with(noc=noc).noc, 3, 4)


def _batches(seed: int, nodes: int = 12) -> list[Packets]:
    """Dependency-free batches like the engine's: each one message set (a group; a few
    without), created at or after the previous batch, bursts at one cycle and gaps."""
    rng = np.random.default_rng(seed)
    out, cycle = [], 0
    for g in range(40):
        cycle += int(rng.choice([0, 0, 1, 3, 20, 200]))
        n = int(rng.integers(1, 9))
        out.append(Packets(rng.integers(0, nodes, n), rng.integers(0, nodes, n),
                           rng.integers(1, 5, n), np.full(n, cycle),
                           layer=np.full(n, g % 5),
                           group=np.full(n, g if g % 7 else -1)))
    return out


def _empty() -> Packets:
    return Packets(*(np.zeros(0),) * 4)


def _drain(mesh, until: int, done: list) -> None:
    """Run up to `until`, stopping at every completed group (as the engine does)."""
    while mesh.now < until:
        for g in mesh.run(until, stop=True).tolist():
            done.append((mesh.now - 1, g))


def _outcome(mesh, done: list) -> tuple:
    r = mesh.records
    return (tuple(tuple(getattr(r, k).tolist()) for k in
                  ("created", "head_injected", "tail_ejected", "flit_latency_sum", "hops")),
            tuple(done), tuple(np.asarray(mesh.link_flits).ravel().tolist()))


@pytest.mark.parametrize("noc", [{}, {"num_vcs": 2, "vc_buf_flits": 3}])
@pytest.mark.parametrize("seed", [0, 1])
def test_appending_in_batches_equals_one_batch(noc, seed):
    params, batches = _params(**noc), _batches(seed)
    whole = Packets.concat(batches)
    outcomes = []
    for model, Mesh in MESHES.items():
        # all packets at once: given first, or appended to an empty mesh
        for first in (whole, None):
            mesh, done = Mesh(params, whole if first is not None else _empty()), []
            if first is None:
                mesh.extend(whole)
            _drain(mesh, END, done)
            outcomes.append((model, "one batch", _outcome(mesh, done)))
        # one batch at a time, each offered in the cycle it is created, the mesh run between
        mesh, done = Mesh(params, _empty()), []
        for b in batches:
            _drain(mesh, int(b.cycle[0]), done)
            mesh.extend(b)
        _drain(mesh, END, done)
        outcomes.append((model, "batches", _outcome(mesh, done)))
        for name in ("src", "dst", "flits", "cycle", "layer", "group"):
            assert np.array_equal(getattr(mesh.packets, name), getattr(whole, name)), name
    reference = outcomes[0][2]
    assert all(r >= 0 for r in reference[0][2])  # every packet arrived
    assert len(reference[1]) == len({int(g) for b in batches for g in b.group if g >= 0})
    for model, how, outcome in outcomes:
        assert outcome == reference, (model, how)


def test_compiled_mesh_refuses_packets_created_before_released_ones():
    mesh = CompiledMesh(_params(), _empty())
    mesh.extend(Packets([0, 1], [5, 6], [2, 1], [10, 12], group=[0, 0]))
    _drain(mesh, 100, [])
    # created after the last release, though before `now`: accepted
    mesh.extend(Packets([2], [7], [1], [12], group=[1]))
    with pytest.raises(ValueError, match="created before released ones"):
        mesh.extend(Packets([2], [7], [1], [11], group=[2]))


def test_a_refused_batch_leaves_the_compiled_mesh_unchanged():
    mesh = CompiledMesh(_params(), _empty())
    mesh.extend(Packets([0, 1], [5, 6], [2, 1], [10, 12], group=[0, 0]))
    _drain(mesh, 100, [])
    with pytest.raises(ValueError):
        mesh.extend(Packets([2], [7], [1], [5], group=[1]))
    assert len(mesh.packets) == 2 and len(mesh.records.tail_ejected) == 2


def test_process_mesh_refuses_packets_created_before_released_ones():
    mesh = ProcessMesh(_params(), _empty())
    mesh.extend(Packets([0, 1], [5, 6], [2, 1], [10, 12], group=[0, 0]))
    _drain(mesh, 100, [])
    with pytest.raises(ValueError, match="created before released ones"):
        mesh.extend(Packets([2], [7], [1], [11], group=[2]))


@pytest.mark.parametrize("model", MESHES)
def test_only_dependency_free_packets_can_be_appended(model):
    Mesh, params = MESHES[model], _params()
    with_deps = Packets([0, 1], [5, 6], [1, 1], [0, 0], dep_ptr=[0, 0, 1], dep_idx=[0])
    mesh = Mesh(params, _empty())
    with pytest.raises(ValueError, match="dependency-free"):
        mesh.extend(with_deps)
    mesh = Mesh(params, with_deps)  # a trace with dependencies takes no more packets
    with pytest.raises(ValueError, match="dependency-free"):
        mesh.extend(Packets([2], [7], [1], [3]))
