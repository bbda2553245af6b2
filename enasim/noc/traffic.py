"""Synthetic traffic like BookSim2: destination patterns and Bernoulli injection.

Nodes are numbered x + cols * y. Each node, each cycle, creates a packet of `packet_flits`
flits with probability rate / packet_flits, so the offered load is `rate` flits/node/cycle
(BookSim2's `injection_rate_uses_flits`); source queues are unbounded. Patterns:

- `uniform`: destination uniform over all nodes, the source included (as BookSim2);
- `transpose`: (x, y) -> (y, x), square meshes only; diagonal nodes send to themselves;
- `bitcomp`: the bit-complement of the node id, power-of-two node counts only;
- `hotspot`: a share `hotspot_fraction` (default 0.2) of the packets goes to one of the
  `hotspots` (default: the centre node x = cols // 2, y = rows // 2), chosen uniformly; the
  rest is uniform over all nodes. (BookSim2's own `hotspot` sends everything to the hotspots;
  the mix keeps the rest of the mesh loaded.)

Traffic is drawn in chunks of CHUNK_CYCLES cycles, chunk c from
`np.random.default_rng([seed, c])` (one uniform matrix [cycles x nodes] for injection, one
for destinations), so a cycle range gives the same packets however a run splits it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from enasim.errors import ConfigError
from enasim.noc.packets import Packets
from enasim.noc.settings import PATTERNS

CHUNK_CYCLES = 1024
HOTSPOT_FRACTION = 0.2


def centre_node(rows: int, cols: int) -> int:
    """The default hotspot: x = cols // 2, y = rows // 2."""
    return cols // 2 + cols * (rows // 2)


