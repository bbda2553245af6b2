"""Hardware configs: frozen dataclasses loaded from YAML with file/field-precise errors."""

from enasim.config.loader import (
    BUNDLED_DIR,
    DEFAULT_HW,
    config_hash,
    from_dict,
    load,
    parse_set,
    to_yaml,
)
from enasim.config.schema import HardwareConfig

__all__ = ["BUNDLED_DIR", "DEFAULT_HW", "HardwareConfig", "config_hash", "from_dict", "load",
           "parse_set", "to_yaml"]
