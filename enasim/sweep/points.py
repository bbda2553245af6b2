"""Expanding a sweep spec into points, deterministically, each with a stable key.

A point is one (config, workload, repeat). Its key hashes the config's content hash (or, for a
config that does not validate, the base file and the overrides), the workload id, the engine,
the repeat and its seed: the same point gets the same key in every run, which is what lets a
re-run skip the points already in the store.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from enasim.config import HardwareConfig, config_hash, from_dict
from enasim.config.loader import SET_SOURCE, load_data, with_overrides
from enasim.errors import ConfigError, EnasimError
from enasim.sweep.spec import SweepSpec, WorkloadRef


@dataclass(frozen=True)
class Point:
    """One run of the grid. `hw` is None when the overrides do not give a valid config; then
    `error` says why and the point is stored as failed without running."""

    index: int
    key: str
    overrides: tuple[tuple[str, Any], ...]
    workload: WorkloadRef
    repeat: int
    seed: int
    engine: str
    hw: HardwareConfig | None
    config_hash: str | None
    error: str | None


def expand(spec: SweepSpec) -> list[Point]:
    """All points of the grid, axes varying in spec order (last fastest), then workloads, then
    repeats."""
    base = with_overrides(load_data(spec.hw), spec.base_overrides, SET_SOURCE)
    names = spec.axis_names
    points = []
    seen: dict[str, tuple[tuple[str, Any], ...]] = {}
    for values in itertools.product(*(vals for _, vals in spec.axes)):
        overrides = tuple(zip(names, values, strict=True))
        try:
            data = with_overrides(base, overrides, spec.source, prefix="axes.")
            hw, error = from_dict(data, spec.source), None
        except EnasimError as exc:
            hw, error = None, str(exc)
        if hw is None:
            chash, config_id = None, "invalid:" + _digest([base, [list(o) for o in overrides]])
        else:
            chash = config_id = config_hash(hw)
            if chash in seen:
                raise ConfigError(spec.source, "axes", f"{_show(overrides)} and "
                                  f"{_show(seen[chash])} give the same hwconfig")
            seen[chash] = overrides
        for wl in spec.workloads:
            for repeat in range(spec.repeats):
                seed = spec.seed + repeat
                key = _digest([config_id, wl.name, wl.fingerprint, spec.engine, repeat, seed])
                points.append(Point(len(points), key, overrides, wl, repeat, seed, spec.engine,
                                    hw, chash, error))
    return points


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _show(overrides: tuple[tuple[str, Any], ...]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in overrides) or "the base config"
