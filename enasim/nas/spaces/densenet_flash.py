"""FLASH's DenseNet-type search space (NN-Mass lineage): generator and topology metrics.

The layer semantics follow the official NN-Mass code (`regular_dense_cnn`, see
`../shared/notes/nas-workloads.md` §3.3): cell c has width w_c = 16 * w_m * 2^c and d_c
3x3 convolutions (pad 1, no bias). Layer 0 of cell c > 0 reads the previous cell's output
at stride 2. Layer j >= 2 reads concat(out_{j-1}, t_j skip channels), where the skip channels
are a fixed subset of the first (j-1)*w_c channels of concat(out_{j-1}, ..., out_1) and
t_j = min(t_c, (j-1)*w_c); its BatchNorm and ReLU act on that concatenation before the conv
(pre-activation). Head: AvgPool(2) and a fully connected layer with bias.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from enasim.errors import ConfigError
from enasim.workload.ir import (
    Activation,
    BatchNorm,
    Concat,
    Conv2d,
    Linear,
    Network,
    NetworkBuilder,
    Pool,
    Select,
)

BASE_WIDTH = 16  # w_c = BASE_WIDTH * w_m * 2^c (NN-Mass model_zoo.py)
# FLASH's ranges (nas-workloads.md §3.4): w_m in 1..3, d_c in 5..30, t_c in [0, (d_c - 2) * w_c].
SAMPLE_WM = (1, 3)
SAMPLE_DEPTH = (5, 30)


@dataclass(frozen=True)
class DenseNetSpec:
    """One point of the space: width multiplier, per-cell depth d_c and skip budget t_c."""

    wm: int = 1
    depths: tuple[int, ...] = (8, 8, 8)
    tcs: tuple[int, ...] = (10, 20, 40)
    num_classes: int = 10
    image_size: int = 32

    def __post_init__(self):
        src = "densenet_flash"
        if not isinstance(self.wm, int) or self.wm < 1:
            raise ConfigError(src, "wm", f"expected an integer >= 1, got {self.wm!r}")
        if len(self.depths) != len(self.tcs) or not self.depths:
            raise ConfigError(src, "depths", f"expected one depth per cell ({len(self.tcs)} "
                              f"cells from tcs), got {list(self.depths)}")
        for c, d in enumerate(self.depths):
            if not isinstance(d, int) or d < 2:
                raise ConfigError(src, f"depths[{c}]", f"expected an integer >= 2, got {d!r}")
        for c, t in enumerate(self.tcs):
            if not isinstance(t, int) or t < 0:
                raise ConfigError(src, f"tcs[{c}]", f"expected an integer >= 0, got {t!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ConfigError(src, "num_classes", f"expected an integer >= 1, "
                              f"got {self.num_classes!r}")
        # Each later cell halves the map; the head pools by 2 once more.
        need = 2 ** len(self.tcs)
        if not isinstance(self.image_size, int) or self.image_size < need \
                or self.image_size % need:
            raise ConfigError(src, "image_size", f"expected a positive multiple of {need} "
                              f"({len(self.tcs)} cells), got {self.image_size!r}")

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(BASE_WIDTH * self.wm * 2**c for c in range(len(self.tcs)))

    def skip_channels(self, cell: int) -> tuple[int, ...]:
        """t_j for every layer j of `cell` (0 for layers 0 and 1)."""
        w, t = self.widths[cell], self.tcs[cell]
        return tuple(0 if j < 2 else min(t, (j - 1) * w) for j in range(self.depths[cell]))

    def density(self, cell: int) -> float:
        """NN-Mass density: skip channels used / skip channels available in the cell."""
        w, d = self.widths[cell], self.depths[cell]
        available = sum((j - 1) * w for j in range(2, d))
        return sum(self.skip_channels(cell)) / available if available else 0.0

    def nn_mass(self) -> float:
        """NN-Mass = sum_c density_c * w_c * d_c (NN-Mass, CVPR 2021)."""
        return sum(self.density(c) * w * d
                   for c, (w, d) in enumerate(zip(self.widths, self.depths, strict=True)))

    def nn_degree(self) -> float:
        """NN-Degree g = sum_c (w_c + SC_c / (w_c * d_c)), with SC_c the skip *edges*.

        Each skip channel feeds all w_c output channels, so SC_c = w_c * sum_j t_j and
        g_c = w_c + sum_j t_j / d_c (the edge reading of nas-workloads.md §3.4).
        """
        return sum(w + sum(self.skip_channels(c)) / d
                   for c, (w, d) in enumerate(zip(self.widths, self.depths, strict=True)))

    def label(self) -> str:
        depths = "-".join(map(str, self.depths)) if len(set(self.depths)) > 1 \
            else str(self.depths[0])
        return f"densenet_flash_d{depths}_wm{self.wm}_tc{'-'.join(map(str, self.tcs))}"


@dataclass(frozen=True)
class FlashSpace:
    """FLASH's search space: ranges, constraints, size, seeded sampling and enumeration.

    Parameters: w_m in `wm`, d_c in `depth` per cell, t_c per cell on a grid of `t_step`
    (multiples of it) with FLASH's constraints t_1 >= `t_min` and t_(c+1) >= `t_ratio` x t_c,
    and t_c <= (d_c - 2) w_c: beyond that every layer of the cell already concatenates all
    earlier channels, so larger t_c give the same network. The upper bound is enasim's
    reading (the paper's ranges are not public, nas-workloads.md section 7).

    `shared_depth`: one depth for every cell, as the FLASH paper defines its space (and the
    NN-Mass code builds it); with the default ranges it holds 31,966,698,504 architectures,
    what the paper's own formula gives (it prints 6.39e10). enasim's default lets each cell
    have its own depth (1.26e13): the per-cell features the hardware models read then vary
    independently, and a search can trade depth between cells.
    """

    wm: tuple[int, int] = SAMPLE_WM
    depth: tuple[int, int] = SAMPLE_DEPTH
    cells: int = 3
    t_min: int = 5
    t_ratio: int = 2
    t_step: int = 1
    shared_depth: bool = False

    def __post_init__(self):
        src = "FlashSpace"
        for name in ("wm", "depth"):
            lo, hi = getattr(self, name)
            if not (isinstance(lo, int) and isinstance(hi, int)) or lo < 1 or hi < lo:
                raise ConfigError(src, name, f"expected a range lo <= hi of integers >= 1, "
                                  f"got {getattr(self, name)!r}")
        if self.depth[0] < 3:
            raise ConfigError(src, "depth", f"expected depths >= 3 (skip layers start at 2), "
                              f"got {self.depth!r}")
        for name in ("cells", "t_step", "t_ratio"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(src, name, f"expected an integer >= 1, "
                                  f"got {getattr(self, name)!r}")
        if not isinstance(self.t_min, int) or self.t_min < 0:
            raise ConfigError(src, "t_min", f"expected an integer >= 0, got {self.t_min!r}")
        if not isinstance(self.shared_depth, bool):
            raise ConfigError(src, "shared_depth", f"expected true or false, got "
                              f"{self.shared_depth!r}")

    @property
    def depth_vars(self) -> int:
        """Free depths of an architecture: one per cell, or one shared by all."""
        return 1 if self.shared_depth else self.cells

    def widths(self, wm: np.ndarray) -> np.ndarray:
        return BASE_WIDTH * np.asarray(wm)[..., None] * 2 ** np.arange(self.cells)

    def t_bounds(self, wm, depths) -> np.ndarray:
        """Largest t_c per cell: (d_c - 2) w_c, down to the grid."""
        hi = (np.asarray(depths) - 2) * self.widths(wm)
        return hi // self.t_step * self.t_step

    def feasible(self, wm, depths, tcs) -> np.ndarray:
        """Which architectures (arrays of N) lie in the space."""
        wm = np.atleast_1d(np.asarray(wm, np.int64))
        depths = np.atleast_2d(np.asarray(depths, np.int64))
        tcs = np.atleast_2d(np.asarray(tcs, np.int64))
        out = np.empty(len(wm), np.bool_)
        in_space(wm, depths, tcs, self.limits, out)
        return out

    @property
    def limits(self) -> np.ndarray:
        """The ranges and constraints as `in_space` takes them."""
        return np.array([*self.wm, *self.depth, self.t_step, self.t_min, self.t_ratio,
                         int(self.shared_depth)])

    def _lowest_t(self) -> int:
        return -(-self.t_min // self.t_step) * self.t_step

    def count(self) -> int:
        """Number of architectures, exactly: per (w_m, d), the t-vectors on the grid."""
        if self.shared_depth:  # each depth alone: per-cell depths of one value
            return sum(replace(self, depth=(d, d), shared_depth=False).count()
                       for d in range(self.depth[0], self.depth[1] + 1))
        total = 0
        depths = np.arange(self.depth[0], self.depth[1] + 1)
        for wm in range(self.wm[0], self.wm[1] + 1):
            hi = (depths[:, None] - 2) * self.widths(wm)[None, :] // self.t_step  # (D, C)
            # ways[c][d, k]: t-vectors of cells c.. given cell c's t = k steps and depth d;
            # summed over the depths of the later cells
            ways = None
            for c in range(self.cells - 1, -1, -1):
                kmax = int(hi[:, c].max())
                k = np.arange(kmax + 1)
                if ways is None:
                    tail = np.ones(kmax + 1, dtype=object)
                else:
                    # later cell starts at t_ratio * t: suffix sums of its ways
                    suffix = np.concatenate([np.cumsum(ways[::-1])[::-1],
                                             np.zeros(1, dtype=object)])
                    start = np.minimum(self.t_ratio * k, len(ways))
                    tail = suffix[start]
                per_depth = [tail[: h + 1] for h in hi[:, c]]
                if c == 0:
                    lo = self._lowest_t() // self.t_step
                    total += sum(int(p[lo:].sum()) for p in per_depth)
                else:
                    ways = np.zeros(kmax + 1, dtype=object)
                    for p in per_depth:
                        ways[: len(p)] += p
        return total

    def enumerate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every architecture (wm (N,), depths and tcs (N, cells)); for reduced spaces."""
        if self.count() > 5_000_000:
            raise ConfigError("FlashSpace", "enumerate", f"{self.count():,} architectures are "
                              f"too many to enumerate; reduce the ranges or raise t_step")
        wms, ds, ts = [], [], []
        axis, k = np.arange(self.depth[0], self.depth[1] + 1), self.depth_vars
        grid = np.stack(np.meshgrid(*[axis] * k, indexing="ij"), -1).reshape(-1, k)
        grid = np.repeat(grid, self.cells // k, axis=1)  # a shared depth in every cell
        for wm in range(self.wm[0], self.wm[1] + 1):
            for d in grid:
                hi = self.t_bounds(wm, d)
                tv = [np.arange(0, h + 1, self.t_step) for h in hi]
                t = np.stack(np.meshgrid(*tv, indexing="ij"), -1).reshape(-1, self.cells)
                t = t[self.feasible(np.full(len(t), wm), np.repeat(d[None], len(t), 0), t)]
                wms.append(np.full(len(t), wm))
                ds.append(np.repeat(d[None], len(t), 0))
                ts.append(t)
        return np.concatenate(wms), np.concatenate(ds), np.concatenate(ts)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
        """n architectures: w_m and d_c uniform, then t_1, t_2, ... in turn, each uniform over
        the grid values that leave the later cells feasible (no rejection)."""
        wm = rng.integers(self.wm[0], self.wm[1] + 1, n)
        depths = rng.integers(self.depth[0], self.depth[1] + 1, (n, self.depth_vars))
        depths = np.repeat(depths, self.cells // self.depth_vars, axis=1)
        hi = self.t_bounds(wm, depths) // self.t_step                    # in steps
        r = self.t_ratio
        # the largest t_c that leaves room for t_(c+1) >= r t_c, ... up to the last cell
        cap = hi.copy()
        for c in range(self.cells - 2, -1, -1):
            cap[:, c] = np.minimum(cap[:, c], cap[:, c + 1] // r)
        lo = np.full(n, self._lowest_t() // self.t_step)
        tcs = np.zeros((n, self.cells), dtype=np.int64)
        for c in range(self.cells):
            if (lo > cap[:, c]).any():
                raise ConfigError("FlashSpace", "t_min", "some (w_m, d) admit no t-vector; "
                                  "lower t_min or t_ratio, or raise the depths")
            tcs[:, c] = rng.integers(lo, cap[:, c] + 1)
            lo = r * tcs[:, c]
        return wm, depths, tcs * self.t_step

    def spec(self, wm, depths, tcs) -> DenseNetSpec:
        return DenseNetSpec(int(wm), tuple(int(d) for d in depths), tuple(int(t) for t in tcs))


@njit(cache=True)
def in_space(wm, depths, tcs, limits, out) -> None:
    """out[i] = architecture i lies in the space of `limits` (`FlashSpace.limits`): w_m and
    d_c in range (all equal with a shared depth), t_c on the grid, t_1 >= t_min,
    t_(c+1) >= t_ratio t_c, t_c <= (d_c - 2) w_c down to the grid. Compiled, so that one
    architecture costs a microsecond (searches)."""
    wm_lo, wm_hi, d_lo, d_hi, step, t_min, ratio, shared = limits
    for i in range(len(wm)):
        ok = wm_lo <= wm[i] <= wm_hi and tcs[i, 0] >= t_min
        for c in range(depths.shape[1]):
            d, t = depths[i, c], tcs[i, c]
            hi = (d - 2) * BASE_WIDTH * wm[i] * 2**c // step * step
            ok = ok and d_lo <= d <= d_hi and t % step == 0 and t <= hi
            ok = ok and (shared == 0 or d == depths[i, 0])
            if c > 0:
                ok = ok and t >= ratio * tcs[i, c - 1]
        out[i] = ok


def sample(rng: random.Random, cells: int = 3) -> DenseNetSpec:
    """A point of FLASH's space (`FlashSpace()`, w_m, then d_c and t_c per cell), for sweeps."""
    space = FlashSpace(cells=cells)
    wm, depths, tcs = space.sample(np.random.default_rng(rng.getrandbits(63)), 1)
    return space.spec(wm[0], depths[0], tcs[0])


def build_densenet_flash(wm: int = 1, depths: int | tuple[int, ...] = 8,
                         tcs: tuple[int, ...] = (10, 20, 40), num_classes: int = 10,
                         image_size: int = 32, name: str | None = None) -> Network:
    """The network of one point of the space; `depths`: one for all cells, or one per cell."""
    tcs = tuple(tcs)
    if isinstance(depths, int):
        depths = (depths,) * len(tcs)
    spec = DenseNetSpec(wm, tuple(depths), tcs, num_classes, image_size)
    return build_from_spec(spec, name)


def build_from_spec(spec: DenseNetSpec, name: str | None = None) -> Network:
    b = NetworkBuilder(name or spec.label(), (3, spec.image_size, spec.image_size),
                       source="densenet_flash")
    prev = "input"
    for c, w in enumerate(spec.widths):
        outs: list[str] = []  # outputs of the cell's layers, in order
        for j, t in enumerate(spec.skip_channels(c)):
            p = f"c{c}.l{j}"
            if j < 2:
                conv = b.add(f"{p}.conv", Conv2d(w, (3, 3), 2 if j == 0 and c > 0 else 1, 1),
                             prev)
                b.add(f"{p}.bn", BatchNorm(), conv)
                prev = b.add(f"{p}.relu", Activation("relu"))
            else:
                if t:
                    earlier = outs[:0:-1]  # out_{j-1}, ..., out_1
                    pool = earlier[0] if len(earlier) == 1 else \
                        b.add(f"{p}.pool", Concat(), earlier)
                    skip = b.add(f"{p}.skip", Select(t), pool)
                    x = b.add(f"{p}.cat", Concat(), [outs[-1], skip])
                else:
                    x = outs[-1]
                b.add(f"{p}.bn", BatchNorm(), x)
                b.add(f"{p}.relu", Activation("relu"))
                prev = b.add(f"{p}.conv", Conv2d(w, (3, 3), 1, 1))
            outs.append(prev)
    b.add("head.pool", Pool("avg", 2), prev)
    b.add("head.fc", Linear(spec.num_classes, bias=True))
    return b.build()
