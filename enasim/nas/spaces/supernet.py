"""One-shot supernets as operator tables (ENASA's workloads, nas-workloads.md section 2).

A supernet is a chain of blocks: fixed blocks before the choice layers (stem), one block per
choice layer chosen from `choices` alternatives, and fixed blocks after them (head). A sub-net
is a choice vector (`arch`, one choice index per layer). Every block is a small DAG of weight
operators (`SupernetOp`: conv, pwconv, dwconv, linear, with shapes, MACs and weights): an op
with no predecessor in its block reads the block input. The tables are what the ENASA engine
preloads on crossbars and schedules; `Supernet.build(arch)` turns a sub-net into a `Network`
(BN folded into the convs, as CIM inference does, or listed as layers for the stand-alone
model's parameter count) for the rest of enasim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

from enasim.errors import ConfigError
from enasim.workload.ir import Network

Arch = tuple[int, ...]
CHANNEL_DIVISOR = 8


def scale_channels(channels: int, width_mult: float) -> int:
    """`channels` x `width_mult` rounded to the nearest multiple of 8, at least 8 and not
    below 90 % of the product (MobileNet's `_make_divisible`, as torchvision's MobileNetV2
    and ShuffleNetV2 scale widths); multiples of 8 are kept at width 1."""
    v = channels * width_mult
    out = max(CHANNEL_DIVISOR, int(v + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR)
    return out + CHANNEL_DIVISOR if out < 0.9 * v else out


@dataclass(frozen=True)
class SupernetOp:
    """One weight operator of the supernet (a row of the reference op tables)."""

    section: str  # e.g. "first_conv", "choice", "classifier"
    layer: int | None  # choice layer, None for fixed parts
    choice: int | None
    name: str  # position inside its block, e.g. "branch_main.3" or "expand_pw"
    kind: str  # "conv" | "pwconv" | "dwconv" | "linear"
    c_in: int
    c_out: int
    groups: int
    k: int
    stride: int
    pad: int
    h_in: int
    w_in: int
    bias: bool = False

    @property
    def h_out(self) -> int:
        return (self.h_in + 2 * self.pad - self.k) // self.stride + 1

    @property
    def w_out(self) -> int:
        return (self.w_in + 2 * self.pad - self.k) // self.stride + 1

    @property
    def macs(self) -> int:
        return self.c_out * (self.c_in // self.groups) * self.k**2 * self.h_out * self.w_out

    @property
    def weights(self) -> int:
        """Conv/FC weights (the reference tables' `weights` column: no bias, no BN)."""
        return self.c_out * (self.c_in // self.groups) * self.k**2

    @property
    def key(self) -> str:
        """Unique name in the supernet."""
        if self.layer is None:
            return f"{self.section}.{self.name}"
        return f"L{self.layer}.c{self.choice}.{self.name}"


@dataclass(frozen=True)
class Block:
    """Weight ops of one block and, per op, the indices of the ops it waits for."""

    name: str
    ops: tuple[SupernetOp, ...]
    after: tuple[tuple[int, ...], ...]  # () = reads the block input

    @property
    def macs(self) -> int:
        return sum(o.macs for o in self.ops)

    @property
    def weights(self) -> int:
        return sum(o.weights for o in self.ops)


@dataclass(frozen=True)
class Supernet:
    """A supernet: fixed blocks, `layers` x `choices` choice blocks, fixed blocks."""

    name: str
    choice_names: tuple[str, ...]
    pre: tuple[Block, ...]
    layers: tuple[tuple[Block, ...], ...]  # [layer][choice]
    post: tuple[Block, ...]
    builder: Callable[[Supernet, Arch, bool], Network]
    bn_channels: Callable[[Supernet, Arch], int]  # BN channels of the stand-alone model

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_choices(self) -> int:
        return len(self.choice_names)

    def check_arch(self, arch: Sequence[int] | str, source: str = "arch") -> Arch:
        """A validated choice vector; a string of digits is read digit by digit."""
        if isinstance(arch, str):
            if not arch.isdigit():
                raise ConfigError(source, "arch", f"expected {self.num_layers} digits "
                                  f"0..{self.num_choices - 1}, got {arch!r}")
            arch = [int(c) for c in arch]
        arch = tuple(arch)
        if len(arch) != self.num_layers or any(
                isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < self.num_choices
                for c in arch):
            raise ConfigError(source, "arch", f"expected {self.num_layers} choices in "
                              f"0..{self.num_choices - 1} ({self.name}), got {list(arch)}")
        return arch

    def blocks(self, arch: Arch) -> tuple[Block, ...]:
        """The blocks of sub-net `arch`, in order."""
        return (*self.pre, *(self.layers[lay][c] for lay, c in enumerate(arch)), *self.post)

    def subnet_ops(self, arch: Arch) -> Iterator[SupernetOp]:
        for b in self.blocks(arch):
            yield from b.ops

    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of conv + FC layers (SPOS's FLOPs convention)."""
        return sum(b.macs for b in self.blocks(arch))

    def weights(self, arch: Arch) -> int:
        """Conv/FC weights, no bias, no BN."""
        return sum(b.weights for b in self.blocks(arch))

    def params(self, arch: Arch) -> int:
        """Parameters of the stand-alone model: weights, biases and BN scale/shift."""
        bias = sum(o.c_out for o in self.subnet_ops(arch) if o.bias)
        return self.weights(arch) + bias + 2 * self.bn_channels(self, arch)

    def build(self, arch: Sequence[int] | str, batchnorm: bool = False) -> Network:
        """The `Network` of sub-net `arch`: BN folded into the convs, or with `batchnorm` a BN
        layer after every conv as in the stand-alone model (then `params` equals
        `self.params(arch)`; MACs are the same)."""
        return self.builder(self, self.check_arch(arch), batchnorm)

    @cached_property
    def all_ops(self) -> tuple[SupernetOp, ...]:
        """Every operator of the supernet (what is preloaded on the chip), in table order."""
        ops = [o for b in self.pre for o in b.ops]
        ops += [o for layer in self.layers for b in layer for o in b.ops]
        return (*ops, *(o for b in self.post for o in b.ops))

    @property
    def total_weights(self) -> int:
        return sum(o.weights for o in self.all_ops)

    def arch_str(self, arch: Arch) -> str:
        return "".join(map(str, arch))
