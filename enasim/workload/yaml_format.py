"""The readable YAML workload format: a list of layers, each reading the previous one by default.

    name: tiny
    input: [3, 32, 32]          # channels, height, width
    layers:
      - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
      - {name: relu1, op: activation}
      - {name: pool1, op: pool, mode: max, kernel: 2}
      - {name: fc, op: linear, out_features: 10, bias: true}

A layer with `inputs: [a, b]` reads named earlier layers (add, concat, skips).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from enasim.errors import ConfigError
from enasim.fileio import read_yaml
from enasim.validate import check_keys, expect_bool, expect_choice, expect_int, type_name
from enasim.workload.ir import (
    ACTIVATIONS,
    OPS,
    Activation,
    Add,
    BatchNorm,
    Concat,
    Conv2d,
    Linear,
    Network,
    NetworkBuilder,
    Op,
    Pool,
    Select,
)

_COMMON = ("name", "op", "inputs")
_FIELDS: dict[str, tuple[str, ...]] = {
    "conv2d": ("out_channels", "kernel", "stride", "padding", "groups", "bias", "in_channels"),
    "linear": ("out_features", "bias", "in_features"),
    "pool": ("mode", "kernel", "stride", "padding", "global"),
    "add": (),
    "concat": (),
    "activation": ("function",),
    "batchnorm": (),
    "select": ("channels",),
}
_REQUIRED = {"conv2d": ("out_channels", "kernel"), "linear": ("out_features",),
             "pool": ("mode",), "select": ("channels",)}


def load_network_yaml(path: str | Path) -> Network:
    """Read a workload YAML file into a Network, checking every field and shape."""
    src = str(path)
    data = check_keys(read_yaml(path, "workload"), ("name", "input", "layers"), src, "",
                      required=("input", "layers"))
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str):
        raise ConfigError(src, "name", f"expected a string, got {type_name(name)}")
    builder = NetworkBuilder(name, _input_shape(data["input"], src), source=src)
    layers = data["layers"]
    if not isinstance(layers, list) or not layers:
        raise ConfigError(src, "layers", "expected a non-empty list of layers")
    for i, spec in enumerate(layers):
        field = f"layers[{i}]"
        lname = spec.get("name") if isinstance(spec, dict) else None
        if isinstance(lname, str) and lname:
            field = f"layers[{i}] ({lname})"
        spec = check_keys(spec, _COMMON + tuple(sorted({k for v in _FIELDS.values() for k in v})),
                          src, field, required=("name", "op"))
        if not isinstance(lname, str) or not lname:
            raise ConfigError(src, f"{field}.name", "expected a non-empty string")
        kind = expect_choice(spec["op"], OPS, src, f"{field}.op")
        check_keys(spec, _COMMON + _FIELDS[kind], src, field,
                   required=_REQUIRED.get(kind, ()))
        inputs = spec.get("inputs")
        if "inputs" in spec:
            inputs = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
                raise ConfigError(src, f"{field}.inputs", "expected a layer name or a list of "
                                  "layer names")
        builder.add(lname, _op(kind, spec, src, field), inputs, field=field)
    return builder.build()


def _input_shape(value: Any, src: str) -> tuple[int, int, int]:
    if isinstance(value, dict):
        value = check_keys(value, ("channels", "height", "width"), src, "input",
                           required=("channels", "height", "width"))
        value = [value["channels"], value["height"], value["width"]]
    if not isinstance(value, list) or len(value) != 3:
        raise ConfigError(src, "input", "expected [channels, height, width]")
    return tuple(expect_int(v, src, f"input[{i}]") for i, v in enumerate(value))


def _kernel(value: Any, src: str, field: str) -> tuple[int, int]:
    if isinstance(value, list) and len(value) == 2:
        return (expect_int(value[0], src, field), expect_int(value[1], src, field))
    k = expect_int(value, src, field)
    return (k, k)


def _op(kind: str, spec: dict, src: str, field: str) -> Op:
    def get_int(key, default, minimum=1):
        """The key's integer, or `default` when the key is absent (null is no integer)."""
        if key not in spec:
            return default
        return expect_int(spec[key], src, f"{field}.{key}", minimum)

    def get_bool(key, default):
        return expect_bool(spec.get(key, default), src, f"{field}.{key}")

    if kind == "conv2d":
        return Conv2d(out_channels=get_int("out_channels", None),
                      kernel=_kernel(spec["kernel"], src, f"{field}.kernel"),
                      stride=get_int("stride", 1), padding=get_int("padding", 0, minimum=0),
                      groups=get_int("groups", 1), bias=get_bool("bias", False),
                      in_channels=get_int("in_channels", None))
    if kind == "linear":
        return Linear(out_features=get_int("out_features", None), bias=get_bool("bias", False),
                      in_features=get_int("in_features", None))
    if kind == "pool":
        is_global = get_bool("global", False)
        return Pool(mode=expect_choice(spec["mode"], ("max", "avg"), src, f"{field}.mode"),
                    kernel=get_int("kernel", 2), stride=get_int("stride", None),
                    padding=get_int("padding", 0, minimum=0), global_pool=is_global)
    if kind == "activation":
        return Activation(expect_choice(spec.get("function", "relu"), ACTIVATIONS, src,
                                        f"{field}.function"))
    if kind == "select":
        return Select(get_int("channels", None))
    return {"add": Add, "concat": Concat, "batchnorm": BatchNorm}[kind]()


def network_to_yaml(net: Network) -> str:
    """The YAML text of a network, in the format `load_network_yaml` reads."""
    layers = []
    prev = "input"
    for node in net.nodes[1:]:
        spec: dict[str, Any] = {"name": node.name, "op": node.kind}
        if node.inputs != (prev,):
            spec["inputs"] = list(node.inputs) if len(node.inputs) > 1 else node.inputs[0]
        spec.update(_op_fields(node.op))
        layers.append(spec)
        prev = node.name
    lines = [f"name: {net.name}", f"input: {list(net.input_shape)}  # channels, height, width",
             "layers:"]
    for spec in layers:
        flow = yaml.safe_dump(spec, default_flow_style=True, sort_keys=False, width=1000).strip()
        lines.append(f"  - {flow}")
    return "\n".join(lines) + "\n"


def _op_fields(op: Op) -> dict[str, Any]:
    if isinstance(op, Conv2d):
        kh, kw = op.kernel
        out = {"out_channels": op.out_channels, "kernel": kh if kh == kw else [kh, kw]}
        if op.stride != 1:
            out["stride"] = op.stride
        if op.padding:
            out["padding"] = op.padding
        if op.groups != 1:
            out["groups"] = op.groups
        if op.bias:
            out["bias"] = True
        return out
    if isinstance(op, Linear):
        return {"out_features": op.out_features, **({"bias": True} if op.bias else {})}
    if isinstance(op, Pool):
        if op.global_pool:
            return {"mode": op.mode, "global": True}
        out = {"mode": op.mode, "kernel": op.kernel}
        if op.stride not in (None, op.kernel):
            out["stride"] = op.stride
        if op.padding:
            out["padding"] = op.padding
        return out
    if isinstance(op, Activation):
        return {} if op.function == "relu" else {"function": op.function}
    if isinstance(op, Select):
        return {"channels": op.channels}
    return {}
