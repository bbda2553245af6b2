"""Packets offered to the NoC and what happened to them, as flat numpy arrays.

Packet i has `flits[i]` flits from node `src[i]` to node `dst[i]`; it is created at cycle
`cycle[i]`, or in the cycle the last tail of the packets it depends on (`deps_of(i)`) is
ejected, whichever is later, and its head may be injected in that same cycle: each cycle the
terminals retire the flits ejected before they create and inject packets, as in the BookSim2
trace fork. Nodes are numbered x + cols * y (BookSim2's numbering).
Packets may belong to a completion *group* (the engine's message sets): a run can stop right
after the cycle in which the last packet of a group arrives, so the engine sees it in time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Packets:
    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    flits: np.ndarray  # int32, >= 1
    cycle: np.ndarray  # int64, earliest creation cycle
    ids: np.ndarray = None  # int64, user-visible ids (trace ids), strictly increasing
    dep_ptr: np.ndarray = None  # int64 [n + 1]: CSR rows of dependencies
    dep_idx: np.ndarray = None  # int32: indices (not ids) of packets that must arrive first
    layer: np.ndarray = field(default=None)  # int32, producing layer (-1: none), for reports
    group: np.ndarray = field(default=None)  # int32, completion group (-1: none)

    def __post_init__(self):
        n = len(self.src)
        self.src = np.ascontiguousarray(self.src, dtype=np.int32)
        self.dst = np.ascontiguousarray(self.dst, dtype=np.int32)
        self.flits = np.ascontiguousarray(self.flits, dtype=np.int32)
        self.cycle = np.ascontiguousarray(self.cycle, dtype=np.int64)
        self.ids = np.arange(n, dtype=np.int64) if self.ids is None else \
            np.ascontiguousarray(self.ids, dtype=np.int64)
        if self.dep_ptr is None:
            self.dep_ptr = np.zeros(n + 1, dtype=np.int64)
            self.dep_idx = np.zeros(0, dtype=np.int32)
        self.dep_ptr = np.ascontiguousarray(self.dep_ptr, dtype=np.int64)
        self.dep_idx = np.ascontiguousarray(self.dep_idx, dtype=np.int32)
        self.layer = np.full(n, -1, dtype=np.int32) if self.layer is None else \
            np.ascontiguousarray(self.layer, dtype=np.int32)
        self.group = np.full(n, -1, dtype=np.int32) if self.group is None else \
            np.ascontiguousarray(self.group, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.src)

    def deps_of(self, i: int) -> np.ndarray:
        return self.dep_idx[self.dep_ptr[i]:self.dep_ptr[i + 1]]

    @property
    def total_flits(self) -> int:
        return int(self.flits.sum())

    @staticmethod
    def concat(parts: list[Packets]) -> Packets:
        """Packets of several dependency-free batches, in order (ids renumbered)."""
        if any(len(p.dep_idx) for p in parts):
            raise ValueError("concat supports dependency-free packets only")
        return Packets(np.concatenate([p.src for p in parts]),
                       np.concatenate([p.dst for p in parts]),
                       np.concatenate([p.flits for p in parts]),
                       np.concatenate([p.cycle for p in parts]),
                       layer=np.concatenate([p.layer for p in parts]),
                       group=np.concatenate([p.group for p in parts]))


@dataclass
class Records:
    """Per-packet outcome; -1 where it has not happened yet."""

    created: np.ndarray  # int64: cycle the packet entered its source queue
    head_injected: np.ndarray  # int64: cycle the head flit left the source queue
    tail_ejected: np.ndarray  # int64: cycle the tail flit reached the destination
    flit_latency_sum: np.ndarray  # int64: sum over flits of (ejection - injection)
    hops: np.ndarray  # int32: links traversed

    @staticmethod
    def empty(n: int) -> Records:
        return Records(np.full(n, -1, np.int64), np.full(n, -1, np.int64),
                       np.full(n, -1, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int32))


def group_counts(group: np.ndarray, left: np.ndarray | None) -> np.ndarray:
    """Packets still to arrive per group: `left` (or none) plus the packets of `group` (new
    packets; -1: no group); grown in place when `left` has room, else to twice the size."""
    new = group[group >= 0]
    size = int(new.max()) + 1 if len(new) else 0
    if left is None or size > len(left):
        grown = np.zeros(max(size, 2 * len(left) if left is not None else 0), dtype=np.int64)
        if left is not None:
            grown[:len(left)] = left
        left = grown
    if len(new):  # over the groups of the batch only: appending stays O(batch)
        lo = int(new.min())
        counts = np.bincount(new - lo)
        left[lo:lo + len(counts)] += counts
    return left


class PacketLog:
    """The packets offered to a mesh: the first batch (which may have dependencies) and the
    dependency-free batches appended since. Appending is O(batch); `packets` joins them on
    demand (cached), so an engine that offers a few packets at a time stays linear."""

    def __init__(self, first: Packets):
        self._batches, self._joined = [first], first
        self.count = len(first)

    def append(self, more: Packets) -> None:
        if len(more.dep_idx) or len(self._batches[0].dep_idx):
            raise ValueError("only dependency-free packets can be appended, to "
                             "dependency-free packets")
        self._batches.append(more)
        self._joined = None
        self.count += len(more)

    @property
    def packets(self) -> Packets:
        """All packets offered so far (appended ones renumbered as by `Packets.concat`)."""
        if self._joined is None:
            self._joined = Packets.concat(self._batches)
            self._batches = [self._joined]
        return self._joined


@dataclass
class Traffic:
    """What an interconnect carried in a run: the packets (`cycle` = when sent, `group` = the
    message set), the transfer each belongs to, the flits of its message sent up to and
    including it (a packet's zero-load latency includes the earlier packets of its message
    leaving the same source queue), when each tail arrived, and the flits each router sent on
    each output port ([node, port], port 4 = ejection)."""

    packets: Packets
    transfer: np.ndarray  # int64 index into the run's transfers (-1: none)
    message_flits: np.ndarray  # int64
    arrived: np.ndarray  # int64 cycle
    link_flits: np.ndarray  # int64 [rows * cols, 5]
    rows: int
    cols: int

    @property
    def latency_cycles(self) -> np.ndarray:
        return self.arrived - self.packets.cycle

    @property
    def hops(self) -> np.ndarray:
        p, c = self.packets, self.cols
        return np.abs(p.src % c - p.dst % c) + np.abs(p.src // c - p.dst // c)
