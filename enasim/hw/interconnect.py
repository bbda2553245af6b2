"""Tile-to-tile interconnect: the interface the compute side uses, and the ideal mesh.

The engine only calls `Interconnect.send_all(messages, transfer)`, which returns a SimPy event
that fires when the tail of the last message has reached its destination; the mesh NoC
(`enasim.hw.mesh`) replaces `IdealInterconnect` without touching the compute side. Either keeps
every packet it carried, so a run can report its traffic and export it as a trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from math import ceil

import numpy as np
import simpy

from enasim.config.schema import Noc
from enasim.hw.router import LOCAL, PORTS
from enasim.mapping import Mapping, Transfer
from enasim.noc.packets import Packets, Traffic


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
    layer: int = -1  # the producing layer's index, recorded with the packets
    share: float = 1.0  # fraction of the transfer these messages carry

    @property
    def flits(self) -> int:
        return max(1, ceil(self.share * self.bits / self.flit_bits))

    def part(self, share: float) -> MessageSet:
        """The same pairs carrying `share` of the transfer."""
        return replace(self, share=share)


def messages(mapping: Mapping, tr: Transfer) -> MessageSet:
    """The messages carrying transfer `tr`."""
    nodes = mapping.tile_nodes
    src = np.array([nodes[t] for t in mapping.layer(tr.src).tile_ids], dtype=np.int64)
    dst = np.array([nodes[t] for t in mapping.layer(tr.dst).tile_ids], dtype=np.int64)
    s, d = np.repeat(src, len(dst)), np.tile(dst, len(src))
    sy, sx = np.divmod(s, mapping.mesh_cols)
    dy, dx = np.divmod(d, mapping.mesh_cols)
    bits = tr.elements * mapping.hw.precision.output_bits / (len(src) * len(dst))
    return MessageSet(s, d, np.abs(sx - dx) + np.abs(sy - dy), bits, mapping.hw.noc.flit_bits,
                      mapping.layer(tr.src).index)


def xy_link_flits(rows: int, cols: int, src: np.ndarray, dst: np.ndarray,
                  flits: np.ndarray) -> np.ndarray:
    """Flits each router sends on each output port ([node, port]; port 4: ejection) when the
    packets follow their X-Y routes.

    A route is a run of +x or -x ports along the source row, then a run of +y or -y ports
    along the destination column, then the ejection port; each run is added as +flits at its
    first router and -flits past its last one, and running sums along the rows and columns
    give the per-router counts (one pass over the packets, not one per hop)."""
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    flits = np.asarray(flits, np.int64)
    sx, sy, dx, dy = src % cols, src // cols, dst % cols, dst // cols

    def runs(size: int, first: np.ndarray, past: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Difference array of length `size`: +flits at `first`, -flits at `past` (masked)."""
        f = flits[mask]
        diff = np.bincount(first[mask], f, size) - np.bincount(past[mask], f, size)
        return diff.astype(np.int64)  # integer-valued float sums below 2^53: exact

    out = np.zeros((rows * cols, PORTS), dtype=np.int64)
    along_x = (rows, cols + 1)  # row-major difference grids, one spare cell past each run
    row_x = sy * (cols + 1)
    out[:, 0] = runs(rows * (cols + 1), row_x + sx, row_x + dx, dx > sx).reshape(
        along_x).cumsum(1)[:, :cols].ravel()
    out[:, 1] = runs(rows * (cols + 1), row_x + dx + 1, row_x + sx + 1, dx < sx).reshape(
        along_x).cumsum(1)[:, :cols].ravel()
    out[:, 2] = runs((rows + 1) * cols, sy * cols + dx, dy * cols + dx, dy > sy).reshape(
        rows + 1, cols).cumsum(0)[:rows].ravel()
    out[:, 3] = runs((rows + 1) * cols, (dy + 1) * cols + dx, (sy + 1) * cols + dx,
                     dy < sy).reshape(rows + 1, cols).cumsum(0)[:rows].ravel()
    out[:, LOCAL] = np.bincount(dst, flits, rows * cols).astype(np.int64)
    return out


class Interconnect(ABC):
    """Carries message sets between mesh nodes and keeps a log of the packets it carried."""

    def __init__(self, env: simpy.Environment, noc: Noc, rows: int, cols: int):
        self.env, self.noc, self.rows, self.cols = env, noc, rows, cols
        self._log: list[tuple[int, int, MessageSet]] = []  # (send cycle, transfer, messages)

    def send_all(self, ms: MessageSet, transfer: int = -1) -> simpy.Event:
        """Inject every message of a set now; the event fires when all have arrived.
        `transfer` (an index into the mapping's transfers) labels the packets in reports."""
        self._log.append((self._entry_cycle(), transfer, ms))
        return self._carry(ms, len(self._log) - 1)

    def _entry_cycle(self) -> int:
        """The cycle a message sent now enters its source queue."""
        return int(self.env.now)

    @abstractmethod
    def _carry(self, ms: MessageSet, group: int) -> simpy.Event:
        """Move the messages of set number `group`; an event for the last arrival."""

    @abstractmethod
    def _arrivals(self, packets: Packets) -> np.ndarray:
        """Cycle each logged packet's tail arrived."""

    @abstractmethod
    def _link_flits(self, packets: Packets) -> np.ndarray:
        """Flits sent per router output port, [node, port]."""

    def traffic(self) -> Traffic:
        """Every packet carried so far, when it arrived, and the load on every link."""
        sizes = [len(ms.src) for _, _, ms in self._log]

        def per_packet(values) -> np.ndarray:
            return np.repeat(np.asarray(values, dtype=np.int64), sizes)

        nodes = [np.zeros(0, np.int64)]
        packets = Packets(np.concatenate(nodes + [ms.src for _, _, ms in self._log]),
                          np.concatenate(nodes + [ms.dst for _, _, ms in self._log]),
                          per_packet([ms.flits for _, _, ms in self._log]),
                          per_packet([t for t, _, _ in self._log]),
                          layer=per_packet([ms.layer for _, _, ms in self._log]),
                          group=per_packet(range(len(self._log))))
        return Traffic(packets, per_packet([tr for _, tr, _ in self._log]),
                       self._arrivals(packets), self._link_flits(packets), self.rows, self.cols)


class IdealInterconnect(Interconnect):
    """Each message takes its zero-load latency; messages never contend (infinite bandwidth)."""

    def _carry(self, ms: MessageSet, group: int) -> simpy.Event:
        """Without contention the set takes as long as its slowest message: one event."""
        return self.env.timeout(int(zero_load_cycles(self.noc, ms.hops, ms.flits).max()))

    def _arrivals(self, packets: Packets) -> np.ndarray:
        hops = (np.abs(packets.src % self.cols - packets.dst % self.cols)
                + np.abs(packets.src // self.cols - packets.dst // self.cols))
        return packets.cycle + zero_load_cycles(self.noc, hops, packets.flits).astype(np.int64)

    def _link_flits(self, packets: Packets) -> np.ndarray:
        return xy_link_flits(self.rows, self.cols, packets.src, packets.dst, packets.flits)