def check_traffic(pattern: str, rows: int, cols: int, rate: float, packet_flits: int,
                  seed: int = 0, hotspots: Sequence[int] | None = None,
                  hotspot_fraction: float = HOTSPOT_FRACTION) -> tuple[int, ...]:
    """Raise ConfigError (naming the CLI option) for bad settings; return the hotspot nodes."""
    if pattern not in PATTERNS:
        raise ConfigError("", "--traffic", f"expected one of {', '.join(PATTERNS)}, "
                          f"got {pattern!r}")
    for name, value in (("rows", rows), ("cols", cols)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError("", "--mesh", f"expected {name} >= 1, got {value!r}")
    if not isinstance(packet_flits, int | np.integer) or packet_flits < 1:
        raise ConfigError("", "--packet-flits", f"expected an integer >= 1, got {packet_flits!r}")
    if not isinstance(rate, int | float | np.number) or not 0 < rate <= 1:
        raise ConfigError("", "--rate", f"expected 0 < rate <= 1 flits/node/cycle, got {rate!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError("", "--seed", f"expected an integer >= 0, got {seed!r}")
    n = rows * cols
    if pattern == "transpose" and rows != cols:
        raise ConfigError("", "--traffic", f"transpose needs a square mesh, got {rows}x{cols}")
    if pattern == "bitcomp" and n & (n - 1):
        raise ConfigError("", "--traffic", f"bitcomp needs a power-of-two node count, got "
                          f"{rows}x{cols} = {n} nodes")
    if pattern != "hotspot":
        if hotspots is not None:
            raise ConfigError("", "hotspots", f"only used with the hotspot pattern, not {pattern}")
        return ()
    if not isinstance(hotspot_fraction, int | float) or not 0 <= hotspot_fraction <= 1:
        raise ConfigError("", "hotspot_fraction", f"expected a number in [0, 1], got "
                          f"{hotspot_fraction!r}")
    hot = (centre_node(rows, cols),) if hotspots is None else tuple(hotspots)
    if not hot:
        raise ConfigError("", "hotspots", "expected at least one node")
    for h in hot:
        if not isinstance(h, int | np.integer) or not 0 <= h < n:
            raise ConfigError("", "hotspots", f"node {h!r} outside the {rows}x{cols} mesh "
                              f"(nodes 0..{n - 1})")
    return tuple(int(h) for h in hot)


def destinations(pattern: str, rows: int, cols: int, src: np.ndarray, u: np.ndarray,
                 hotspots: Sequence[int] = (),
                 hotspot_fraction: float = HOTSPOT_FRACTION) -> np.ndarray:
    """Destination of each packet from its source and a uniform draw u in [0, 1)."""
    n = rows * cols
    src = np.asarray(src, dtype=np.int64)
    if pattern == "transpose":
        return src // cols + cols * (src % cols)
    if pattern == "bitcomp":
        return (n - 1) ^ src
    if pattern == "uniform":
        return _pick(u, n)
    hot = np.asarray(hotspots, dtype=np.int64)
    f = hotspot_fraction
    if f >= 1:
        return hot[_pick(u, len(hot))]
    if f <= 0:
        return _pick(u, n)
    # u < f picks a hotspot, the rest of [0, 1) a node: rescaling u keeps one draw per packet
    return np.where(u < f, hot[_pick(u / f, len(hot))], _pick((u - f) / (1 - f), n))


def _pick(u: np.ndarray, k: int) -> np.ndarray:
    """Map u in [0, 1) uniformly to 0..k-1."""
    return np.minimum((u * k).astype(np.int64), k - 1)


def generate(pattern: str, rows: int, cols: int, rate: float, packet_flits: int,
             start_cycle: int, end_cycle: int, seed: int = 0, *,
             hotspots: Sequence[int] | None = None,
             hotspot_fraction: float = HOTSPOT_FRACTION) -> Packets:
    """Packets created in [start_cycle, end_cycle), ordered by (cycle, source)."""
    hot = check_traffic(pattern, rows, cols, rate, packet_flits, seed, hotspots,
                        hotspot_fraction)
    return _generate(pattern, rows, cols, rate, packet_flits, start_cycle, end_cycle, seed,
                     hot, hotspot_fraction)


def _generate(pattern, rows, cols, rate, packet_flits, start, end, seed, hot,
              fraction) -> Packets:
    if start < 0:
        raise ConfigError("", "start_cycle", f"expected a cycle >= 0, got {start}")
    n = rows * cols
    p = rate / packet_flits
    cycles, srcs, dsts = [], [], []
    for c in range(start // CHUNK_CYCLES, -(-end // CHUNK_CYCLES)):
        base = c * CHUNK_CYCLES
        lo, hi = max(start - base, 0), min(end - base, CHUNK_CYCLES)
        rng = np.random.default_rng([seed, c])
        inject = rng.random((CHUNK_CYCLES, n))[lo:hi] < p
        u = rng.random((CHUNK_CYCLES, n))[lo:hi]
        t, s = np.nonzero(inject)  # row-major: ordered by (cycle, source)
        cycles.append(t + (base + lo))
        srcs.append(s)
        dsts.append(destinations(pattern, rows, cols, s, u[t, s], hot, fraction))
    if not cycles:
        return Packets(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    src = np.concatenate(srcs)
    return Packets(src, np.concatenate(dsts), np.full(len(src), packet_flits),
                   np.concatenate(cycles))


class SyntheticSource:
    """Traffic a simulation driver asks for range by range, for as long as it runs."""

    def __init__(self, pattern: str, rows: int, cols: int, rate: float, packet_flits: int,
                 seed: int = 0, *, hotspots: Sequence[int] | None = None,
                 hotspot_fraction: float = HOTSPOT_FRACTION):
        self.hotspots = check_traffic(pattern, rows, cols, rate, packet_flits, seed, hotspots,
                                      hotspot_fraction)
        self.pattern, self.rows, self.cols = pattern, rows, cols
        self.rate, self.packet_flits, self.seed = rate, packet_flits, seed
        self.hotspot_fraction = hotspot_fraction

    def packets(self, start: int, end: int) -> Packets:
        """Packets created in [start, end): the same as `generate` for that range."""
        return _generate(self.pattern, self.rows, self.cols, self.rate, self.packet_flits,
                         start, end, self.seed, self.hotspots, self.hotspot_fraction)
