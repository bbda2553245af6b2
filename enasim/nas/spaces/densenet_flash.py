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
from dataclasses import dataclass

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


def sample(rng: random.Random, cells: int = 3) -> DenseNetSpec:
    """A uniformly drawn point of FLASH's space (w_m, then d_c and t_c per cell), for sweeps."""
    wm = rng.randint(*SAMPLE_WM)
    depths = tuple(rng.randint(*SAMPLE_DEPTH) for _ in range(cells))
    tcs = tuple(rng.randint(0, (d - 2) * BASE_WIDTH * wm * 2**c) for c, d in enumerate(depths))
    return DenseNetSpec(wm, depths, tcs)


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
