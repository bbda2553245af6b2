"""Loading, validating, hashing and printing hardware configs."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from enasim.config.schema import COMPILED_MAX_VCS, DERIVED, HardwareConfig
from enasim.errors import ConfigError, suggest
from enasim.fileio import parse_yaml_text, read_yaml
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
SET_SOURCE = "--set"
# Fields that moved (old path -> new path): named in the error instead of "unknown key".
MOVED = {"enasa.depthwise_mapping": "mapping.depthwise",
         "enasa.dw_macs_per_cycle": "tile.depthwise_unit.ops_per_cycle",
         "enasa.dw_energy_pj_per_mac": "tile.depthwise_unit.energy_pj_per_op",
         "enasa.dw_area_um2": "tile.depthwise_unit.area_um2",
         "enasa.dw_cycles": "tile.depthwise_unit.cycles"}


def _check_moved(path: str, source: str) -> None:
    if path in MOVED:
        raise ConfigError(source, path, f"moved to {MOVED[path]} (the depthwise mapping and "
                          "unit serve every engine now)")


def load(path: str | Path, overrides: Iterable[tuple[str, Any]] = ()) -> HardwareConfig:
    """Read and validate a hwconfig YAML file (a path, or the name of a bundled config), with
    `extends:` resolved and each (dotted field, value) of `overrides` applied on top."""
    path, overrides = resolve_path(path), list(overrides)
    data, files = _load_chain(path, ())
    data = with_overrides(data, overrides, SET_SOURCE)
    try:
        return from_dict(data, str(path))
    except ConfigError as exc:
        if exc.field in {key for key, _ in overrides}:
            raise ConfigError(SET_SOURCE, exc.field, exc.message) from None
        if exc.source != str(path) or (len(files) == 1 and not overrides):
            raise
        # the value may come from a base file or a --set item: say what was combined
        where = " -> ".join(f.name for f in files) if len(files) > 1 else str(path)
        sets = f" (with --set {', '.join(f'{k}={v}' for k, v in overrides)})" if overrides else ""
        raise ConfigError(where if len(files) == 1 else f"{path} (extends: {where})",
                          exc.field, exc.message + sets) from None


def load_data(path: Path) -> dict[str, Any]:
    """A hwconfig file's plain data with its `extends:` base merged under it (unvalidated).

    A file without `name` is named after itself, not after its base."""
    return _load_chain(path, ())[0]


def _load_chain(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """`load_data`, and the files it merged: `path`, its base, the base's base..."""
    data = read_yaml(path, "hwconfig")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(top level)", f"expected a mapping of hwconfig sections, "
                          f"got {type_name(data)}")
    merged, bases = _extend({"name": path.stem, **data}, str(path), path.parent,
                            (*chain, path.resolve()))
    return merged, (path, *bases)


