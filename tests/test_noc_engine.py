"""The mesh NoC inside the engine: co-simulation identity, traffic invariants, replay, outputs."""

import csv
import json

import numpy as np
import pytest
from conftest import hw_with

from enasim.cli import main
from enasim.config import DEFAULT_HW, load
from enasim.errors import ConfigError
from enasim.mapping import map_network
from enasim.nas.spaces.densenet_flash import build_densenet_flash
from enasim.noc.interconnect import xy_link_flits, zero_load_cycles
from enasim.noc.measure import run_trace
from enasim.noc.router import LOCAL, RouterParams
from enasim.noc.traces import read_trace
from enasim.report.noc import noc_rows
from enasim.sim import Simulator
from enasim.workload import load_workload

TIMING = ("start_cycle", "end_cycle", "adc_cycles", "buffer_cycles", "digital_cycles",
          "noc_cycles")


def _small_dense():
    """A DenseNet-type network whose concatenations make many-to-many skip traffic."""
    return build_densenet_flash(wm=1, depths=3, tcs=(5, 10, 20))


@pytest.fixture(scope="module", params=["layer_by_layer", "pipelined"])
def runs(request):
    hw = hw_with(execution={"mode": request.param})
    m = map_network(_small_dense(), hw)
    return m, {model: Simulator(m, noc_model=model).run()
               for model in ("compiled", "process", "ideal")}


def test_compiled_and_process_mesh_give_identical_runs(runs):
    _, stats = runs
    c, p = stats["compiled"], stats["process"]
    assert c.latency_cycles == p.latency_cycles
    for lc, lp in zip(c.layers, p.layers, strict=True):
        assert [getattr(lc, k) for k in TIMING] == [getattr(lp, k) for k in TIMING], lc.name
        assert lc.energy_pj == lp.energy_pj
    tc, tp = c.traffic, p.traffic
    for name in ("src", "dst", "flits", "cycle", "group"):
        assert np.array_equal(getattr(tc.packets, name), getattr(tp.packets, name)), name
    assert np.array_equal(tc.arrived, tp.arrived)
    assert np.array_equal(tc.link_flits, tp.link_flits)


def test_mesh_traffic_invariants(runs):
    m, stats = runs
    t, noc = stats["compiled"].traffic, m.hw.noc
    p = t.packets
    assert len(p) and (t.arrived >= 0).all()  # every packet arrived
    # never faster than on an empty network
    assert (t.latency_cycles >= zero_load_cycles(noc, t.hops, p.flits)).all()
    # flits follow their X-Y routes: per-link counts match, and all are ejected once
    assert np.array_equal(t.link_flits, xy_link_flits(m.mesh_rows, m.mesh_cols, p.src, p.dst,
                                                      p.flits))
    assert t.link_flits[:, LOCAL].sum() == p.total_flits
    # the mesh only ever delays: the run is at least as long as with the ideal interconnect
    assert stats["compiled"].latency_cycles >= stats["ideal"].latency_cycles
    # the same data moves either way
    ideal = stats["ideal"].traffic.packets
    assert ideal.total_flits == p.total_flits and len(ideal) == len(p)


def test_noc_energy_per_layer_adds_up_to_the_transfers(runs):
    m, stats = runs
    s = stats["compiled"]
    by_consumer: dict[str, float] = {}
    for row in noc_rows(s.traffic, m.transfers, m.hw.noc):
        by_consumer[row[2]] = by_consumer.get(row[2], 0.0) + row[-1]
    for ls in s.layers:
        assert ls.energy_pj["noc"] == pytest.approx(by_consumer.get(ls.name, 0.0))


def test_noc_table_contention_is_zero_on_the_ideal_interconnect_only(runs):
    """Zero load counts the earlier packets of a packet's message leaving the same source
    queue (a 1-flit-packet message serialises), so the ideal interconnect shows none, and
    the mesh its excess over that; per transfer, the mean of latency - zero load."""
    m, stats = runs
    for model, s in stats.items():
        t = s.traffic
        assert (t.message_flits > t.packets.flits).any()  # messages of several packets
        rows = noc_rows(t, m.transfers, m.hw.noc)
        contention = [r[11] for r in rows]
        if model == "ideal":
            assert contention == [0.0] * len(rows)
        else:
            assert min(contention) >= 0 and max(contention) > 0
        for r in rows:
            assert r[11] == pytest.approx(r[8] - r[10])


