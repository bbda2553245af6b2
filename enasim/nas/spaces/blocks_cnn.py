"""Block-CNN search space of multi-objective Bayesian NAS for CIM (`enasim monas`).

A CIFAR-10 CNN (input 3x32x32) is a sequence of up to D blocks (default 8), each one of
  VGG   3x3 conv + BN + ReLU, 3x3 conv + BN + ReLU, 2x2 max-pool
  MVGG  the same without the pooling
  RES   3x3 conv + BN + ReLU, 3x3 conv + BN; 1x1 projection conv of the block input; add; ReLU
with output channels from a set (default {32, 64, 128}), followed by a global average pool and
a Linear(10, bias=True) classifier. At most `max_pools` VGG blocks (default 4: 32 -> 2).

A configuration is a tuple of D slots, each a `Block(type, channels)` or None for "no block".
Slot 0 is never empty; empty slots may be interleaved with blocks (each slot is one independent
choice, which is how the Bayesian optimiser encodes it). The network is the non-empty blocks in
slot order, so configurations differing only in where the empty slots sit build one network;
its `label` (e.g. `V64-R128-M32`) names it.

Size, in closed form (`size`, `networks`). With n_p = |C| pooling and n_q = 2|C| non-pooling
block choices per slot and k pooling blocks:
  configurations = sum_{k<=P} [n_q C(D-1,k) n_p^k (1+n_q)^(D-1-k)
                               + n_p C(D-1,k-1) n_p^(k-1) (1+n_q)^(D-k)]
  networks       = sum_{L=1..D} sum_{k<=min(P,L)} C(L,k) n_p^k n_q^(L-k)
Defaults (D=8, |C|=3, P=4): 84,491,190 configurations, 44,415,630 distinct networks. The
published space has "over 640 million" configurations; neither reading reproduces that with three
channel options (with four, the configuration count is 702,659,772).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from math import comb
from typing import NamedTuple

from enasim.errors import ConfigError
from enasim.workload.ir import (
    Activation,
    Add,
    BatchNorm,
    Conv2d,
    Linear,
    Network,
    NetworkBuilder,
    Pool,
)

TYPES = ("VGG", "MVGG", "RES")
LETTER = {"VGG": "V", "MVGG": "M", "RES": "R"}
TYPE_OF = {v: k for k, v in LETTER.items()}
INPUT_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
MAX_POOLS_32 = 5  # 32 -> 1 after five 2x2 poolings
# Block slots: 64 blocks is deeper than ResNet-110's 54 on CIFAR; each slot is a dimension of
# the sampler's search space, and a million of them would never finish a trial.
MAX_BLOCKS = 64


class Block(NamedTuple):
    type: str  # VGG | MVGG | RES
    channels: int


Config = tuple[Block | None, ...]


@dataclass(frozen=True)
class BlocksCnnSpace:
    """Up to `max_blocks` blocks with channels from `channels`, at most `max_pools` VGG blocks."""

    max_blocks: int = 8
    channels: tuple[int, ...] = (32, 64, 128)
    max_pools: int = 4

    def __post_init__(self):
        src = "blocks_cnn"
        if isinstance(self.max_blocks, bool) or not isinstance(self.max_blocks, int) \
                or not 1 <= self.max_blocks <= MAX_BLOCKS:
            raise ConfigError(src, "max_blocks", f"expected an integer 1..{MAX_BLOCKS}, "
                              f"got {self.max_blocks!r}")
        if not self.channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1
                                    for c in self.channels):
            raise ConfigError(src, "channels", f"expected one or more positive integers, "
                              f"got {list(self.channels)}")
        if len(set(self.channels)) != len(self.channels):
            raise ConfigError(src, "channels", f"expected distinct values, "
                              f"got {list(self.channels)}")
        if isinstance(self.max_pools, bool) or not isinstance(self.max_pools, int) \
                or not 0 <= self.max_pools <= MAX_POOLS_32:
            raise ConfigError(src, "max_pools", f"expected an integer in 0..{MAX_POOLS_32} "
                              f"(32x32 input), got {self.max_pools!r}")

    @property
    def choices(self) -> tuple[Block, ...]:
        """Every block a slot can hold."""
        return tuple(Block(t, c) for t in TYPES for c in self.channels)

    def size(self) -> int:
        """Number of configurations (slot tuples; empty slots interleaved), in closed form."""
        d, p = self.max_blocks, self.max_pools
        n_p, n_q = len(self.channels), 2 * len(self.channels)
        total = 0
        for k in range(min(p, d) + 1):  # k pooling blocks; slot 0 non-pooling or pooling
            if k < d:
                total += n_q * comb(d - 1, k) * n_p**k * (1 + n_q) ** (d - 1 - k)
            if k:
                total += n_p * comb(d - 1, k - 1) * n_p ** (k - 1) * (1 + n_q) ** (d - k)
        return total

    def networks(self) -> int:
        """Number of distinct networks (1..D blocks, empties trailing), in closed form."""
        n_p, n_q = len(self.channels), 2 * len(self.channels)
        return sum(comb(n, k) * n_p**k * n_q ** (n - k)
                   for n in range(1, self.max_blocks + 1)
                   for k in range(min(self.max_pools, n) + 1))

    def enumerate(self):
        """Every configuration (brute force: only for small spaces, to check `size`)."""
        slot = (None, *self.choices)
        for rest in itertools.product(slot, repeat=self.max_blocks - 1):
            for first in self.choices:
                config = (first, *rest)
                if pools(config) <= self.max_pools:
                    yield config

    def check(self, config: Config) -> Config:
        """`config` as a tuple of Blocks, or ConfigError naming what is wrong."""
        src = "blocks_cnn"
        config = tuple(config)
        if len(config) != self.max_blocks:
            raise ConfigError(src, "config", f"expected {self.max_blocks} slots, "
                              f"got {len(config)}")
        out = []
        for i, b in enumerate(config):
            if b is not None:
                b = Block(*b)
                if b.type not in TYPES or b.channels not in self.channels:
                    raise ConfigError(src, f"slot {i}", f"expected a type in {list(TYPES)} "
                                      f"and channels in {list(self.channels)}, got {tuple(b)}")
            out.append(b)
        if out[0] is None:
            raise ConfigError(src, "slot 0", "must hold a block")
        if pools(out) > self.max_pools:
            raise ConfigError(src, "config", f"{pools(out)} pooling (VGG) blocks, at most "
                              f"{self.max_pools}")
        return tuple(out)

    def sample(self, rng: random.Random) -> Config:
        """A configuration drawn uniformly (rejection of those with too many poolings)."""
        slot = (None, *self.choices)
        while True:
            config = (rng.choice(self.choices),
                      *(rng.choice(slot) for _ in range(self.max_blocks - 1)))
            if pools(config) <= self.max_pools:
                return config

    def cap_pools(self, config: Config) -> Config:
        """VGG blocks beyond the first `max_pools` turned into MVGG (same channels).

        Makes any slot-wise choice of the optimiser a valid configuration.
        """
        out, seen = [], 0
        for b in config:
            if b is not None and b.type == "VGG":
                seen += 1
                if seen > self.max_pools:
                    b = Block("MVGG", b.channels)
            out.append(b)
        return tuple(out)

    def decode(self, text: str) -> Config:
        """The configuration of a label (blocks first, then empty slots)."""
        blocks = []
        for part in text.split("-"):
            t, ch = TYPE_OF.get(part[:1]), part[1:]
            if t is None or not ch.isdigit():
                raise ConfigError("blocks_cnn", "label", f"expected blocks like V64-R128-M32 "
                                  f"(V=VGG, M=MVGG, R=RES), got {text!r}")
            blocks.append(Block(t, int(ch)))
        return self.check(blocks + [None] * (self.max_blocks - len(blocks)))


def blocks(config: Config) -> tuple[Block, ...]:
    """The non-empty slots, in order: the blocks of the network."""
    return tuple(b for b in config if b is not None)


def pools(config: Config) -> int:
    return sum(1 for b in config if b is not None and b.type == "VGG")


def label(config: Config) -> str:
    """Compact name of the network, e.g. `V64-R128-M32` (V=VGG, M=MVGG, R=RES)."""
    return "-".join(f"{LETTER[b.type]}{b.channels}" for b in blocks(config))


def build(config: Config, name: str | None = None, image_size: int = INPUT_SHAPE[1]) -> Network:
    """The enasim Network of a configuration (CIFAR-10 input, GAP + Linear(10) head); at
    another `image_size` (training on smaller images), each VGG pooling must leave >= 1 pixel."""
    if image_size < 2 ** pools(config):
        raise ConfigError("blocks_cnn", "image_size", f"{label(config)} pools {pools(config)} "
                          f"times; expected an input of at least {2 ** pools(config)} pixels, "
                          f"got {image_size}")
    b = NetworkBuilder(name or label(config), (INPUT_SHAPE[0], image_size, image_size),
                       source="blocks_cnn")
    x = "input"
    for i, blk in enumerate(blocks(config)):
        p, ch = f"b{i}.{blk.type.lower()}", blk.channels
        b.add(f"{p}.conv1", Conv2d(ch, (3, 3), 1, 1), x)
        b.add(f"{p}.bn1", BatchNorm())
        b.add(f"{p}.relu1", Activation("relu"))
        b.add(f"{p}.conv2", Conv2d(ch, (3, 3), 1, 1))
        y = b.add(f"{p}.bn2", BatchNorm())
        if blk.type == "RES":
            short = b.add(f"{p}.proj", Conv2d(ch, (1, 1), 1, 0), x)
            b.add(f"{p}.add", Add(), [y, short])
        x = b.add(f"{p}.relu2", Activation("relu"))
        if blk.type == "VGG":
            x = b.add(f"{p}.pool", Pool("max", 2))
    b.add("head.pool", Pool("avg", 1, global_pool=True), x)
    b.add("head.fc", Linear(NUM_CLASSES, bias=True))
    return b.build()
