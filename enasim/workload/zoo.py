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

# The `SPACE:ARCH` forms `load_subnet` takes, for help texts and errors.
SUBNET_FORMS = "fairnas:A|B|C, fairnas:<19 digits 0-5>, spos:<20 digits 0-3>"


def load_subnet(spec: str) -> Network:
    """`SPACE:ARCH`: a sub-net of the FairNAS or SPOS supernet (`fairnas:A`, `fairnas:<19
    choices>`, `spos:<20 choices>`) as the stand-alone model, a BN layer after every conv, so
    MACs and parameters are the authors' counts (`Supernet.params`)."""
    space, _, arch = spec.partition(":")
    if space == "fairnas":
        from enasim.nas.spaces.fairnas import FAIRNAS, MODELS

        net, arch, named = FAIRNAS, MODELS.get(arch, arch), f" or {space}:{'|'.join(MODELS)}"
    elif space == "spos":
        from enasim.nas.spaces.spos import SPOS as net

        named = ""
    else:
        raise ConfigError("", "--workload", f"unknown supernet '{space}' in '{spec}'; "
                          f"expected a supernet sub-net: {SUBNET_FORMS}")
    try:
        return net.build(arch, batchnorm=True)
    except ConfigError:
        expected = f"{space}:<{net.num_layers} digits 0-{net.num_choices - 1}>"
        raise ConfigError("", "--workload", f"bad sub-net '{spec}': expected {expected} (one "
                          f"choice per layer){named}") from None


def zoo_names() -> list[str]:
    return sorted({p.stem for p in BUNDLED_DIR.glob("*.yaml")} | set(GENERATORS))


def load_workload(spec: str | Path) -> Network:
    """A zoo name (`vgg8`, `resnet18`, `densenet_flash`, ...), a supernet sub-net
    (`fairnas:A`, `spos:<20 choices>`, see `load_subnet`), the path of a workload YAML, of a
    NeuroSim network file (`NetWork_<name>.csv`) or of an ONNX model (`.onnx`)."""
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
    if ":" in spec:
        return load_subnet(spec)
    if spec in GENERATORS:
        return GENERATORS[spec]()
    bundled = BUNDLED_DIR / f"{spec}.yaml"
    if bundled.is_file():
        return load_network_yaml(bundled)
    names = zoo_names()
    raise ConfigError("", "--workload", f"unknown workload '{spec}'{suggest(spec, names)}; "
                      f"valid zoo names: {', '.join(names)}; supernet sub-nets: {SUBNET_FORMS}; "
                      f"or the path of a .yaml file, of a NeuroSim NetWork_*.csv file or of an "
                      f".onnx model")
