"""NoC result tables of a run: `noc.csv` (one row per layer-to-layer transfer) and `links.csv`
(one row per mesh link), from the traffic the interconnect carried (`Stats.traffic`).

A packet's latency runs from the cycle it entered its source queue to the cycle its tail
reached the consumer tile; `contention_cycles` is its excess over the zero-load latency, so an
ideal interconnect reports 0 there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from enasim.config.schema import Noc
from enasim.mapping import Transfer
from enasim.noc.interconnect import zero_load_cycles
from enasim.noc.packets import Traffic
from enasim.noc.router import PORTS, RouterParams, neighbour

NOC_COLUMNS = ["transfer", "producer", "consumer", "purpose", "packets", "flits",
               "first_sent_cycle", "last_arrived_cycle", "avg_latency_cycles",
               "max_latency_cycles", "avg_zero_load_cycles", "avg_contention_cycles", "avg_hops",
               "router_flits", "link_flits", "energy_pj"]
LINK_COLUMNS = ["src", "dst", "src_x", "src_y", "dst_x", "dst_y", "flits", "utilization"]


def noc_rows(traffic: Traffic, transfers: Sequence[Transfer], noc: Noc) -> list[list[Any]]:
    """Per transfer (`transfers`, which the traffic's transfer numbers index): its packets,
    when they moved, latency against zero load, energy. Zero load includes the earlier
    packets of the packet's message leaving the same source queue, so an ideal interconnect
    shows no contention. One pass over the packets (sums by transfer), not one per transfer."""
    p, n = traffic.packets, len(transfers)
    hops, latency = traffic.hops.astype(np.int64), traffic.latency_cycles
    zero = zero_load_cycles(noc, hops, traffic.message_flits).astype(np.int64)
    flits = p.flits.astype(np.int64)
    tr = traffic.transfer
    keep = (tr >= 0) & (tr < n)
    tr = tr[keep]

    def total(values: np.ndarray) -> np.ndarray:  # integer sums below 2^53: exact
        return np.bincount(tr, values[keep].astype(np.float64), n)

    count = np.bincount(tr, minlength=n)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, tr, p.cycle[keep])
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, tr, traffic.arrived[keep])
    worst = np.full(n, -1, dtype=np.int64)
    np.maximum.at(worst, tr, latency[keep])
    sums = {k: total(v) for k, v in (("flits", flits), ("latency", latency), ("zero", zero),
                                      ("hops", hops), ("router", flits * (hops + 1)),
                                      ("link", flits * hops))}
    rows = []
    for i, t in enumerate(transfers):
        c = int(count[i])
        if not c:
            continue
        router, link = int(sums["router"][i]), int(sums["link"][i])
        rows.append([i, t.src, t.dst, t.purpose, c, int(sums["flits"][i]), int(first[i]),
                     int(last[i]), sums["latency"][i] / c, int(worst[i]), sums["zero"][i] / c,
                     (sums["latency"][i] - sums["zero"][i]) / c, sums["hops"][i] / c, router,
                     link, router * noc.router_energy_pj_per_flit
                     + link * noc.link_energy_pj_per_flit])
    return rows


def link_rows(traffic: Traffic, cycles: int) -> list[list[Any]]:
    """Per directed mesh link: flits carried and the fraction of the run's cycles it was busy."""
    params = RouterParams(traffic.rows, traffic.cols)
    rows = []
    for r in range(params.nodes):
        for o in range(PORTS - 1):
            nb = neighbour(params, r, o)
            if nb >= 0:
                f = int(traffic.link_flits[r, o])
                rows.append([r, nb, r % params.cols, r // params.cols, nb % params.cols,
                             nb // params.cols, f, f / cycles if cycles else 0.0])
    return rows


def noc_summary(traffic: Traffic, cycles: int) -> dict[str, Any]:
    """Totals for summary.json: packets, flits, mean packet latency, busiest link."""
    p, links = traffic.packets, traffic.link_flits[:, :PORTS - 1]
    return {"packets": len(p), "flits": p.total_flits,
            "avg_packet_latency_cycles": float(traffic.latency_cycles.mean()) if len(p) else 0.0,
            "max_link_utilization": float(links.max()) / cycles if cycles and len(p) else 0.0}
