"""Loading, validating, hashing and printing hardware configs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any

import yaml

from enasim.config.schema import COMPILED_MAX_VCS, HardwareConfig
from enasim.errors import ConfigError
from enasim.fileio import read_yaml
from enasim.validate import (
    check_keys,
    expect_bool,
    expect_choice,
    expect_int,
    expect_number,
    type_name,
)

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "hwconfigs"
DEFAULT_HW = BUNDLED_DIR / "flash_imc.yaml"


def load(path: str | Path) -> HardwareConfig:
    """Read and validate a hwconfig YAML file (a path, or the name of a bundled config)."""
    path = resolve_path(path)
    data = read_yaml(path)
    data = {} if data is None else data
    if isinstance(data, dict) and "name" not in data:
        data = {"name": path.stem, **data}
    return from_dict(data, str(path))


def resolve_path(path: str | Path) -> Path:
    """A file path as given, or `NAME` / `NAME.yaml` of a bundled hwconfig."""
    p = Path(path)
    if p.is_file():
        return p
    bundled = BUNDLED_DIR / (p.name if p.suffix else f"{p.name}.yaml")
    return bundled if bundled.is_file() else p


def from_dict(data: Any, source: str = "") -> HardwareConfig:
    """Build a HardwareConfig from plain data, checking every key, type and range."""
    cfg = _build(HardwareConfig, data, source, "")
    _check_consistency(cfg, source)
    return cfg


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(data, fields, source, prefix)
    values = {}
    for name, value in data.items():
        f, where = fields[name], f"{prefix}.{name}" if prefix else name
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            values[name] = _build(typ, {} if value is None else value, source, where)
        else:
            values[name] = _scalar(typ, f.metadata, value, source, where)
    return cls(**values)


def _scalar(typ: Any, meta: dict, value: Any, source: str, where: str) -> Any:
    if meta.get("auto") and value == "auto":
        return "auto"
    if meta.get("auto") and isinstance(value, str):
        raise ConfigError(source, where, f"expected a positive integer or 'auto', got {value!r}")
    base = typing.get_args(typ)[0] if typing.get_args(typ) else typ
    lo, hi = meta.get("min"), meta.get("max")
    if base is bool:
        return expect_bool(value, source, where)
    if base is int:
        return expect_int(value, source, where, None if lo is None else int(lo),
                          None if hi is None else int(hi))
    if base is float:
        return expect_number(value, source, where, lo, hi, strict_min=meta.get("strict", False))
    if meta.get("choices"):
        return expect_choice(value, meta["choices"], source, where)
    if not isinstance(value, str):
        raise ConfigError(source, where, f"expected a string, got {type_name(value)}")
    return value


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _check_consistency(cfg: HardwareConfig, src: str) -> None:
    """Rules that involve more than one field."""
    xb, adc = cfg.crossbar, cfg.adc
    if adc.cols_per_adc > xb.cols:
        raise ConfigError(src, "adc.cols_per_adc", f"expected at most crossbar.cols "
                          f"({xb.cols}), got {adc.cols_per_adc}")
    if xb.rows_parallel > xb.rows:
        raise ConfigError(src, "crossbar.rows_parallel", f"expected at most crossbar.rows "
                          f"({xb.rows}), got {xb.rows_parallel}")
    if xb.r_off_ohm <= xb.r_on_ohm:
        raise ConfigError(src, "crossbar.r_off_ohm", f"expected more than r_on_ohm "
                          f"({xb.r_on_ohm:g}), got {xb.r_off_ohm:g}")
    if adc.energy_model == "table" and adc.table_energy_pj <= 0:
        raise ConfigError(src, "adc.table_energy_pj", "expected a number > 0 with "
                          "energy_model 'table'")
    if cfg.noc.model != "ideal" and cfg.noc.io_cycles != 3:
        raise ConfigError(src, "noc.io_cycles", f"expected 3 with noc.model "
                          f"'{cfg.noc.model}' (1-cycle injection and ejection channels, as "
                          f"BookSim2), got {cfg.noc.io_cycles}; use model 'ideal' for others")
    if cfg.noc.model == "compiled" and cfg.noc.num_vcs > COMPILED_MAX_VCS:
        raise ConfigError(src, "noc.num_vcs", f"expected at most {COMPILED_MAX_VCS} with noc.model "
                          f"'compiled', got {cfg.noc.num_vcs}; use model 'process' for more")
    if adc.range_mode == "partial_rows" and adc.bits < xb.cell_bits:
        raise ConfigError(src, "adc.range_mode", f"'partial_rows' needs adc.bits >= "
                          f"crossbar.cell_bits ({xb.cell_bits}) so that one row cannot clip, "
                          f"got adc.bits {adc.bits}")
    dev = cfg.device
    if dev.stuck_at_0_fraction + dev.stuck_at_1_fraction > 1:
        raise ConfigError(src, "device.stuck_at_1_fraction", "expected stuck_at_0_fraction + "
                          f"stuck_at_1_fraction <= 1, got {dev.stuck_at_0_fraction:g} + "
                          f"{dev.stuck_at_1_fraction:g}")
    if 0 < dev.on_off_ratio <= 1:
        raise ConfigError(src, "device.on_off_ratio", "expected 0 (ideal cells) or a ratio "
                          f"above 1, got {dev.on_off_ratio:g}")
    auto = {"ce.pes_per_ce": cfg.ce.pes_per_ce, "tile.ces_per_tile": cfg.tile.ces_per_tile}
    if cfg.mapping.scheme == "neurosim":
        for name in ("rows", "cols"):
            n = getattr(xb, name)
            if not _is_pow2(n):
                raise ConfigError(src, f"crossbar.{name}", f"mapping.scheme 'neurosim' "
                                  f"supports only powers of two, got {n}")
        for where, v in auto.items():
            if v != "auto":
                raise ConfigError(src, where, "expected 'auto' with mapping.scheme 'neurosim' "
                                  f"(NeuroSim's floorplan sizes tiles and PEs), got {v!r}")
    else:
        for where, v in auto.items():
            if v == "auto":
                raise ConfigError(src, where, "'auto' needs mapping.scheme 'neurosim'; give "
                                  "a positive integer")
    rows, cols = cfg.noc.mesh_rows, cfg.noc.mesh_cols
    if (rows == "auto") != (cols == "auto"):
        raise ConfigError(src, "noc.mesh_cols", "mesh_rows and mesh_cols must both be 'auto' "
                          "or both integers")


def as_dict(cfg: HardwareConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_hash(cfg: HardwareConfig) -> str:
    """Content hash of the resolved config: equal configs, equal hashes."""
    text = json.dumps(as_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def to_yaml(cfg: HardwareConfig) -> str:
    """The resolved config as YAML, with the derived clock period and the hash as comments."""
    body = yaml.safe_dump(as_dict(cfg), sort_keys=False, default_flow_style=False)
    return (f"# resolved hwconfig {cfg.name}; hash {config_hash(cfg)}; "
            f"clock period {cfg.clock_period_ns:g} ns\n{body}")
