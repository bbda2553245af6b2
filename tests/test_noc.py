"""Mesh NoC: zero-load closed form, process == compiled packet by packet, BookSim2 agreement,
invariants."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import read_reference_csv, reference_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enasim.cli import main
from enasim.config import load
from enasim.noc.compiled import BUF_CNT, OCC, CompiledMesh
from enasim.noc.interconnect import zero_load_cycles
from enasim.noc.measure import Measurement, run_synthetic, run_trace, throughput_mode
from enasim.noc.packets import Packets
from enasim.noc.router import ProcessMesh, RouterParams
from enasim.noc.traffic import SyntheticSource, generate

MODELS = {"process": ProcessMesh, "compiled": CompiledMesh}


def zero_load(p: RouterParams, hops: int, flits: int) -> int:
    """The ideal interconnect's closed form, with the router's stage delays."""
    noc = dataclasses.replace(load("flash_imc").noc, routing_delay=p.routing_delay,
                              va_delay=p.va_delay, sa_delay=p.sa_delay, st_delay=p.st_delay,
                              link_delay=p.link_delay)
    return int(zero_load_cycles(noc, hops, flits))


def _isolated(rows: int, cols: int, flits: int, gap: int = 200) -> Packets:
    """One packet per (src, dst) pair, far enough apart that none ever meets another."""
    pairs = [(s, d) for s in range(rows * cols) for d in range(rows * cols)]
    n = len(pairs)
    return Packets([s for s, _ in pairs], [d for _, d in pairs], [flits] * n,
                   np.arange(n) * gap + 5)


def _hops(p: RouterParams, pk: Packets) -> np.ndarray:
    return (np.abs(pk.src % p.cols - pk.dst % p.cols)
            + np.abs(pk.src // p.cols - pk.dst // p.cols))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("params, flits", [
    (RouterParams(3, 3), 1),
    (RouterParams(3, 3), 4),
    (RouterParams(2, 3, routing_delay=2, va_delay=3, sa_delay=1, st_delay=2, link_delay=3), 1),
    (RouterParams(2, 3, routing_delay=2, va_delay=3, sa_delay=1, st_delay=1, link_delay=3), 3),
    (RouterParams(2, 2, routing_delay=0), 2),
])
def test_zero_load_latency_is_closed_form(model, params, flits):
    pk = _isolated(params.rows, params.cols, flits)
    mesh = MODELS[model](params, pk)
    mesh.run(int(pk.cycle.max()) + 200)
    rec = mesh.records
    assert (rec.head_injected == pk.cycle).all()
    expected = [zero_load(params, h, flits) for h in _hops(params, pk)]
    np.testing.assert_array_equal(rec.tail_ejected - rec.created, expected)
    np.testing.assert_array_equal(rec.hops, _hops(params, pk))


def test_zero_load_matches_booksim_by_distance():
    for row in read_reference_csv("booksim", "zero_load_by_distance.csv"):
        p = RouterParams(int(row["k"]), int(row["k"]))
        d, flits = int(row["manhattan_hops"]), int(row["packet_size"])
        assert zero_load(p, d, flits) == int(row["plat_min"]) == int(row["plat_mode"])


SLOW_STAGES = {"routing_delay": 2, "va_delay": 2, "sa_delay": 2, "st_delay": 2,
               "link_delay": 2}


@pytest.mark.parametrize("k, rate, flits, stages", [(4, 0.3, 1, {}), (4, 0.6, 4, {}),
                                                    (4, 1.0, 1, {}), (3, 0.9, 3, {}),
                                                    (3, 0.5, 2, SLOW_STAGES)])
def test_process_and_compiled_models_agree_packet_by_packet(k, rate, flits, stages):
    pk = generate("uniform", k, k, rate, flits, 0, 1500, seed=3)
    p = RouterParams(k, k, vc_buf=4, **stages)
    a, b = ProcessMesh(p, pk), CompiledMesh(p, pk)
    for mesh in (a, b):
        mesh.run(1500 + 3000)
    for field in ("created", "head_injected", "tail_ejected", "flit_latency_sum", "hops"):
        np.testing.assert_array_equal(getattr(a.records, field), getattr(b.records, field),
                                      err_msg=field)
    assert (a.records.tail_ejected >= 0).all()  # X-Y routing: no deadlock even past saturation
    np.testing.assert_array_equal(np.asarray(a.link_flits), b.link_flits)


def test_models_agree_at_every_run_boundary():
    """Routers of the process model step two cycles a resume but never past the end of a run:
    records and link counters stopped mid-traffic, at odd and even cycles, match the compiled
    model's."""
    pk = generate("uniform", 4, 4, 0.4, 2, 0, 600, seed=5)
    p = RouterParams(4, 4, vc_buf=4)
    a, b = ProcessMesh(p, pk), CompiledMesh(p, pk)
    for until in (1, 2, 37, 38, 101, 250, 251, 599, 600, 2000):
        for mesh in (a, b):
            mesh.run(until)
        assert a.now == b.now == until
        assert a.ejected_flits == b.ejected_flits
        np.testing.assert_array_equal(np.asarray(a.link_flits), b.link_flits, err_msg=str(until))
        for field in ("created", "head_injected", "tail_ejected", "flit_latency_sum"):
            np.testing.assert_array_equal(getattr(a.records, field), getattr(b.records, field),
                                          err_msg=f"{field} at {until}")
    assert (a.records.tail_ejected >= 0).all()


