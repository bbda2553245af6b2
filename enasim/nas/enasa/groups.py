"""Groups of sub-nets evaluated together, and what they share (nas-workloads.md 4.2).

Two sub-nets use the same weights at choice layer l iff they pick the same choice there; they
perform the same *computation* at layer l iff their choices agree at every layer <= l (their
inputs are then identical too). A prefix trie of the group's choice vectors therefore gives
the distinct computations: one per distinct prefix arch[:l+1]. The fixed stem is one
computation for the whole group; the head is shared only by identical sub-nets.

Group generators (all take a `random.Random`, so every draw is seeded): uniform random groups,
FairNAS strict-fair groups (one random permutation of the choices per layer) and stage-wise
groups (half the layers fixed to a given architecture, ENASA's generation controller).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from enasim.errors import ConfigError
from enasim.nas.spaces.supernet import Arch, Supernet

Group = tuple[Arch, ...]
HALVES = ("bottom", "top")


def expected_distinct(choices: int, group: int, layer: int) -> float:
    """E[distinct computations at choice layer `layer`] for `group` uniform random sub-nets:
    C^(l+1) (1 - (1 - C^-(l+1))^N)."""
    paths = float(choices) ** (layer + 1)
    return -paths * math.expm1(group * math.log1p(-1.0 / paths))  # exact for huge C^(l+1)


def expected_distinct_total(choices: int, layers: int, group: int) -> float:
    """Sum of `expected_distinct` over all choice layers (SPOS, N = 4: 78.25 of 80)."""
    return sum(expected_distinct(choices, group, lay) for lay in range(layers))


def expected_distinct_weights(choices: int, group: int) -> float:
    """E[distinct weight sets (choices) used at one layer] = C (1 - (1 - 1/C)^N)."""
    return choices * (1.0 - (1.0 - 1.0 / choices) ** group)


@dataclass(frozen=True)
class Sharing:
    """What a group shares, per choice layer."""

    group_size: int
    distinct_computations: tuple[int, ...]  # distinct prefixes arch[:l+1]
    distinct_weights: tuple[int, ...]  # distinct choices at layer l

    @property
    def computations(self) -> int:
        return sum(self.distinct_computations)

    @property
    def shared_blocks(self) -> int:
        """Block computations saved by computing identical ones once."""
        return self.group_size * len(self.distinct_computations) - self.computations

    @property
    def weight_conflicts(self) -> int:
        """Block computations that need weights another computation of the group also uses."""
        return self.computations - sum(self.distinct_weights)


def analyse(group: Sequence[Arch]) -> Sharing:
    """Distinct computations and weight sets per layer (the prefix trie, level by level)."""
    if not group:
        raise ConfigError("group", "size", "expected at least one sub-net")
    layers = len(group[0])
    return Sharing(len(group),
                   tuple(len({a[:lay + 1] for a in group}) for lay in range(layers)),
                   tuple(len({a[lay] for a in group}) for lay in range(layers)))


def random_group(rng: random.Random, net: Supernet, size: int) -> Group:
    """`size` independent uniform random sub-nets."""
    _check_size(size)
    return tuple(tuple(rng.randrange(net.num_choices) for _ in range(net.num_layers))
                 for _ in range(size))


def strict_fair_group(rng: random.Random, net: Supernet, size: int | None = None) -> Group:
    """FairNAS strict fairness: per layer an independent uniform permutation of the choices;
    sub-net k takes the k-th entry. `size` must be a multiple of the choice count (one
    permutation per window of C sub-nets), so every choice operator is used equally often."""
    c = net.num_choices
    size = c if size is None else size
    _check_size(size)
    if size % c:
        raise ConfigError("group", "size", f"a strict-fair group of {net.name} needs a multiple "
                          f"of {c} sub-nets, got {size}")
    archs: list[list[int]] = [[] for _ in range(size)]
    for _ in range(net.num_layers):
        for w in range(0, size, c):
            perm = list(range(c))
            rng.shuffle(perm)
            for k, choice in enumerate(perm):
                archs[w + k].append(choice)
    return tuple(tuple(a) for a in archs)


def fixed_layers(net: Supernet, half: str) -> range:
    """The layers a stage-wise generation fixes: the bottom (input side) or top half; the
    bottom half is the larger one when the layer count is odd (10 of 19 for FairNAS)."""
    if half not in HALVES:
        raise ConfigError("search", "half", f"expected one of {', '.join(HALVES)}, got {half!r}")
    split = (net.num_layers + 1) // 2
    return range(0, split) if half == "bottom" else range(split, net.num_layers)


def fix_half(arch: Arch, best: Arch, layers: range) -> Arch:
    """`arch` with `layers` replaced by `best`'s choices (the generation controller)."""
    return tuple(best[i] if i in layers else c for i, c in enumerate(arch))


def stagewise_group(rng: random.Random, net: Supernet, size: int, best: Arch,
                    half: str) -> Group:
    """`size` random sub-nets whose `half` of the layers equals `best`'s."""
    layers = fixed_layers(net, half)
    return tuple(fix_half(a, best, layers) for a in random_group(rng, net, size))


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError("group", "size", f"expected an integer >= 1, got {size!r}")