def test_replaying_the_exported_traffic_reproduces_every_packet(runs):
    m, stats = runs
    t = stats["compiled"].traffic
    params = RouterParams.from_noc(m.hw.noc, m.mesh_rows, m.mesh_cols)
    _, rec = run_trace(params, t.packets)
    assert np.array_equal(rec.tail_ejected, t.arrived)


CHAIN = """
name: chain
input: [16, 8, 8]
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: conv2, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: pool, op: pool, mode: max, kernel: 2}
  - {name: conv3, op: conv2d, out_channels: 32, kernel: 3, padding: 1}
  - {name: fc, op: linear, out_features: 10}
"""


def test_uncontended_transfers_take_the_zero_load_latency(tmp_path):
    """A chain of one-tile layers with deep buffers and packets as long as the messages: each
    transfer is one packet on an otherwise empty mesh, so the mesh and the ideal interconnect
    agree cycle for cycle."""
    (tmp_path / "chain.yaml").write_text(CHAIN)
    hw = hw_with(noc={"num_vcs": 4, "vc_buf_flits": 8, "max_packet_flits": 4096})
    m = map_network(load_workload(str(tmp_path / "chain.yaml")), hw)
    assert all(lm.tiles == 1 for lm in m.layers)
    mesh, ideal = (Simulator(m, noc_model=k).run() for k in ("compiled", "ideal"))
    groups = mesh.traffic.packets.group
    assert len(np.unique(groups)) == len(groups)  # one packet per message set
    assert np.array_equal(mesh.traffic.arrived, ideal.traffic.arrived)
    assert mesh.latency_cycles == ideal.latency_cycles


def test_mesh_model_needs_booksim_io_channels():
    with pytest.raises(ConfigError, match="noc.io_cycles"):
        hw_with(noc={"io_cycles": 2})
    assert hw_with(noc={"io_cycles": 2, "model": "ideal"}).noc.io_cycles == 2


def test_compiled_mesh_vc_limit_is_a_config_error():
    with pytest.raises(ConfigError, match="noc.num_vcs.*at most 12"):
        hw_with(noc={"num_vcs": 13})
    assert hw_with(noc={"num_vcs": 13, "model": "process"}).noc.num_vcs == 13


def test_run_writes_noc_tables_and_heat_map(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--workload", "densenet_flash", "--plots", "-o", str(out),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["noc_model"] == "compiled"
    with (out / "noc.csv").open() as fh:
        transfers = list(csv.DictReader(fh))
    with (out / "links.csv").open() as fh:
        links = list(csv.DictReader(fh))
    assert sum(int(r["packets"]) for r in transfers) == summary["noc"]["packets"]
    assert sum(int(r["flits"]) for r in transfers) == summary["noc"]["flits"]
    assert sum(int(r["link_flits"]) for r in transfers) == sum(int(r["flits"]) for r in links)
    assert all(float(r["avg_contention_cycles"]) >= 0 for r in transfers)
    busiest = max(float(r["utilization"]) for r in links)
    assert busiest == pytest.approx(summary["noc"]["max_link_utilization"])
    assert (out / "plots" / "link_utilisation.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_trace_export_round_trips_and_replays(tmp_path, suffix, capsys):
    path = tmp_path / f"trace{suffix}"
    assert main(["trace", "export", "--workload", "densenet_flash", "-o", str(path)]) == 0
    assert "replay: enasim noc --mesh 5x5" in capsys.readouterr().out
    m = map_network(build_densenet_flash(), load(DEFAULT_HW))
    traffic = Simulator(m).run().traffic
    packets = read_trace(path, rows=m.mesh_rows, cols=m.mesh_cols)
    for name in ("src", "dst", "flits", "cycle"):
        assert np.array_equal(getattr(packets, name), getattr(traffic.packets, name)), name