def test_models_agree_on_a_trace_with_dependencies():
    rng = np.random.default_rng(5)
    n = 300
    src, dst = rng.integers(0, 9, n), rng.integers(0, 9, n)
    deps = [rng.choice(i, size=min(i, rng.integers(0, 3)), replace=False) if i else []
            for i in range(n)]
    ptr = np.cumsum([0] + [len(d) for d in deps])
    idx = np.concatenate([np.asarray(d, dtype=np.int32) for d in deps])
    pk = Packets(src, dst, rng.integers(1, 5, n), np.sort(rng.integers(0, 400, n)),
                 dep_ptr=ptr, dep_idx=idx)
    p = RouterParams(3, 3)
    a, b = ProcessMesh(p, pk), CompiledMesh(p, pk)
    for mesh in (a, b):
        mesh.run(20000)
    np.testing.assert_array_equal(a.records.tail_ejected, b.records.tail_ejected)
    np.testing.assert_array_equal(a.records.created, b.records.created)
    _created_as_booksim(pk, a.records)


def _created_as_booksim(pk: Packets, rec) -> None:
    """Every packet is created at its cycle or in the cycle the last tail it waits for is
    ejected, whichever is later (BookSim2 trace fork), and never injected before that."""
    assert (rec.tail_ejected >= 0).all()
    for i in range(len(pk)):
        deps = pk.deps_of(i)
        last = int(rec.tail_ejected[deps].max()) if len(deps) else -1
        assert rec.created[i] == max(int(pk.cycle[i]), last), i
    assert (rec.head_injected >= rec.created).all()


def _dependent(src, dst, flits, cycle, deps) -> Packets:
    """Packets with the dependency lists `deps` (indices)."""
    ptr = np.cumsum([0] + [len(d) for d in deps])
    idx = np.concatenate([np.asarray(d, dtype=np.int32) for d in deps]) if ptr[-1] else \
        np.zeros(0, np.int32)
    return Packets(src, dst, flits, cycle, dep_ptr=ptr, dep_idx=idx)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("params, flits", [(RouterParams(4, 4), 1), (RouterParams(4, 4), 4),
                                           (RouterParams(3, 4, **SLOW_STAGES), 1)])
def test_dependency_chain_takes_the_sum_of_zero_load_latencies(model, params, flits):
    """Packet k + 1 waits for packet k on an empty mesh: it is created, and injected, in the
    cycle k's tail is ejected (BookSim2 trace fork), then takes its zero-load latency; so the
    chain's last ejection is exact. Hops 0 (a self-packet) included."""
    rng = np.random.default_rng(7)
    n = 25
    src, dst = rng.integers(0, params.nodes, n), rng.integers(0, params.nodes, n)
    src[3] = dst[3]
    pk = _dependent(src, dst, [flits] * n, [5] * n, [[]] + [[k] for k in range(n - 1)])
    mesh = MODELS[model](params, pk)
    mesh.run(20000)
    rec = mesh.records
    np.testing.assert_array_equal(rec.created[1:], rec.tail_ejected[:-1])
    np.testing.assert_array_equal(rec.head_injected, rec.created)
    zero = np.array([zero_load(params, h, flits) for h in _hops(params, pk)])
    np.testing.assert_array_equal(rec.tail_ejected - rec.created, zero)
    assert rec.tail_ejected[-1] == 5 + zero.sum()


