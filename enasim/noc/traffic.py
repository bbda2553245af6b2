"""Synthetic traffic like BookSim2: destination patterns and Bernoulli injection.

Each node, each cycle, creates a packet of `packet_flits` flits with probability
rate / packet_flits, so the offered load is `rate` flits/node/cycle; source queues are
unbounded. Traffic is drawn in chunks of CHUNK_CYCLES cycles, chunk c from
`np.random.default_rng([seed, c])`, so any cycle range gives the same packets however a run
asks for it.
"""

from __future__ import annotations

import numpy as np

from enasim.errors import ConfigError
from enasim.noc.packets import Packets

CHUNK_CYCLES = 1024
PATTERNS = ("uniform", "transpose", "bitcomp", "hotspot")
HOTSPOT_FRACTION = 0.2  # share of packets sent to the hotspot nodes (enasim default)


def _check(pattern: str, rows: int, cols: int, rate: float, packet_flits: int) -> None:
    if pattern not in PATTERNS:
        raise ConfigError("", "--traffic", f"expected one of {', '.join(PATTERNS)}, "
                          f"got {pattern!r}")
    if not 0 < rate <= 1:
        raise ConfigError("", "--rate", f"expected 0 < rate <= 1 flits/node/cycle, got {rate}")
    if packet_flits < 1:
        raise ConfigError("", "--packet-flits", f"expected an integer >= 1, got {packet_flits}")
    if pattern == "transpose" and rows != cols:
        raise ConfigError("", "--traffic", f"transpose needs a square mesh, got {rows}x{cols}")
    n = rows * cols
    if pattern == "bitcomp" and n & (n - 1):
        raise ConfigError("", "--traffic", f"bitcomp needs a power-of-two node count, got {n}")


def destinations(pattern: str, rows: int, cols: int, src: np.ndarray, u: np.ndarray,
                 hotspots: tuple[int, ...] = ()) -> np.ndarray:
    """Destination of each packet from its source and a uniform draw u in [0, 1)."""
    n = rows * cols
    if pattern == "uniform":  # over all nodes, the source included (as BookSim)
        return np.minimum((u * n).astype(np.int64), n - 1)
    if pattern == "transpose":
        return (src // cols) + cols * (src % cols)
    if pattern == "bitcomp":
        return (n - 1) ^ src
    hot = np.asarray(hotspots or ((rows // 2) * cols + cols // 2,))
    to_hot = u < HOTSPOT_FRACTION
    v = np.where(to_hot, u / HOTSPOT_FRACTION, (u - HOTSPOT_FRACTION) / (1 - HOTSPOT_FRACTION))
    return np.where(to_hot, hot[np.minimum((v * len(hot)).astype(np.int64), len(hot) - 1)],
                    np.minimum((v * n).astype(np.int64), n - 1))


def _chunk(pattern, rows, cols, rate, packet_flits, seed, c, hotspots) -> Packets:
    n = rows * cols
    rng = np.random.default_rng([seed, c])
    inject = rng.random((CHUNK_CYCLES, n)) < rate / packet_flits
    u = rng.random((CHUNK_CYCLES, n))
    t, s = np.nonzero(inject)
    d = destinations(pattern, rows, cols, s, u[t, s], hotspots)
    return Packets(s, d, np.full(len(t), packet_flits), t + c * CHUNK_CYCLES)


def generate(pattern: str, rows: int, cols: int, rate: float, packet_flits: int,
             start_cycle: int, end_cycle: int, seed: int = 0,
             hotspots: tuple[int, ...] = ()) -> Packets:
    """Packets created in [start_cycle, end_cycle), ordered by (cycle, source)."""
    _check(pattern, rows, cols, rate, packet_flits)
    for h in hotspots:
        if not 0 <= h < rows * cols:
            raise ConfigError("", "hotspots", f"node {h} outside the {rows}x{cols} mesh")
    parts = [_chunk(pattern, rows, cols, rate, packet_flits, seed, c, hotspots)
             for c in range(start_cycle // CHUNK_CYCLES, -(-end_cycle // CHUNK_CYCLES))]
    pk = Packets.concat(parts) if parts else Packets([], [], [], [])
    keep = (pk.cycle >= start_cycle) & (pk.cycle < end_cycle)
    return Packets(pk.src[keep], pk.dst[keep], pk.flits[keep], pk.cycle[keep])


class SyntheticSource:
    """Traffic a simulation driver asks for range by range, as long as it runs."""

    def __init__(self, pattern: str, rows: int, cols: int, rate: float, packet_flits: int,
                 seed: int = 0, hotspots: tuple[int, ...] = ()):
        _check(pattern, rows, cols, rate, packet_flits)
        self.pattern, self.rows, self.cols = pattern, rows, cols
        self.rate, self.packet_flits, self.seed, self.hotspots = rate, packet_flits, seed, hotspots

    def packets(self, start: int, end: int) -> Packets:
        return generate(self.pattern, self.rows, self.cols, self.rate, self.packet_flits,
                        start, end, self.seed, self.hotspots)
