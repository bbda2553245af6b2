"""Running the mesh on synthetic traffic or a trace and measuring it like BookSim2.

Latency mode (synthetic traffic): warm up, then measure the packets created during the
measurement window and drain them while traffic continues; every `sample_cycles` the average
latency, counting packets still in flight at their current age, is compared with
`latency_threshold`: above it the network is saturated and the run stops (BookSim's abort rule).
"""

from __future__ import annotations

import time

import numpy as np

from enasim.noc.packets import Packets, Records
from enasim.noc.router import PORTS, ProcessMesh, RouterParams
from enasim.noc.settings import MODELS as MODELS  # defined there for the CLI's parser, also here
from enasim.noc.settings import Measurement
from enasim.noc.settings import throughput_mode as throughput_mode


def make_mesh(params: RouterParams, packets: Packets, model: str = "compiled"):
    if model == "process":
        return ProcessMesh(params, packets)
    from enasim.noc.compiled import CompiledMesh

    return CompiledMesh(params, packets)


def _link_utilisation(params: RouterParams, link_flits: np.ndarray, cycles: int) -> list[dict]:
    """Flits per cycle on every router output that has a link (edge ports have none)."""
    from enasim.noc.router import neighbour

    rows = []
    for r in range(params.nodes):
        for o in range(PORTS - 1):
            nb = neighbour(params, r, o)
            if nb >= 0:
                rows.append({"src": r, "dst": nb, "port": o, "flits": int(link_flits[r][o]),
                             "utilisation": int(link_flits[r][o]) / max(cycles, 1)})
    return rows


def summarize(packets: Packets, rec: Records, mask: np.ndarray) -> dict:
    """Latency statistics of the finished packets selected by `mask`."""
    done = mask & (rec.tail_ejected >= 0)
    n = int(done.sum())
    if not n:
        return {"packets_measured": 0, "avg_packet_latency": None, "min_packet_latency": None,
                "max_packet_latency": None, "avg_network_latency": None,
                "avg_flit_latency": None, "avg_hops": None}
    plat = rec.tail_ejected[done] - rec.created[done]
    nlat = rec.tail_ejected[done] - rec.head_injected[done]
    return {"packets_measured": n,
            "avg_packet_latency": float(plat.mean()),
            "min_packet_latency": int(plat.min()),
            "max_packet_latency": int(plat.max()),
            "avg_network_latency": float(nlat.mean()),
            "avg_flit_latency": float(rec.flit_latency_sum[done].sum() /
                                      packets.flits[done].sum()),
            "avg_hops": float(rec.hops[done].mean())}


def _mean_age(rec: Records, mask: np.ndarray, now: int) -> float:
    """Average latency of the selected packets, unfinished ones at their current age."""
    created = rec.created[mask]
    created = created[created >= 0]
    if not len(created):
        return 0.0
    end = rec.tail_ejected[mask][rec.created[mask] >= 0]
    return float(np.where(end >= 0, end, now).sum() - created.sum()) / len(created)


def run_synthetic(params: RouterParams, source, m: Measurement = Measurement(),
                  model: str = "compiled", with_records: bool = False):
    """Latency-mode run of `source` (an `enasim.noc.traffic.SyntheticSource`); with
    `with_records` also returns the packets and their records."""
    t0 = time.perf_counter()
    start, end = m.warmup_cycles, m.warmup_cycles + m.measure_cycles
    horizon = min(m.sample_cycles, end)
    mesh = make_mesh(params, source.packets(0, horizon), model)
    now, saturated = 0, False
    ejected_at = {start: 0}  # flits ejected by the start and by the end of the window
    limit = end + m.max_drain_cycles
    while True:
        nxt = min(now + m.sample_cycles, start if now < start else (end if now < end else limit))
        if nxt > horizon:
            mesh.extend(source.packets(horizon, nxt))
            horizon = nxt
        mesh.run(nxt)
        now = nxt
        if now in (start, end):
            ejected_at[now] = mesh.ejected_flits
        cyc = mesh.packets.cycle
        window = (cyc >= start) & (cyc < end) if now > start else cyc < now
        if _mean_age(mesh.records, window, now) > m.latency_threshold:
            saturated = True
            break
        if now >= end:
            measured = (cyc >= start) & (cyc < end)
            if not m.drain or (mesh.records.tail_ejected[measured] >= 0).all():
                break
            if now >= limit:
                saturated = True
                break
    wall = time.perf_counter() - t0
    cyc = mesh.packets.cycle
    measured = (cyc >= start) & (cyc < min(end, now))
    result = summarize(mesh.packets, mesh.records, measured)
    window_cycles = min(now, end) - min(now, start)
    ejected_in_window = ejected_at.get(end, mesh.ejected_flits) - ejected_at[start]
    result.update(_common(params, mesh, now, wall, saturated))
    result["offered_flit_rate"] = source.rate
    result["accepted_flit_rate"] = ejected_in_window / max(window_cycles, 1) / params.nodes
    return (result, mesh.packets, mesh.records) if with_records else result


def run_trace(params: RouterParams, packets: Packets, model: str = "compiled",
              max_cycles: int | None = None) -> tuple[dict, Records]:
    """Run a trace until every packet has arrived; also returns the per-packet records."""
    t0 = time.perf_counter()
    mesh = make_mesh(params, packets, model)
    step = 4096
    limit = max_cycles or int(packets.cycle.max(initial=0)) + 1_000_000 + 50 * packets.total_flits
    now = 0
    while now < limit:
        now = min(now + step, limit)
        mesh.run(now)
        if (mesh.records.tail_ejected >= 0).all():
            break
    rec = mesh.records
    last = int(rec.tail_ejected.max(initial=0))
    result = summarize(packets, rec, np.ones(len(packets), bool))
    result.update(_common(params, mesh, last + 1, time.perf_counter() - t0,
                          not (rec.tail_ejected >= 0).all()))
    result["last_ejection_cycle"] = last
    result["accepted_flit_rate"] = packets.total_flits / max(last + 1, 1) / params.nodes
    return result, rec


def _common(params: RouterParams, mesh, cycles: int, wall: float, saturated: bool) -> dict:
    flits = mesh.ejected_flits
    return {"mesh": f"{params.rows}x{params.cols}", "sim_cycles": int(cycles),
            "wall_s": round(wall, 4), "flits_ejected": int(flits),
            "flits_per_s": flits / wall if wall > 0 else None, "saturated": bool(saturated),
            "links": _link_utilisation(params, np.asarray(mesh.link_flits), cycles)}
