"""Tile-to-tile interconnect: the interface the compute side uses, and the ideal mesh.

The engine only calls `Interconnect.send(src_node, dst_node, flits, layer)`, which returns a
SimPy event that fires when the message's tail reaches the destination; a mesh NoC model can
replace `IdealInterconnect` without touching the compute side.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from math import ceil

import numpy as np
import simpy

from enasim.config.schema import Noc
from enasim.mapping import Mapping, Transfer


def zero_load_cycles(noc: Noc, hops, flits):
    """Latency of an L-flit message over D links on an empty mesh (BookSim2's router).

    (D+1) routers x (routing + VC alloc + switch alloc + traversal) + D links + injection and
    ejection + (L-1) serialisation; 7 + 5D + (L-1) with 1-cycle stages. Works on arrays.
    """
    per_router = noc.routing_delay + noc.va_delay + noc.sa_delay + noc.st_delay
    return (hops + 1) * per_router + hops * noc.link_delay + noc.io_cycles + flits - 1


@dataclass(frozen=True)
class MessageSet:
    """The messages of one transfer: every producer tile sends an equal share to every
    consumer tile (SIAM's traffic model), as arrays over (producer tile, consumer tile) pairs."""

    src: np.ndarray  # mesh node of the sender
    dst: np.ndarray  # mesh node of the receiver
    hops: np.ndarray
    bits: float  # carried by each message when the whole transfer is sent
    flit_bits: int
    share: float = 1.0  # fraction of the transfer these messages carry

    @property
    def flits(self) -> int:
        return max(1, ceil(self.share * self.bits / self.flit_bits))

    def part(self, share: float) -> MessageSet:
        """The same pairs carrying `share` of the transfer."""
        return replace(self, share=share)


def messages(mapping: Mapping, tr: Transfer) -> MessageSet:
    """The messages carrying transfer `tr`."""
    nodes = np.asarray(mapping.tile_nodes)
    src = nodes[list(mapping.layer(tr.src).tile_ids)]
    dst = nodes[list(mapping.layer(tr.dst).tile_ids)]
    s, d = np.repeat(src, len(dst)), np.tile(dst, len(src))
    sy, sx = np.divmod(s, mapping.mesh_cols)
    dy, dx = np.divmod(d, mapping.mesh_cols)
    bits = tr.elements * mapping.hw.precision.output_bits / (len(src) * len(dst))
    return MessageSet(s, d, np.abs(sx - dx) + np.abs(sy - dy), bits, mapping.hw.noc.flit_bits)


class Interconnect(ABC):
    """Moves messages between mesh nodes and counts router and link traversals."""

    def __init__(self, env: simpy.Environment, noc: Noc, mesh_cols: int):
        self.env, self.noc, self.mesh_cols = env, noc, mesh_cols

    @abstractmethod
    def send(self, src: int, dst: int, flits: int) -> simpy.Event:
        """Inject a message now; the event fires when its tail is ejected at `dst`."""

    def send_all(self, ms: MessageSet) -> simpy.Event:
        """Inject every message of a set now; the event fires when all have arrived."""
        return self.env.all_of([self.send(s, d, ms.flits)
                                for s, d in zip(ms.src.tolist(), ms.dst.tolist(), strict=True)])


class IdealInterconnect(Interconnect):
    """Each message takes its zero-load latency; messages never contend (infinite bandwidth)."""

    def send(self, src: int, dst: int, flits: int) -> simpy.Event:
        sy, sx = divmod(src, self.mesh_cols)
        dy, dx = divmod(dst, self.mesh_cols)
        hops = abs(sx - dx) + abs(sy - dy)
        return self.env.timeout(int(zero_load_cycles(self.noc, hops, flits)))

    def send_all(self, ms: MessageSet) -> simpy.Event:
        """Without contention the set takes as long as its slowest message: one event."""
        return self.env.timeout(int(zero_load_cycles(self.noc, ms.hops, ms.flits).max()))