@pytest.mark.parametrize("model", MODELS)
def test_dependency_fan_in_and_fan_out(model):
    """A packet waiting for several is created when the last of them arrives (or at its own
    cycle if later); packets waiting for one are all created in its ejection cycle, and inject
    then, one flit per cycle from a shared source."""
    p = RouterParams(4, 4)
    # 0..2: from three corners to node 5 at different distances; 3 waits for all three;
    # 4 waits for 0 and 1 but has a later cycle of its own; 5, 6 (same source) and 7 wait for 3
    pk = _dependent([0, 3, 15, 5, 9, 6, 6, 12], [5, 5, 5, 10, 2, 0, 15, 12], [1] * 8,
                    [10, 10, 10, 0, 200, 0, 0, 0],
                    [[], [], [], [0, 1, 2], [0, 1], [3], [3], [3]])
    mesh = MODELS[model](p, pk)
    mesh.run(1000)
    rec = mesh.records
    zero = np.array([zero_load(p, h, 1) for h in _hops(p, pk)])
    np.testing.assert_array_equal(rec.tail_ejected[:3], 10 + zero[:3])
    assert rec.created[3] == rec.tail_ejected[:3].max() == 10 + zero[:3].max()
    assert rec.created[4] == 200  # its own cycle is later than its dependencies' arrival
    np.testing.assert_array_equal(rec.created[5:], rec.tail_ejected[3])
    assert rec.head_injected[5] == rec.head_injected[7] == rec.tail_ejected[3]
    assert rec.head_injected[6] == rec.tail_ejected[3] + 1  # behind 5 in node 6's queue
    np.testing.assert_array_equal((rec.tail_ejected - rec.head_injected)[[3, 4, 5, 6, 7]],
                                  zero[[3, 4, 5, 6, 7]])
    _created_as_booksim(pk, rec)


def test_models_agree_on_a_dependency_heavy_trace():
    """Differential: on a loaded 4x4 mesh where most packets wait for up to four others (some
    of them later ids), both models give the same records and link counts, also when runs
    stop mid-traffic."""
    rng = np.random.default_rng(11)
    n = 800
    src, dst = rng.integers(0, 16, n), rng.integers(0, 16, n)
    order = rng.permutation(n)  # dependencies follow a random topological order
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    deps = []
    for i in range(n):
        r = rank[i]
        k = min(r, int(rng.integers(0, 5)))
        deps.append(np.sort(order[rng.choice(r, size=k, replace=False)]) if k else [])
    pk = _dependent(src, dst, rng.integers(1, 5, n), np.sort(rng.integers(0, 1500, n)), deps)
    assert np.mean([len(d) > 0 for d in deps]) > 0.7
    p = RouterParams(4, 4, vc_buf=4)
    a, b = ProcessMesh(p, pk), CompiledMesh(p, pk)
    for until in (1, 2, 97, 98, 500, 1333, 4000, 30000):
        for mesh in (a, b):
            mesh.run(until)
        for field in ("created", "head_injected", "tail_ejected", "flit_latency_sum", "hops"):
            np.testing.assert_array_equal(getattr(a.records, field), getattr(b.records, field),
                                          err_msg=f"{field} at {until}")
        np.testing.assert_array_equal(np.asarray(a.link_flits), b.link_flits)
    _created_as_booksim(pk, a.records)
    # contention: some packets wait in their source queue or the network
    zero = np.array([zero_load(p, h, f) for h, f in zip(_hops(p, pk), pk.flits, strict=True)])
    assert (a.records.tail_ejected - a.records.created > zero).any()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 4), cols=st.integers(2, 4), vcs=st.integers(1, 3),
       buf=st.integers(1, 4), flits=st.integers(1, 5), rate=st.floats(0.05, 1.0),
       seed=st.integers(0, 1000))
def test_invariants_credits_buffers_delivery(rows, cols, vcs, buf, flits, rate, seed):
    p = RouterParams(rows, cols, num_vcs=vcs, vc_buf=buf)
    pk = generate("uniform", rows, cols, rate, flits, 0, 120, seed=seed)
    mesh = CompiledMesh(p, pk)
    for t in range(1, 121):
        mesh.run(t)
        occ, cnt = mesh.vcs[..., OCC], mesh.vcs[..., BUF_CNT]
        assert (occ >= 0).all() and (occ <= buf).all()  # credits never negative
        assert (cnt >= 0).all() and (cnt <= buf).all()  # buffers never exceed depth
    mesh.run(120 + 50 * len(pk) * flits + 500)
    rec = mesh.records
    assert (rec.tail_ejected >= 0).all()  # every packet delivered: no deadlock
    assert mesh.ejected_flits == pk.total_flits  # every injected flit ejected once
    assert (rec.tail_ejected - rec.created >= [zero_load(p, h, flits)
                                              for h in _hops(p, pk)]).all()


