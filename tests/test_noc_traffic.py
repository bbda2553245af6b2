"""Synthetic NoC traffic: pattern maps, Bernoulli load, determinism and chunk invariance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from enasim.errors import ConfigError
from enasim.noc.packets import Packets
from enasim.noc.traffic import (
    CHUNK_CYCLES,
    HOTSPOT_FRACTION,
    SyntheticSource,
    centre_node,
    destinations,
    generate,
)

FIELDS = ("src", "dst", "flits", "cycle")


def same(a: Packets, b: Packets) -> None:
    assert len(a) == len(b)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def node(x: int, y: int, cols: int) -> int:
    return x + cols * y


def test_transpose_map():
    src = np.arange(16)
    dst = destinations("transpose", 4, 4, src, np.zeros(16))
    assert dst[node(1, 2, 4)] == node(2, 1, 4)
    assert dst[node(3, 0, 4)] == node(0, 3, 4)
    assert dst[node(2, 2, 4)] == node(2, 2, 4)  # diagonal sends to itself
    np.testing.assert_array_equal(dst[dst], src)  # an involution


def test_bitcomp_map():
    dst = destinations("bitcomp", 4, 4, np.arange(16), np.zeros(16))
    assert dst[0] == 15 and dst[5] == 10 and dst[node(1, 2, 4)] == 15 - 9
    dst = destinations("bitcomp", 2, 4, np.arange(8), np.zeros(8))
    np.testing.assert_array_equal(dst, 7 - np.arange(8))


def test_uniform_covers_all_nodes_including_the_source():
    pk = generate("uniform", 4, 4, 0.5, 1, 0, 2000, seed=1)
    assert set(pk.dst.tolist()) == set(range(16))
    self_share = np.mean(pk.src == pk.dst)
    assert self_share == pytest.approx(1 / 16, rel=0.15)
    # each destination about equally likely
    counts = np.bincount(pk.dst, minlength=16) / len(pk)
    assert np.all(np.abs(counts - 1 / 16) < 0.01)


def test_deterministic_patterns_follow_the_map():
    for pattern, rows, cols in (("transpose", 4, 4), ("bitcomp", 4, 8)):
        pk = generate(pattern, rows, cols, 0.3, 2, 0, 500, seed=2)
        want = destinations(pattern, rows, cols, pk.src, np.zeros(len(pk)))
        np.testing.assert_array_equal(pk.dst, want)


@pytest.mark.parametrize("flits", [1, 4])
def test_offered_load_matches_rate(flits):
    rate, cycles = 0.3, 16 * CHUNK_CYCLES
    pk = generate("uniform", 8, 8, rate, flits, 0, cycles, seed=5)
    assert pk.total_flits / (64 * cycles) == pytest.approx(rate, rel=0.03)
    assert np.all(pk.flits == flits)
    per_node = np.bincount(pk.src, weights=pk.flits, minlength=64) / cycles
    assert np.all(np.abs(per_node - rate) < 0.1 * rate)


def test_order_and_range():
    pk = generate("uniform", 4, 4, 0.4, 1, 1000, 3100, seed=9)
    assert pk.cycle.min() >= 1000 and pk.cycle.max() < 3100
    key = pk.cycle * 16 + pk.src
    assert np.all(np.diff(key) > 0)  # ordered by (cycle, source), one packet per node-cycle
    assert len(generate("uniform", 4, 4, 0.4, 1, 500, 500, seed=9)) == 0


def test_chunk_invariance():
    a, b, c = 0, 2 * CHUNK_CYCLES, 5 * CHUNK_CYCLES
    whole = generate("hotspot", 4, 4, 0.6, 2, a, c, seed=4)
    parts = Packets.concat([generate("hotspot", 4, 4, 0.6, 2, a, b, seed=4),
                            generate("hotspot", 4, 4, 0.6, 2, b, c, seed=4)])
    same(whole, parts)
    # any split works, also off chunk boundaries, and the source agrees with generate
    src = SyntheticSource("hotspot", 4, 4, 0.6, 2, seed=4)
    cuts = [a, 700, 1024, 3000, 3001, c]
    same(whole, Packets.concat([src.packets(x, y) for x, y in itertools.pairwise(cuts)]))


def test_seed_determinism():
    a = generate("uniform", 4, 4, 0.3, 1, 0, 3000, seed=11)
    same(a, generate("uniform", 4, 4, 0.3, 1, 0, 3000, seed=11))
    b = generate("uniform", 4, 4, 0.3, 1, 0, 3000, seed=12)
    assert len(a) != len(b) or not np.array_equal(a.dst, b.dst)


def test_hotspot_fraction_and_default_node():
    assert centre_node(4, 4) == node(2, 2, 4) == 10
    assert centre_node(3, 5) == node(2, 1, 5)
    pk = generate("hotspot", 8, 8, 0.5, 1, 0, 4 * CHUNK_CYCLES, seed=3)
    hot = centre_node(8, 8)
    share = np.mean(pk.dst == hot)
    want = HOTSPOT_FRACTION + (1 - HOTSPOT_FRACTION) / 64
    assert share == pytest.approx(want, rel=0.05)
    others = np.bincount(pk.dst, minlength=64)[np.arange(64) != hot] / len(pk)
    assert np.all(np.abs(others - (1 - HOTSPOT_FRACTION) / 64) < 0.004)


def test_hotspot_options():
    pk = generate("hotspot", 4, 4, 0.5, 1, 0, 4 * CHUNK_CYCLES, seed=3, hotspots=[0, 15],
                  hotspot_fraction=0.5)
    share = np.bincount(pk.dst, minlength=16) / len(pk)
    for h in (0, 15):
        assert share[h] == pytest.approx(0.25 + 0.5 / 16, rel=0.06)
    everything = generate("hotspot", 4, 4, 0.5, 1, 0, 500, seed=3, hotspots=[5],
                          hotspot_fraction=1.0)
    assert np.all(everything.dst == 5)
    none = generate("hotspot", 4, 4, 0.5, 1, 0, 500, seed=3, hotspot_fraction=0.0)
    same(none, generate("uniform", 4, 4, 0.5, 1, 0, 500, seed=3))


@pytest.mark.parametrize("kwargs, field, text", [
    (dict(rate=0.0), "--rate", "expected 0 < rate <= 1"),
    (dict(rate=1.5), "--rate", "expected 0 < rate <= 1"),
    (dict(rate=float("nan")), "--rate", "expected 0 < rate <= 1"),
    (dict(packet_flits=0), "--packet-flits", "expected an integer >= 1"),
    (dict(pattern="tornado"), "--traffic", "expected one of uniform, transpose"),
    (dict(pattern="transpose", rows=4, cols=8), "--traffic", "transpose needs a square mesh"),
    (dict(pattern="bitcomp", rows=3, cols=3), "--traffic", "power-of-two node count"),
    (dict(pattern="hotspot", hotspots=[16]), "hotspots", "node 16 outside the 4x4 mesh"),
    (dict(pattern="hotspot", hotspots=[]), "hotspots", "at least one node"),
    (dict(pattern="hotspot", hotspot_fraction=1.2), "hotspot_fraction", "in [0, 1]"),
    (dict(hotspots=[3]), "hotspots", "only used with the hotspot pattern"),
    (dict(seed=-1), "--seed", "expected an integer >= 0"),
    (dict(rows=0), "--mesh", "expected rows >= 1"),
])
def test_bad_settings(kwargs, field, text):
    args = dict(pattern="uniform", rows=4, cols=4, rate=0.3, packet_flits=1) | kwargs
    with pytest.raises(ConfigError) as exc:
        generate(start_cycle=0, end_cycle=10, **args)
    assert exc.value.field == field and text in exc.value.message
    with pytest.raises(ConfigError):
        SyntheticSource(**args)


def test_negative_start_is_rejected():
    with pytest.raises(ConfigError, match="start_cycle.*>= 0"):
        generate("uniform", 4, 4, 0.3, 1, -5, 10)