def _extend(data: dict[str, Any], source: str, base_dir: Path,
            chain: tuple[Path, ...]) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """`data` merged over the base its `extends:` names (relative to `base_dir`), if any, and
    the base files merged."""
    if "extends" not in data:
        return data, ()
    top = {k: v for k, v in data.items() if k != "extends"}
    base = data["extends"]
    if not isinstance(base, str) or not base:
        raise ConfigError(source, "extends", f"expected a bundled hwconfig name or a file "
                          f"path, got {type_name(base)}")
    base_path = resolve_path(base, base_dir, source, "extends")
    if base_path.resolve() in chain:
        raise ConfigError(source, "extends", "circular: " + " -> ".join(
            p.name for p in (*chain, base_path)))
    base_data, files = _load_chain(base_path, chain)
    return _merge(base_data, top), files


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, section by section (an empty section, `adc:` with every field
    commented out, keeps the base's)."""
    out = dict(base)
    for key, value in top.items():
        if value is None and isinstance(out.get(key), dict):
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_path(path: str | Path, base_dir: Path | None = None, source: str | None = None,
                 field: str = "") -> Path:
    """A hwconfig file: `path` as given (relative to `base_dir` if given), or, for a bare name
    with no directory part, `NAME` / `NAME.yaml` of a bundled hwconfig. Anything else is an
    error (naming `source` and `field`, or the path itself): a mistyped path is never replaced
    by a bundled file."""
    p = Path(path)
    local = base_dir / p if base_dir is not None and not p.is_absolute() else p
    if local.is_file():
        return local
    if len(p.parts) == 1:
        bundled = BUNDLED_DIR / (f"{p.stem}.yaml" if p.suffix in (".yaml", ".yml")
                                 else f"{p.name}.yaml")
        if bundled.is_file():
            return bundled
        what = (f"no file '{local}' and no bundled hwconfig '{p.stem}' "
                f"({', '.join(bundled_names())})")
    else:
        what = f"no such file: {local}"
    raise ConfigError(str(path) if source is None else source, field, what)


def load_option(value: str, sets: Iterable[str] = (),
                flag: str = "--hw") -> tuple[HardwareConfig, Path]:
    """The hwconfig a command-line option names, with its `--set` items applied, and its file."""
    path = resolve_path(value, source="", field=flag)
    return load(path, parse_set(sets)), path


def bundled_names() -> list[str]:
    return sorted(f.stem for f in BUNDLED_DIR.glob("*.yaml"))


def parse_set(items: Iterable[str]) -> list[tuple[str, Any]]:
    """`--set SECTION.FIELD=VALUE` arguments as (dotted field, value); VALUE is a YAML scalar."""
    out = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(SET_SOURCE, "", f"expected SECTION.FIELD=VALUE, got {item!r}")
        value = parse_yaml_text(text, SET_SOURCE, key)
        if isinstance(value, dict | list):
            raise ConfigError(SET_SOURCE, key, f"expected a single value, got {text!r}")
        out.append((key, value))
    return out


def with_overrides(data: dict[str, Any], overrides: Iterable[tuple[str, Any]], source: str,
                   prefix: str = "") -> dict[str, Any]:
    """A copy of hwconfig data with each dotted field set. Paths are checked against the schema
    here, so that errors name `source` (the --set flag or a sweep axis) and not the file."""
    data = copy.deepcopy(data)
    for path, value in overrides:
        _check_moved(path, source)
        parts = path.split(".")
        cls, node = HardwareConfig, data
        for depth, part in enumerate(parts):
            where = f"{prefix}{'.'.join(parts[:depth + 1])}"
            fields = {f.name: f for f in dataclasses.fields(cls)}
            if part not in fields:
                raise ConfigError(source, where, f"unknown key{suggest(part, fields)}; valid "
                                  f"keys: {', '.join(fields)}")
            typ = typing.get_type_hints(cls)[part]
            last = depth == len(parts) - 1
            if dataclasses.is_dataclass(typ) == last:
                what = "a section, not a value" if last else "a value, not a section"
                raise ConfigError(source, where, f"'{'.'.join(parts[:depth + 1])}' is {what} "
                                  "of the hwconfig")
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                elif not isinstance(node[part], dict):
                    raise ConfigError(source, where, f"expected a mapping of the section's "
                                      f"fields, got {type_name(node[part])} in the hwconfig")
                node, cls = node[part], typ
    return data


def from_dict(data: Any, source: str = "", base_dir: str | Path = ".") -> HardwareConfig:
    """Build a HardwareConfig from plain data, checking every key, type and range. Every field
    must be given, or taken from a base named by `extends:` (resolved from `base_dir`)."""
    if isinstance(data, dict):
        data = _extend(data, source, Path(base_dir), ())[0]
    cfg = _build(HardwareConfig, data, source, "")
    _check_consistency(cfg, source)
    return cfg


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if isinstance(data, dict):
        for key in data:
            _check_moved(f"{prefix}.{key}" if prefix else str(key), source)
    check_keys(data, fields, source, prefix)
    for name in fields:
        if name not in data:
            where = f"{prefix}.{name}" if prefix else name
            raise ConfigError(source, where, "missing: a hwconfig gives every field, or names "
                              "a base to take the others from (e.g. 'extends: flash_imc')")
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
    if meta.get("derived") and value == DERIVED:
        return DERIVED
    if meta.get("derived") and isinstance(value, str):
        raise ConfigError(source, where, f"expected a number > 0 or '{DERIVED}', got {value!r}")
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
    _check_accounting(cfg, src)
    if cfg.noc.model not in ("ideal", "htree") and cfg.noc.io_cycles != 3:
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


def _check_accounting(cfg: HardwareConfig, src: str) -> None:
    """NeuroSim's accounting runs on its own floorplan and interconnect, with its pipeline
    re-duplication exactly in pipeline mode; the H-tree exists only under it."""
    balance = cfg.mapping.duplication == "balance"
    if balance and cfg.mapping.scheme != "neurosim":
        raise ConfigError(src, "mapping.duplication", "'balance' is NeuroSim's pipeline "
                          "re-duplication of its floorplan and needs mapping.scheme 'neurosim', "
                          f"got '{cfg.mapping.scheme}'")
    if cfg.timing.accounting == "neurosim":
        for where, value, needed in (("mapping.scheme", cfg.mapping.scheme, "neurosim"),
                                     ("noc.model", cfg.noc.model, "htree")):
            if value != needed:
                raise ConfigError(src, where, f"expected '{needed}' with timing.accounting "
                                  f"'neurosim', got '{value}'")
        pipelined = cfg.execution.mode == "pipelined"
        if pipelined != balance:
            raise ConfigError(src, "mapping.duplication", "expected 'balance' with "
                              "execution.mode 'pipelined' and timing.accounting 'neurosim' "
                              "(NeuroSim's pipeline mode), and 'tile' or 'none' with "
                              f"'layer_by_layer'; got '{cfg.mapping.duplication}' with "
                              f"'{cfg.execution.mode}'")
    elif cfg.noc.model == "htree":
        raise ConfigError(src, "noc.model", "'htree' needs timing.accounting 'neurosim'; use "
                          "a mesh model (compiled, process, ideal) with 'overlapped'")


def as_dict(cfg: HardwareConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_hash(cfg: HardwareConfig) -> str:
    """Content hash of the resolved config: equal configs, equal hashes."""
    text = json.dumps(as_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def to_yaml(cfg: HardwareConfig) -> str:
    """The resolved config as YAML, with the derived clock period and the hash as comments,
    and each `derived` field's value and rule beside it."""
    from enasim.cost.adc import derived_values

    body = yaml.safe_dump(as_dict(cfg), sort_keys=False, default_flow_style=False)
    derived_fields = derived_values(cfg)
    lines, path = [], []
    for line in body.splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        key = line.strip().split(":", 1)[0]
        path[depth:] = [key]
        dotted = ".".join(path)
        derived = derived_fields.get(dotted)
        if derived is not None:
            line += f"  # {derived[0]:.6g} derived: {derived[1]}"
        lines.append(line)
    return (f"# resolved hwconfig {cfg.name}; hash {config_hash(cfg)}; "
            f"clock period {cfg.clock_period_ns:g} ns\n" + "\n".join(lines) + "\n")