# BookSim2 curves: a few points here, the full curves in benchmarks/bench_noc.py
SHORT = Measurement(warmup_cycles=5000, measure_cycles=15000)


@pytest.mark.parametrize("run_id", ["lat_k4_uniform_p1_r0.3", "lat_k4_uniform_p4_r0.5",
                                    "lat_k8_uniform_p1_r0.3", "lat_k8_uniform_p4_r0.2"])
def test_latency_agrees_with_booksim(run_id):
    refs = read_reference_csv("booksim", "mesh_uniform_curves.csv")
    ref = {r["run_id"]: r for r in refs}[run_id]
    k, flits = int(ref["cfg_k"]), int(ref["cfg_packet_size"])
    rate = float(ref["cfg_injection_rate"])
    source = SyntheticSource("uniform", k, k, rate, flits, 1)
    res = run_synthetic(RouterParams(k, k), source, SHORT)
    assert not res["saturated"]
    assert res["avg_packet_latency"] == pytest.approx(float(ref["plat_avg"]), rel=0.03)
    assert res["avg_network_latency"] == pytest.approx(float(ref["nlat_avg"]), rel=0.03)
    assert res["accepted_flit_rate"] == pytest.approx(float(ref["acc_flit_rate_avg"]), rel=0.03)
    assert res["avg_hops"] + 1 == pytest.approx(float(ref["hops_avg_routers"]), rel=0.03)


def test_saturation_throughput_and_detection_agree_with_booksim():
    refs = {r["run_id"]: r for r in read_reference_csv("booksim", "mesh_uniform_curves.csv")}
    res = run_synthetic(RouterParams(4, 4), SyntheticSource("uniform", 4, 4, 1.0, 4, 1),
                        throughput_mode(3000, 10000))
    ref = float(refs["thr_k4_uniform_p4_r1.0"]["acc_flit_rate_avg"])
    assert res["accepted_flit_rate"] == pytest.approx(ref, rel=0.05)
    over = run_synthetic(RouterParams(4, 4), SyntheticSource("uniform", 4, 4, 0.85, 1, 1), SHORT)
    assert refs["lat_k4_uniform_p1_r0.85"]["status"].startswith("unstable")
    assert over["saturated"]


def test_trace_a_agrees_with_booksim():
    from enasim.noc.traces import read_trace

    pk = read_trace(reference_file("booksim", "trace_A_light_1flit.json"), rows=4, cols=4)
    res, rec = run_trace(RouterParams(4, 4), pk)
    ref = read_reference_csv("booksim", "trace_A_per_packet.csv")
    assert res["avg_packet_latency"] == pytest.approx(np.mean([int(r["plat"]) for r in ref]),
                                                      rel=0.02)
    last = max(int(r["tail_eject_cycle"]) for r in ref)
    assert res["last_ejection_cycle"] == pytest.approx(last, rel=0.02)



@pytest.mark.parametrize("model", MODELS)
def test_trace_a_matches_booksim_packet_by_packet(model):
    """Without dependencies the terminals' order within a cycle changes nothing: every packet of
    the fork's trace A is created, injected and ejected in the same cycle as in BookSim2."""
    from enasim.noc.traces import read_trace

    pk = read_trace(reference_file("booksim", "trace_A_light_1flit.json"), rows=4, cols=4)
    mesh = MODELS[model](RouterParams(4, 4), pk)
    mesh.run(2000)
    ref = {int(r["packet_id"]): r for r in read_reference_csv("booksim", "trace_A_per_packet.csv")}
    rec = mesh.records
    for name, field in (("gen_cycle", "created"), ("head_inject_cycle", "head_injected"),
                        ("tail_eject_cycle", "tail_ejected")):
        np.testing.assert_array_equal(getattr(rec, field),
                                      [int(ref[int(i)][name]) for i in pk.ids], err_msg=name)

