"""Sweep specs: a base hwconfig, override axes, workloads, engine and repeats, read from YAML.

A spec is checked as a whole when it is loaded (unknown keys, empty axes, missing workload files,
bad engine name stop the sweep with the spec file and field). Override *paths and values* are
checked per point when the grid is expanded, so one invalid point fails alone.

A spec's workloads may be samples of FLASH's DenseNet space (`{sampler: densenet_flash, count,
seed}`), which is why a sweep imports that space from `enasim.nas.spaces`: a search space is a
workload generator.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enasim.config import load, parse_set
from enasim.config.loader import SET_SOURCE, resolve_path
from enasim.config.schema import ENGINES
from enasim.errors import ConfigError, suggest
from enasim.fileio import read_yaml
from enasim.nas.spaces.densenet_flash import DenseNetSpec, build_from_spec, sample
from enasim.sweep.store import FIXED
from enasim.validate import (
    SEED_LIMIT,
    check_keys,
    expect_choice,
    expect_int,
    expect_number,
    expect_seed,
    type_name,
)
from enasim.workload import Network, load_workload, zoo_names
from enasim.workload.zoo import SUBNET_FORMS, load_subnet

BUNDLED_SPECS = Path(__file__).resolve().parent.parent / "sweeps"
SAMPLERS = ("densenet_flash",)
SPEC_KEYS = ("name", "hw", "axes", "workloads", "engine", "repeats", "seed")
# A point runs for a second or more and is a row of the store: 100,000 points is days of work
# on a workstation, far more than any sweep we ship; a larger grid is refused before it starts.
MAX_POINTS = 100_000


@dataclass(frozen=True)
class WorkloadRef:
    """A workload of the sweep, small enough to ship to a worker that builds the Network.

    `name` is unique within the sweep (the store's `workload` column); `source` says where it
    comes from (`workload_source`); `fingerprint` enters the point key, so editing a workload
    file makes its points new.
    """

    name: str
    source: str
    fingerprint: str
    name_or_path: str = ""              # zoo name or absolute workload file path
    arch: DenseNetSpec | None = None    # a sampled DenseNet

    def build(self) -> Network:
        if self.arch is not None:
            return build_from_spec(self.arch, self.name)
        return load_workload(self.name_or_path)


@dataclass(frozen=True)
class SweepSpec:
    """A grid: every combination of axis values x every workload x every repeat."""

    name: str
    source: str                                   # the spec file (for error messages)
    hw: Path                                      # base hwconfig file
    axes: tuple[tuple[str, tuple[Any, ...]], ...]  # (dotted hwconfig path, values), spec order
    workloads: tuple[WorkloadRef, ...]
    engine: str = "sim"
    repeats: int = 1
    seed: int = 0
    base_overrides: tuple[tuple[str, Any], ...] = ()  # --set items, applied before the axes

    @property
    def axis_names(self) -> list[str]:
        return [name for name, _ in self.axes]


def bundled_specs() -> list[str]:
    """Names of the sweep specs shipped with enasim (`enasim sweep NAME`)."""
    return sorted(p.stem for p in BUNDLED_SPECS.glob("*.yaml"))


def resolve_spec(path: str | Path) -> Path:
    """The spec file `path`, or the bundled spec NAME / NAME.yaml when `path` is a bare name
    (no directory part) of no existing file. A path with a directory part is never replaced
    by a bundled spec."""
    text = str(path)
    p = Path(text)
    if p.is_file() or "/" in text or os.sep in text:
        return p
    bundled = BUNDLED_SPECS / (p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml")
    if bundled.is_file():
        return bundled
    raise ConfigError(text, "", f"no such sweep spec file, and no bundled spec of that name"
                      f"{suggest(p.stem, bundled_specs())}; bundled: "
                      f"{', '.join(bundled_specs())}")


def load_spec(path: str | Path, sets: Iterable[str] = ()) -> SweepSpec:
    """Read and check a sweep spec YAML (a file, or a bundled spec's name); relative paths in
    it are relative to the file. `sets` are `--set` items for its base hwconfig."""
    path = resolve_spec(path)
    data = read_yaml(path, "sweep spec")
    return spec_from_dict(data, str(path), path.parent, default_name=path.stem,
                          base_overrides=parse_set(sets))


def spec_from_dict(data: Any, source: str = "<spec>", base_dir: str | Path = ".",
                   default_name: str = "sweep",
                   base_overrides: Iterable[tuple[str, Any]] = ()) -> SweepSpec:
    """Build a SweepSpec from plain data (the parsed YAML, or a dict written in Python)."""
    base_dir = Path(base_dir)
    check_keys(data, SPEC_KEYS, source, "", required=("hw", "workloads"))
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError(source, "name", f"expected a non-empty string, got {type_name(name)}")
    engine = expect_choice(data.get("engine", "sim"), ENGINES, source, "engine")
    repeats = expect_int(data.get("repeats", 1), source, "repeats", 1, MAX_POINTS)
    seed = expect_seed(data.get("seed", 0), source, "seed")
    if seed + repeats > SEED_LIMIT:
        raise ConfigError(source, "seed", f"repeat r runs with seed + r, so expected seed + "
                          f"repeats <= 2**32, got {seed} + {repeats}")
    base_overrides = tuple(base_overrides)
    if not isinstance(data["hw"], str):
        raise ConfigError(source, "hw", f"expected a hwconfig file or bundled name, got "
                          f"{type_name(data['hw'])}")
    hw = resolve_path(data["hw"], base_dir, source, "hw")
    load(hw, base_overrides)  # the base itself must be valid; axes are checked per point
    axes = _axes(data.get("axes") or {}, source)
    for key, _ in base_overrides:
        if key in dict(axes):
            raise ConfigError(SET_SOURCE, key, f"is an axis of the sweep {source}; a --set "
                              "value would be replaced by the axis values")
    workloads = _workloads(data["workloads"], source, base_dir, seed)
    points = repeats * len(workloads) * math.prod(len(values) for _, values in axes)
    if points > MAX_POINTS:
        raise ConfigError(source, "", f"the grid has {points:,} points (axis values x "
                          f"{len(workloads)} workloads x {repeats} repeats), more than the "
                          f"{MAX_POINTS:,} a sweep may have; split it into several sweeps")
    return SweepSpec(name, source, hw.resolve(), axes, workloads, engine, repeats, seed,
                     base_overrides)


def _axes(data: Any, source: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(data, dict):
        raise ConfigError(source, "axes", f"expected a mapping of hwconfig paths to value "
                          f"lists, got {type_name(data)}")
    axes = []
    for name, values in data.items():
        where = f"axes.{name}"
        if not isinstance(name, str) or not name:
            raise ConfigError(source, "axes", f"expected dotted hwconfig paths such as "
                              f"'adc.bits', got {name!r}")
        if name in FIXED:
            raise ConfigError(source, where, "is a result column, not a hwconfig path")
        if not isinstance(values, list) or not values:
            raise ConfigError(source, where, f"expected a non-empty list of values, got "
                              f"{type_name(values)} {values!r}")
        for i, v in enumerate(values):
            if not isinstance(v, bool | int | float | str):
                raise ConfigError(source, f"{where}[{i}]", f"expected a number, string or "
                                  f"boolean, got {type_name(v)}")
            if isinstance(v, float):  # NaN would also slip past the duplicate check
                expect_number(v, source, f"{where}[{i}]", None)
            if any(type(v) is type(w) and v == w for w in values[:i]):
                raise ConfigError(source, f"{where}[{i}]", f"duplicate value {v!r}")
        axes.append((name, tuple(values)))
    return tuple(axes)


def _workloads(data: Any, source: str, base_dir: Path, seed: int) -> tuple[WorkloadRef, ...]:
    if not isinstance(data, list) or not data:
        raise ConfigError(source, "workloads", f"expected a non-empty list of zoo names, workload "
                          f"files or samplers, got {type_name(data)}")
    refs: list[WorkloadRef] = []
    first: dict[str, int] = {}
    for i, entry in enumerate(data):
        where = f"workloads[{i}]"
        if isinstance(entry, dict):
            new = _sampled(entry, source, where, seed)
        elif isinstance(entry, str):
            new = [_named(entry, source, where, base_dir)]
        else:
            raise ConfigError(source, where, f"expected a zoo name, a workload file or "
                              f"{{sampler: NAME, count: N, seed: S}}, got {type_name(entry)}")
        for ref in new:
            if ref.name in first:
                raise ConfigError(source, where, f"workload name '{ref.name}' already comes "
                                  f"from workloads[{first[ref.name]}]")
            first[ref.name] = i
        refs += new
    return tuple(refs)


def _named(entry: str, source: str, where: str, base_dir: Path) -> WorkloadRef:
    path = base_dir / entry
    if path.suffix in (".yaml", ".yml", ".onnx") or "/" in entry:
        if not path.is_file():
            raise ConfigError(source, where, f"workload file not found: {path}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return WorkloadRef(path.stem, f"file:{entry}", f"file:{digest}", str(path.resolve()))
    if ":" in entry:  # a supernet sub-net, defined by the code as a zoo network is
        try:
            load_subnet(entry)
        except ConfigError as exc:
            raise ConfigError(source, where, exc.message) from None
        return WorkloadRef(entry, f"zoo:{entry}", f"zoo:{entry}", entry)
    names = zoo_names()
    if entry not in names:
        raise ConfigError(source, where, f"unknown workload '{entry}'{suggest(entry, names)}; "
                          f"valid zoo names: {', '.join(names)}; supernet sub-nets: "
                          f"{SUBNET_FORMS}; or a .yaml or .onnx file")
    return WorkloadRef(entry, f"zoo:{entry}", f"zoo:{entry}", entry)


def _sampled(entry: dict, source: str, where: str, seed: int) -> list[WorkloadRef]:
    """`count` networks drawn from the sampler's space with `random.Random(seed)`."""
    check_keys(entry, ("sampler", "count", "seed"), source, where, required=("sampler", "count"))
    sampler = expect_choice(entry["sampler"], SAMPLERS, source, f"{where}.sampler")
    count = expect_int(entry["count"], source, f"{where}.count", 1, MAX_POINTS)
    s = expect_seed(entry.get("seed", seed), source, f"{where}.seed")
    rng = random.Random(s)
    refs = []
    for k in range(count):
        arch = sample(rng)
        refs.append(WorkloadRef(f"{sampler}-s{s}-{k}", f"{sampler}:{arch.label()}",
                                f"{sampler}:{arch.label()}", arch=arch))
    return refs
