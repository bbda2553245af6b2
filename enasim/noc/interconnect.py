"""Tile-to-tile interconnect: the interface the compute side uses, and the ideal mesh.

The engine only calls `Interconnect.send_all(messages, transfer)`, which returns a SimPy event
that fires when the tail of the last message has reached its destination; messages travel as
packets of at most `noc.max_packet_flits` flits; the mesh NoC
(`enasim.noc.mesh`) replaces `IdealInterconnect` without touching the compute side. Either keeps
every packet it carried, so a run can report its traffic and export it as a trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from math import ceil

import numpy as np
import simpy

from enasim.config.schema import Noc
from enasim.mapping import Mapping, Transfer
from enasim.noc.packets import Packets, Traffic
from enasim.noc.router import LOCAL, PORTS


def zero_load_cycles(noc: Noc, hops, flits):
    """Latency of an L-flit message over D links on an empty mesh (BookSim2's router).

    (D+1) routers x (routing + VC alloc + switch alloc + traversal) + D links + injection and
    ejection + (L-1) serialisation; 7 + 5D + (L-1) with 1-cycle stages. Works on arrays.
    """
    per_router = noc.routing_delay + noc.va_delay + noc.sa_delay + noc.st_delay
    return (hops + 1) * per_router + hops * noc.link_delay + noc.io_cycles + flits - 1


@dataclass(frozen=True, eq=False)
class Pairs:
    """The (producer tile, consumer tile) pairs of one transfer: every producer tile sends an
    equal share of every output vector to every consumer tile (SIAM's traffic model), so each
    pair carries `flits` flits (the transfer's bits split evenly, rounded up to whole flits)."""

    src: np.ndarray  # mesh node of the sender
    dst: np.ndarray  # mesh node of the receiver
    hops: np.ndarray
    flits: int  # per pair, for the whole transfer
    vectors: int  # output vectors of the producer the transfer carries
    layer: int = -1  # the producing layer's index, recorded with the packets
    cache: dict = field(default_factory=dict, repr=False)  # MessageSet.columns

    @cached_property
    def hop_sums(self) -> tuple[int, int, int]:
        """Routers (hops + 1) and links (hops) the pairs' messages traverse, summed over the
        pairs, and the longest route's links: what a message set's energy and zero-load time
        need, computed once per transfer instead of once per send."""
        return int((self.hops + 1).sum()), int(self.hops.sum()), int(self.hops.max())

    def flits_after(self, vectors: int) -> int:
        """Flits per pair sent once the producer has written `vectors` of its output: a
        network interface sends only full flits and carries the rest of a flit's data to the
        next step, flushing the last (part-filled) flit at the end, so streaming a transfer in
        steps sends exactly the flits of sending it whole."""
        if vectors >= self.vectors:
            return self.flits
        return vectors * self.flits // self.vectors

    def vectors_carried(self, flits: int) -> int:
        """Vectors whose data the first `flits` flits of every pair carry in full."""
        if flits >= self.flits:
            return self.vectors
        return flits * self.vectors // self.flits

    def messages(self, flits: int) -> MessageSet:
        """The messages of `flits` flits per pair."""
        return MessageSet(self, flits)


@dataclass(frozen=True)
class MessageSet:
    """One message of `flits` flits from every producer tile to every consumer tile of a
    transfer, sent together."""

    pairs: Pairs
    flits: int

    def packets(self, max_flits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The packets of the messages, in the order the network interfaces send them: each
        message is cut into packets of `max_flits` flits (the last may be shorter) and a
        sender's interface takes its messages round robin, one packet each in turn (the
        simplest fair policy: every consumer tile's data advances at the same pace). Returns
        per packet its pair (index into the pairs), its flits, and the flits of its message
        sent up to and including it."""
        n, f = len(self.pairs.src), self.flits
        k = -(-f // max_flits)
        pair = np.tile(np.arange(n, dtype=np.int64), k)
        start = np.repeat(np.arange(k, dtype=np.int64) * max_flits, n)
        end = np.minimum(start + max_flits, f)
        return pair, end - start, end

    def columns(self, max_flits: int) -> tuple[np.ndarray, ...]:
        """Per packet (as `packets`): source, destination, flits, flits of the message up to
        and including it, hops; kept with the pairs, since a streaming transfer sends the same
        message sizes again and again."""
        key = (self.flits, max_flits)
        cols = self.pairs.cache.get(key)
        if cols is None:
            pair, flits, end = self.packets(max_flits)
            p = self.pairs
            cols = self.pairs.cache[key] = (p.src[pair], p.dst[pair], flits, end, p.hops[pair])
        return cols


def pairs(mapping: Mapping, tr: Transfer) -> Pairs:
    """The tile pairs carrying transfer `tr`."""
    nodes = mapping.tile_nodes
    src = np.array([nodes[t] for t in mapping.layer(tr.src).tile_ids], dtype=np.int64)
    dst = np.array([nodes[t] for t in mapping.layer(tr.dst).tile_ids], dtype=np.int64)
    s, d = np.repeat(src, len(dst)), np.tile(dst, len(src))
    sy, sx = np.divmod(s, mapping.mesh_cols)
    dy, dx = np.divmod(d, mapping.mesh_cols)
    bits = tr.elements * mapping.hw.precision.output_bits / (len(src) * len(dst))
    producer = mapping.layer(tr.src)
    return Pairs(s, d, np.abs(sx - dx) + np.abs(sy - dy),
                 max(1, ceil(bits / mapping.hw.noc.flit_bits)), producer.vectors,
                 producer.index)


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


def to_packets(sets: list[tuple[int, int, MessageSet]], max_flits: int
               ) -> tuple[Packets, np.ndarray, np.ndarray]:
    """The packets of message sets given as (entry cycle, group, messages), in order: the
    Packets (`group` = the set's group), and per packet its message's flits sent up to and
    including it (`MessageSet.packets`) and its pair's hops."""
    cols = [ms.columns(max_flits) for _, _, ms in sets]
    sizes = [len(c[0]) for c in cols]

    def joined(i: int) -> np.ndarray:
        return np.concatenate([c[i] for c in cols]) if cols else np.zeros(0, np.int64)

    def per_set(values) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=np.int64), sizes)

    packets = Packets(joined(0), joined(1), joined(2), per_set([t for t, _, _ in sets]),
                      layer=per_set([ms.pairs.layer for _, _, ms in sets]),
                      group=per_set([g for _, g, _ in sets]))
    return packets, joined(3), joined(4)


class Interconnect(ABC):
    """Carries message sets between mesh nodes and keeps a log of the packets it carried."""

    def __init__(self, env: simpy.Environment, noc: Noc, rows: int, cols: int):
        self.env, self.noc, self.rows, self.cols = env, noc, rows, cols
        self._log: list[tuple[int, int, MessageSet]] = []  # (send cycle, transfer, messages)

    def send_all(self, ms: MessageSet, transfer: int = -1) -> simpy.Event:
        """Inject every message of a set now, as packets of at most `noc.max_packet_flits`
        flits; the event fires when all have arrived. `transfer` (an index into the mapping's
        transfers) labels the packets in reports."""
        self._log.append((self._entry_cycle(), transfer, ms))
        return self._carry(ms, len(self._log) - 1)

    def _entry_cycle(self) -> int:
        """The cycle a message sent now enters its source queue."""
        return int(self.env.now)

    def close(self) -> None:  # noqa: B027 (a hook: only the mesh runs a process)
        """The run is over: release what only the running needed (the traffic stays)."""

    @abstractmethod
    def _carry(self, ms: MessageSet, group: int) -> simpy.Event:
        """Move the messages of set number `group`; an event for the last arrival."""

    @abstractmethod
    def _arrivals(self, packets: Packets, end: np.ndarray, hops: np.ndarray) -> np.ndarray:
        """Cycle each logged packet's tail arrived."""

    @abstractmethod
    def _link_flits(self, packets: Packets) -> np.ndarray:
        """Flits sent per router output port, [node, port]."""

    def traffic(self) -> Traffic:
        """Every packet carried so far, when it arrived, and the load on every link."""
        packets, end, hops = to_packets([(t, g, ms) for g, (t, _, ms) in enumerate(self._log)],
                                        self.noc.max_packet_flits)
        transfer = np.repeat(np.array([tr for _, tr, _ in self._log], dtype=np.int64),
                             np.bincount(packets.group, minlength=len(self._log)))
        return Traffic(packets, transfer, end, self._arrivals(packets, end, hops),
                       self._link_flits(packets), self.rows, self.cols)


class IdealInterconnect(Interconnect):
    """Each message takes its zero-load latency; messages never contend (infinite bandwidth).
    A message's packets follow one another at one flit per cycle, so a packet arrives at the
    zero-load latency of the message's flits up to and including it."""

    def _carry(self, ms: MessageSet, group: int) -> simpy.Event:
        """Without contention the set takes as long as its slowest message: one event."""
        return self.env.timeout(int(zero_load_cycles(self.noc, ms.pairs.hop_sums[2], ms.flits)))

    def _arrivals(self, packets: Packets, end: np.ndarray, hops: np.ndarray) -> np.ndarray:
        return packets.cycle + zero_load_cycles(self.noc, hops, end).astype(np.int64)

    def _link_flits(self, packets: Packets) -> np.ndarray:
        return xy_link_flits(self.rows, self.cols, packets.src, packets.dst, packets.flits)
