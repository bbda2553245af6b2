"""Workloads by name: the bundled YAML files in `workloads/` plus parametric generators.

`densenet_flash` is FLASH's reference network, built by its search space
(`enasim.nas.spaces`), imported when asked for: the space is the network's one definition.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from enasim.errors import ConfigError, suggest
from enasim.workload.ir import Network
from enasim.workload.yaml_format import load_network_yaml

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "workloads"


def _densenet_flash() -> Network:
    from enasim.nas.spaces.densenet_flash import build_densenet_flash

    return build_densenet_flash()


# Zoo entries generated in code (the bundled YAML files are the others).
GENERATORS: dict[str, Callable[[], Network]] = {"densenet_flash": _densenet_flash}


def zoo_names() -> list[str]:
    return sorted({p.stem for p in BUNDLED_DIR.glob("*.yaml")} | set(GENERATORS))


def load_workload(spec: str | Path) -> Network:
    """A zoo name (`vgg8`, `resnet18`, `densenet_flash`, ...), the path of a workload YAML, of
    a NeuroSim network file (`NetWork_<name>.csv`) or of an ONNX model (`.onnx`)."""
    spec = str(spec)
    path = Path(spec)
    if path.suffix == ".csv":
        from enasim.workload.neurosim_csv import load_neurosim_csv

        return load_neurosim_csv(path)
    if path.suffix == ".onnx":
        from enasim.workload.onnx_format import load_onnx

        return load_onnx(path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_network_yaml(path)
    if spec in GENERATORS:
        return GENERATORS[spec]()
    bundled = BUNDLED_DIR / f"{spec}.yaml"
    if bundled.is_file():
        return load_network_yaml(bundled)
    names = zoo_names()
    raise ConfigError("", "--workload", f"unknown workload '{spec}'{suggest(spec, names)}; "
                      f"valid zoo names: {', '.join(names)} (or the path of a .yaml file, of a "
                      f"NeuroSim NetWork_*.csv file or of an .onnx model)")