def test_noc_cli_json(capsys):
    assert main(["noc", "--mesh", "4x4", "--traffic", "uniform", "--rate", "0.2",
                 "--packet-flits", "4", "--warmup-cycles", "500", "--measure-cycles", "2000",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("avg_packet_latency", "avg_network_latency", "avg_flit_latency",
                "accepted_flit_rate", "packets_measured", "sim_cycles", "wall_s",
                "flits_per_s", "saturated"):
        assert key in out
    assert out["saturated"] is False and out["packets_measured"] > 1000


def test_noc_cli_trace_writes_packets(tmp_path, capsys):
    out = tmp_path / "packets.csv"
    assert main(["noc", "--mesh", "4x4", "--trace",
                 str(reference_file("booksim", "trace_A_light_1flit.json")),
                 "--format", "booksim-json", "--packets-out", str(out), "--json"]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 321 and lines[0].startswith("id,src,dst")
    assert json.loads(capsys.readouterr().out)["packets_measured"] == 320


@pytest.mark.parametrize("argv, text", [
    (["--rate", "0"], "--rate"),
    (["--rate", "1.5"], "--rate"),
    (["--mesh", "0x0"], "--mesh"),
    (["--mesh", "four"], "--mesh"),
    (["--vcs", "0"], "--vcs"),
    (["--vcs", "13"], "--vcs"),  # beyond the compiled model's masks
])
def test_noc_cli_bad_arguments_exit_2(argv, text, capsys):
    assert main(["noc", *argv, "--json"]) == 2
    assert text in capsys.readouterr().err


def test_noc_cli_process_model_takes_many_vcs(capsys):
    assert main(["noc", "--mesh", "2x2", "--rate", "0.2", "--vcs", "13", "--model", "process",
                 "--warmup-cycles", "100", "--measure-cycles", "300", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["packets_measured"] > 0


@pytest.mark.parametrize("fmt, suffix", [("csv", ".csv"), ("jsonl", ".jsonl"),
                                         ("booksim-json", ".json")])
def test_trace_round_trip_with_dependencies(tmp_path, fmt, suffix):
    from enasim.noc.traces import read_trace, write_trace

    pk = Packets([0, 1, 2], [3, 0, 1], [1, 2, 4], [10, 10, 12], ids=[5, 7, 9],
                 dep_ptr=[0, 0, 1, 3], dep_idx=[0, 0, 1])
    path = tmp_path / f"t{suffix}"
    write_trace(path, pk, fmt)
    back = read_trace(path, rows=2, cols=2)
    for field in ("src", "dst", "flits", "cycle", "ids", "dep_ptr", "dep_idx"):
        np.testing.assert_array_equal(getattr(back, field), getattr(pk, field), err_msg=field)


def test_booksim_trace_written_back_is_identical(tmp_path):
    from enasim.noc.traces import read_trace, write_trace

    ref = reference_file("booksim", "trace_A_light_1flit.json")
    pk = read_trace(ref, rows=4, cols=4)
    assert len(pk) == 320 and int(pk.cycle.min()) == 10
    write_trace(tmp_path / "a.json", pk)
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads(ref.read_text())


@pytest.mark.parametrize("rows, text", [
    ("10,0,17,1,0,\n", "node 17 outside the 4x4 mesh"),
    ("10,0,1,1,0,1\n10,1,2,1,1,0\n", "cyclic dependencies"),
    ("10,0,1,1,3,\n11,1,2,1,2,\n", "non-monotonic ids"),
    ("10,0,1,0,0,\n", "flits"),
    ("10,0,1,1,0,8\n", "unknown packet id 8"),
])
def test_bad_traces_are_rejected(tmp_path, rows, text, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("cycle,src,dst,flits,id,deps\n" + rows)
    assert main(["noc", "--mesh", "4x4", "--trace", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert text in err and str(path) in err


@pytest.mark.parametrize("argv, flag, needs", [
    (["--trace", "t.csv", "--rate", "0.2"], "--rate", "not --trace"),
    (["--trace", "t.csv", "--seed", "0"], "--seed", "not --trace"),
    (["--trace", "t.csv", "--packet-flits", "2"], "--packet-flits", "not --trace"),
    (["--trace", "t.csv", "--warmup-cycles", "5"], "--warmup-cycles", "not --trace"),
    (["--trace", "t.csv", "--throughput"], "--throughput", "not --trace"),
    (["--format", "csv"], "--format", "applies with --trace"),
    (["--throughput", "--sample-cycles", "100"], "--sample-cycles", "not --throughput"),
    (["--throughput", "--latency-threshold", "50"], "--latency-threshold", "not --throughput"),
])
def test_noc_cli_options_the_run_would_ignore_exit_2(argv, flag, needs, capsys):
    assert main(["noc", *argv, "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"enasim: error: field '{flag}': applies") and needs in err
