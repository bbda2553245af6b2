"""NoC result tables of a run: `noc.csv` (one row per layer-to-layer transfer) and `links.csv`
(one row per mesh link), from the traffic the interconnect carried (`Stats.traffic`).

A packet's latency runs from the cycle it entered its source queue to the cycle its tail
reached the consumer tile; `contention_cycles` is its excess over the zero-load latency, so an
ideal interconnect reports 0 there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from enasim.mapping import Mapping
from enasim.noc.interconnect import zero_load_cycles
from enasim.noc.packets import Traffic
from enasim.noc.router import PORTS, RouterParams, neighbour

NOC_COLUMNS = ["transfer", "producer", "consumer", "purpose", "packets", "flits",
               "first_sent_cycle", "last_arrived_cycle", "avg_latency_cycles",
               "max_latency_cycles", "avg_zero_load_cycles", "avg_contention_cycles", "avg_hops",
               "router_flits", "link_flits", "energy_pj"]
LINK_COLUMNS = ["src", "dst", "src_x", "src_y", "dst_x", "dst_y", "flits", "utilization"]


def noc_rows(traffic: Traffic, mapping: Mapping) -> list[list[Any]]:
    """Per transfer: its packets, when they moved, latency against zero load, energy."""
    noc, p = mapping.hw.noc, traffic.packets
    hops, latency = traffic.hops, traffic.latency_cycles
    zero = zero_load_cycles(noc, hops, p.flits)
    rows = []
    for i, tr in enumerate(mapping.transfers):
        sel = traffic.transfer == i
        if not sel.any():
            continue
        flits, h = p.flits[sel].astype(np.int64), hops[sel]
        router, link = int((flits * (h + 1)).sum()), int((flits * h).sum())
        rows.append([i, tr.src, tr.dst, tr.purpose, int(sel.sum()), int(flits.sum()),
                     int(p.cycle[sel].min()), int(traffic.arrived[sel].max()),
                     float(latency[sel].mean()), int(latency[sel].max()),
                     float(zero[sel].mean()), float((latency[sel] - zero[sel]).mean()),
                     float(h.mean()), router, link,
                     router * noc.router_energy_pj_per_flit
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
