"""Small type and range checks shared by the loaders and command lines, and plug-in import.

Each raises ConfigError naming the source file, the field and what was expected; nothing is
coerced or clamped (a bool is not an int, 2.5 is not an int, "8" is not a number).
"""

from __future__ import annotations

import argparse
import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from enasim.errors import ConfigError, suggest


def check_keys(data: Any, allowed: Iterable[str], source: str, field: str,
               required: Iterable[str] = ()) -> Mapping[str, Any]:
    """`data` must be a mapping with only `allowed` keys and all `required` ones."""
    allowed = list(allowed)
    if not isinstance(data, Mapping):
        raise ConfigError(source, field or "(top level)",
                          f"expected a mapping with keys {allowed}, got {type_name(data)}")
    for key in data:
        if key not in allowed:
            where = f"{field}.{key}" if field else str(key)
            raise ConfigError(source, where, f"unknown key{suggest(str(key), allowed)}; "
                              f"valid keys: {', '.join(allowed)}")
    for key in required:
        if key not in data:
            raise ConfigError(source, f"{field}.{key}" if field else key, "required key missing")
    return data


def expect_int(value: Any, source: str, field: str, minimum: int | None = 1,
               maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(source, field, f"expected an integer, got {type_name(value)} {value!r}")
    _check_range(value, source, field, minimum, maximum)
    return value


def expect_number(value: Any, source: str, field: str, minimum: float | None = 0.0,
                  maximum: float | None = None, strict_min: bool = False) -> float:
    """A finite int or float in range: NaN and infinities are never numbers of an input."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(source, field, f"expected a number, got {type_name(value)} {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        finite = False
    if not finite:
        raise ConfigError(source, field, f"expected a finite number, got {_short(value)}")
    if strict_min and minimum is not None and value <= minimum:
        raise ConfigError(source, field, f"expected a number > {minimum}, got {value}")
    _check_range(value, source, field, minimum, maximum)
    return float(value)


def parse_numbers(text: str, count: int | None, source: str, field: str,
                  minimum: float | None = None) -> tuple[float, ...]:
    """Comma-separated finite numbers (`count` of them, if given) from a command-line value."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or (count is not None and len(values) != count):
        n = f"{count} " if count else ""
        raise ConfigError(source, field, f"expected {n}numbers separated by commas, got {text!r}")
    for v in values:
        expect_number(v, source, field, minimum)
    return values


def _short(value: Any) -> str:
    """repr(value), cut to 40 characters (an integer of thousands of digits has none)."""
    try:
        text = repr(value)
    except ValueError:
        return "an integer too long to print"
    return text if len(text) <= 40 else f"{text[:37]}..."


def expect_bool(value: Any, source: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(source, field, f"expected true or false, got {type_name(value)} "
                          f"{value!r}")
    return value


def expect_choice(value: Any, choices: Iterable[str], source: str, field: str) -> str:
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        hint = suggest(value, choices) if isinstance(value, str) else ""
        raise ConfigError(source, field, f"expected one of {', '.join(choices)}, got "
                          f"{value!r}{hint}")
    return value


WORKERS_MAX = 256         # worker processes of one command (a fork bomb is not a sweep)
NETWORKS_MAX = 100_000    # networks simulated by one command (as a sweep grid's points)
SEED_LIMIT = 2**32  # every seed fits numpy's legacy 32-bit seeders (optuna's samplers use them)


def expect_seed(value: Any, source: str, field: str) -> int:
    """A random seed: an integer 0 <= seed < 2**32, the same range on every command."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise ConfigError(source, field, f"expected an integer seed, 0 <= seed < 2**32, got "
                          f"{value!r}")
    return value


def int_arg(minimum: int | None = 1, maximum: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer in [minimum, maximum]; '2.5', '1e9', 'nan' are refused, not
    rounded, and the error names the range."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        try:
            _check_range(value, "", "", minimum, maximum)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return value
    return parse


def seed_arg(text: str) -> int:
    """argparse type of every --seed: an integer 0 <= seed < 2**32."""
    try:
        return expect_seed(int(text, 10), "", "")
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(f"expected an integer seed, 0 <= seed < 2**32, got "
                                         f"{text!r}") from None


def _check_range(value, source, field, minimum, maximum) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(source, field, f"expected a value >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(source, field, f"expected a value <= {maximum}, got {value}")


def type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping", type(None): "nothing"}.get(type(value),
                                                                          type(value).__name__)


def import_callable(spec: str, field: str, expected: str) -> Callable:
    """The function named by `module:function` (a user plug-in such as an accuracy or
    fitness model); `expected` describes the accepted forms for the error message."""
    module, sep, func = spec.partition(":")
    if not sep or not module or not func:
        raise ConfigError("", field, f"expected {expected}, got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("", field, f"cannot load {spec!r}: {exc}") from None
    if not callable(fn):
        raise ConfigError("", field, f"{spec!r} is not callable")
    return fn
