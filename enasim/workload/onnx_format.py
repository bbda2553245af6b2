"""ONNX models as workloads: the graph of an ONNX model (a `.onnx` file, its bytes or an
`onnx.ModelProto`, as `enasim.workload.from_torch` exports one) translated node by node into
the IR.

The `onnx` package is an optional extra (`pip install "enasim[onnx]"`), imported only when an
ONNX model is read. Each supported ONNX node becomes one IR layer (BatchNormalization an IR
`batchnorm` layer, 2 parameters per channel, as the zoo's resnet18.yaml counts it); Identity,
Dropout, Flatten, Reshape (of a feature map into a vector), Pad (folded into the next Conv's
padding) and Constant add no layer, nor do Shape, Gather, Unsqueeze, Squeeze, Slice and a
Concat of shapes, which are evaluated on the static shapes (PyTorch's `x.view(x.size(0), -1)`
exports such a chain into a Reshape). Anything the IR cannot represent exactly is refused,
naming the node, never approximated. The shapes ONNX's own shape inference gives every tensor
are checked against the IR's inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enasim.errors import ConfigError
from enasim.fileio import read_bytes
from enasim.workload.ir import (
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
)

# protobuf's own limit on one message; larger models keep their weights in external files
ONNX_LIMIT = 2 << 30
SUPPORTED = (
    "Conv",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "Relu",
    "Clip",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "LeakyRelu",
    "Tanh",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Add",
    "Concat",
    "Flatten",
    "Reshape",
    "Pad",
    "Identity",
    "Dropout",
    "Constant",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Slice",
)


class _Batch:
    """The symbolic batch size N inside a shape computed from the static ones (the `Shape` of a
    tensor when the graph's input has a symbolic batch): it may only become the first dimension
    of a Reshape's target, where it stands for one image."""

    def __repr__(self) -> str:
        return "N"


BATCH = _Batch()


def _shape_value(value: Any) -> np.ndarray:
    """`value` as an array; one of objects only while it holds BATCH."""
    value = np.asarray(value)
    if value.dtype == object and not any(v is BATCH for v in value.flat):
        return value.astype(np.int64)
    return value


@dataclass(frozen=True)
class _Tensor:
    """An ONNX tensor known to the translation: the IR layer holding its values, whether ONNX
    sees it as a (N, C, H, W) feature map or a flattened (N, F) vector, and (a Pad's output)
    the zero padding still to fold into the Conv that reads it."""

    layer: str
    vector: bool = False
    pad: int = 0


def load_onnx(
    source: str | Path | bytes | Any, name: str | None = None, label: str | None = None
) -> Network:
    """An ONNX model as a Network (layer names: the ONNX node names). `source` is a file's
    path, a serialised model (bytes) or an `onnx.ModelProto`; `name` names the network
    (default: the file's stem, else the graph's name); `label` stands for the model in error
    messages (default: the path, else '<ONNX model>')."""
    return _translate(source, name, label).network


def onnx_weights(
    source: str | Path | bytes | Any, net: Network, weight_bits: int, label: str | None = None
) -> dict[str, np.ndarray]:
    """Integer weights of `net`'s weight layers from the initializers of the ONNX model
    `source` (as for `load_onnx`; its graph must give the same weight layers), in PyTorch
    layout.

    Scheme: symmetric per layer, scale = max|w| / (2^(weight_bits-1) - 1), q = round(w / scale),
    so every layer spans [-(2^(b-1)-1), 2^(b-1)-1] (an all-zero layer stays 0). Biases are not
    used (the crossbars hold no bias).
    """
    from enasim.functional.ops import weight_shape

    t = _translate(source, None, label)
    top = (1 << (weight_bits - 1)) - 1
    out = {}
    for node in net.weight_layers:
        if node.name not in t.weight_of:
            raise ConfigError(
                t.src,
                node.name,
                f"no weight layer '{node.name}' in the "
                f"ONNX graph (weight layers: {', '.join(t.weight_of)})",
            )
        init, transpose = t.weight_of[node.name]
        w = t.np_helper.to_array(t.consts[init]).astype(np.float64)
        w = w.T if transpose else w
        want = weight_shape(node)
        if w.shape != want:
            raise ConfigError(
                t.src,
                node.name,
                f"weights of shape {list(w.shape)}, the layer needs {list(want)}",
            )
        peak = float(np.abs(w).max()) if w.size else 0.0
        if not math.isfinite(peak):
            raise ConfigError(t.src, node.name, "weights are not all finite")
        q = np.rint(w * (top / peak)) if peak > 0 else np.zeros_like(w)
        out[node.name] = np.clip(q, -top, top).astype(np.int64)
    return out


def _translate(source: str | Path | bytes | Any, name: str | None, label: str | None):
    """The translation of an ONNX model (its network in `.network`); arguments as `load_onnx`'s."""
    is_path = isinstance(source, (str, Path))
    src = label or (str(source) if is_path else "<ONNX model>")
    stem = Path(source).stem if is_path else ""
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        raise ConfigError(
            src, "", 'reading an ONNX model needs the onnx package: pip install "enasim[onnx]"'
        ) from None
    if is_path:
        source = read_bytes(source, ONNX_LIMIT, "2 GB, protobuf's limit for one ONNX file")
    elif not isinstance(source, (bytes, onnx.ModelProto)):
        raise ConfigError(
            src,
            "",
            f"expected the path of an ONNX file, its bytes or an onnx.ModelProto, "
            f"got {type(source).__name__}",
        )
    try:
        model = source
        if isinstance(model, bytes):
            model = onnx.load_model_from_string(model)
        onnx.checker.check_model(model)
        # not strict: a tensor ONNX cannot infer keeps its declared shape, which the IR's
        # inference is then checked against, naming the node
        model = shape_inference.infer_shapes(model)
    except Exception as exc:  # DecodeError, ValidationError: all say malformed
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(src, "", f"not a valid ONNX model: {first}") from None
    if not model.graph.node:
        raise ConfigError(src, "", "not a valid ONNX model: the graph has no nodes")
    t = _Translator(src, model, numpy_helper)
    t.network = t.run(name or stem or model.graph.name or "onnx")
    return t


class _Translator:
    def __init__(self, src: str, model: Any, numpy_helper: Any):
        self.src, self.graph, self.np_helper = src, model.graph, numpy_helper
        self.consts: dict[str, Any] = {t.name: t for t in self.graph.initializer}
        self.tensors: dict[str, _Tensor] = {}
        # tensors computed from the static shapes (Shape, Gather, ...): small integer arrays
        self.values: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int | None, ...]] = {}
        for vi in (*self.graph.value_info, *self.graph.output, *self.graph.input):
            dims = vi.type.tensor_type.shape.dim
            self.shapes[vi.name] = tuple(
                d.dim_value if d.HasField("dim_value") else None for d in dims
            )
        self.names: set[str] = {"input"}
        # weight layer -> (initializer, whether it is stored transposed to PyTorch's layout)
        self.weight_of: dict[str, tuple[str, bool]] = {}
        self.network: Network | None = None

    def run(self, name: str) -> Network:
        inputs = [vi for vi in self.graph.input if vi.name not in self.consts]
        if len(inputs) != 1:
            raise ConfigError(
                self.src,
                "graph.input",
                f"expected one input tensor (N, C, H, W), "
                f"got {len(inputs)}: {', '.join(vi.name for vi in inputs)}",
            )
        vi = inputs[0]
        dims = vi.type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(shape) != 4 or shape[0] not in (1, None) or None in shape[1:]:
            shown = ["?" if d is None else d for d in shape]
            raise ConfigError(
                self.src,
                f"graph.input ({vi.name})",
                f"expected a (N, C, H, W) "
                f"input with N = 1 or symbolic and fixed C, H, W, got {shown}",
            )
        self.b = NetworkBuilder(name, tuple(shape[1:]), source=self.src)
        self.batch = 1 if shape[0] == 1 else BATCH
        self.tensors[vi.name] = _Tensor("input")
        for index, node in enumerate(self.graph.node):
            self.node(index, node)
        return self.b.build()

    # --- helpers -------------------------------------------------------------------------

    def fail(self, index: int, node: Any, message: str):
        raise ConfigError(self.src, f"node {index} ({node.name or node.op_type})", message)

    def attr(self, node: Any, name: str, default: Any = None) -> Any:
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def const(self, index: int, node: Any, name: str, what: str, batch: bool = False) -> np.ndarray:
        """The value of a constant: an initializer, a Constant node or a shape computed from
        the static shapes (holding the symbolic batch size only if `batch`)."""
        if name in self.values:
            value = self.values[name]
            if value.dtype == object and not batch:
                self.fail(index, node, f"{what} '{name}' depends on the symbolic batch size N")
            return value
        if name not in self.consts:
            self.fail(
                index,
                node,
                f"{what} '{name}' must be a constant (an initializer, a Constant node or a "
                f"shape computed from the static shapes)",
            )
        return self.np_helper.to_array(self.consts[name])

    def dims(self, index: int, node: Any, name: str, what: str) -> tuple[int, ...]:
        """Shape of a constant, from its header (weights are not read)."""
        if name not in self.consts:
            self.fail(index, node, f"{what} '{name}' must be a constant (an initializer)")
        return tuple(int(d) for d in self.consts[name].dims)

    def source(self, index: int, node: Any, name: str) -> _Tensor:
        if name in self.consts or name in self.values:
            self.fail(index, node, f"input '{name}' is a constant where a feature map is expected")
        if name not in self.tensors:
            self.fail(index, node, f"input '{name}' is produced by no supported earlier node")
        t = self.tensors[name]
        if t.pad and node.op_type != "Conv":
            self.fail(
                index,
                node,
                f"reads the output of a Pad; a Pad is supported only "
                f"before a Conv (folded into its padding), not before {node.op_type}",
            )
        return t

    def layer_name(self, index: int, node: Any) -> str:
        name = (
            node.name
            if node.name and node.name not in self.names
            else f"{node.op_type.lower()}_{index}"
        )
        while name in self.names:
            name += "_"
        self.names.add(name)
        return name

    def emit(
        self, index: int, node: Any, op: Op, inputs: list[_Tensor], vector: bool = False
    ) -> str:
        """Add the IR layer of `node`, check its shape against ONNX's; returns its name."""
        name = self.layer_name(index, node)
        field = f"node {index} ({node.name or node.op_type})"
        self.b.add(name, op, [t.layer for t in inputs], field=field)
        out = self.b.shape(name)
        self.check_shape(index, node, node.output[0], out, vector)
        self.tensors[node.output[0]] = _Tensor(name, vector)
        return name

    def check_shape(
        self, index: int, node: Any, tensor: str, out: tuple[int, int, int], vector: bool
    ) -> None:
        onnx_shape = self.shapes.get(tensor)
        if onnx_shape is None or None in onnx_shape[1:]:
            return  # ONNX could not infer it: the IR's shape stands alone
        ir = (math.prod(out),) if vector else out
        if tuple(onnx_shape[1:]) != ir:
            self.fail(
                index,
                node,
                f"shape mismatch: ONNX gives '{tensor}' shape "
                f"{list(onnx_shape)}, the IR infers [N, {', '.join(map(str, ir))}]",
            )

    def square(self, index: int, node: Any, values: list[int], what: str) -> int:
        if len(set(values)) != 1:
            self.fail(
                index,
                node,
                f"{what} {values} differ between height and width; only equal ones are supported",
            )
        return values[0]

    def pads(self, index: int, node: Any, k: int) -> int:
        auto = self.attr(node, "auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto not in ("NOTSET", "VALID"):
            self.fail(index, node, f"auto_pad {auto} is not supported (give explicit pads)")
        pads = list(self.attr(node, "pads", [0] * 2 * k))
        return self.square(index, node, pads, "pads (begin and end)")

    # --- nodes -------------------------------------------------------------------------

    def node(self, index: int, node: Any) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx") or op not in SUPPORTED:
            domain = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
            self.fail(
                index,
                node,
                f"op type '{domain}{op}' is not supported; supported: {', '.join(SUPPORTED)}",
            )
        getattr(self, f"op_{op}")(index, node)

    def op_Constant(self, index, node):
        value = self.attr(node, "value")
        if value is None:
            self.fail(index, node, "only a Constant with a tensor 'value' is supported")
        self.consts[node.output[0]] = value

    def op_Identity(self, index, node):
        name, out = node.input[0], node.output[0]
        if name in self.consts:  # PyTorch's exporter aliases equal initializers this way
            self.consts[out] = self.consts[name]
        elif name in self.values:
            self.values[out] = self.values[name]
        else:
            self.tensors[out] = self.source(index, node, name)

    op_Dropout = op_Identity

    def op_Conv(self, index, node):
        x = self.source(index, node, node.input[0])
        if x.vector:
            self.fail(index, node, "a Conv needs a feature map input, not a flattened vector")
        w = self.dims(index, node, node.input[1], "weight")
        if len(w) != 4:
            self.fail(index, node, f"only 2-D convolutions are supported (weight shape {list(w)})")
        if any(d != 1 for d in self.attr(node, "dilations", [1, 1])):
            self.fail(
                index,
                node,
                f"dilations {list(self.attr(node, 'dilations'))} are not supported (only 1)",
            )
        groups = self.attr(node, "group", 1)
        c_in = self.b.shape(x.layer)[0]
        if w[1] * groups != c_in:
            self.fail(
                index,
                node,
                f"weight shape {list(w)} with group={groups} needs "
                f"{w[1] * groups} input channels, the input has {c_in}",
            )
        stride = self.square(index, node, list(self.attr(node, "strides", [1, 1])), "strides")
        op = Conv2d(
            out_channels=w[0],
            kernel=(w[2], w[3]),
            stride=stride,
            padding=self.pads(index, node, 2) + x.pad,
            groups=groups,
            bias=len(node.input) > 2 and bool(node.input[2]),
        )
        self.weight_of[self.emit(index, node, op, [x])] = (node.input[1], False)

    def op_Pad(self, index, node):
        x = self.source(index, node, node.input[0])
        mode = self.attr(node, "mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if len(node.input) > 1:
            pads = [int(p) for p in self.const(index, node, node.input[1], "pads")]
            value = node.input[2] if len(node.input) > 2 else ""
            fill = float(self.const(index, node, value, "constant_value")) if value else 0.0
            if len(node.input) > 3 and node.input[3]:
                self.fail(index, node, "a Pad with axes is not supported")
        else:  # opset < 11: attributes
            pads, fill = list(self.attr(node, "pads", [])), self.attr(node, "value", 0.0)
        if (
            mode != "constant"
            or fill != 0.0
            or x.vector
            or len(pads) != 8
            or any(pads[i] for i in (0, 1, 4, 5))
            or len(set(pads[2:4] + pads[6:8])) != 1
        ):
            self.fail(
                index,
                node,
                f"only a zero Pad of height and width by one amount on all "
                f"sides is supported (mode {mode}, value {fill}, pads {pads})",
            )
        self.tensors[node.output[0]] = _Tensor(x.layer, pad=x.pad + pads[2])

    def op_BatchNormalization(self, index, node):
        if len([o for o in node.output if o]) > 1:
            self.fail(index, node, "a BatchNormalization in training mode is not supported")
        x = self.source(index, node, node.input[0])
        self.emit(index, node, BatchNorm(), [x], x.vector)

    def activation(self, index, node, function: str):
        x = self.source(index, node, node.input[0])
        self.emit(index, node, Activation(function), [x], x.vector)

    def op_Relu(self, index, node):
        self.activation(index, node, "relu")

    def op_Sigmoid(self, index, node):
        self.activation(index, node, "sigmoid")

    def op_Tanh(self, index, node):
        self.activation(index, node, "tanh")

    def op_HardSwish(self, index, node):
        self.activation(index, node, "hardswish")

    def op_Clip(self, index, node):
        if len(node.input) > 1:  # opset >= 11: min and max are inputs
            lo = float(self.const(index, node, node.input[1], "min")) if node.input[1] else None
            hi = (
                float(self.const(index, node, node.input[2], "max"))
                if len(node.input) > 2 and node.input[2]
                else None
            )
        else:
            lo, hi = self.attr(node, "min"), self.attr(node, "max")
        function = {(0.0, None): "relu", (0.0, 6.0): "relu6"}.get((lo, hi))
        if function is None:
            self.fail(
                index,
                node,
                f"a Clip to [{lo}, {hi}] is not supported (only [0, inf], ReLU, and [0, 6], ReLU6)",
            )
        self.activation(index, node, function)

    def op_HardSigmoid(self, index, node):
        alpha, beta = self.attr(node, "alpha", 0.2), self.attr(node, "beta", 0.5)
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5):
            self.fail(
                index,
                node,
                f"a HardSigmoid with alpha={alpha}, beta={beta} is not "
                f"supported (only PyTorch's, alpha=1/6, beta=0.5)",
            )
        self.activation(index, node, "hardsigmoid")

    def op_LeakyRelu(self, index, node):
        alpha = self.attr(node, "alpha", 0.01)
        if not math.isclose(alpha, 0.01, rel_tol=1e-6):
            self.fail(
                index,
                node,
                f"a LeakyRelu with alpha={alpha} is not supported (only "
                f"PyTorch's default slope 0.01)",
            )
        self.activation(index, node, "leaky_relu")

    def pool(self, index, node, mode: str):
        x = self.source(index, node, node.input[0])
        if x.vector:
            self.fail(index, node, "pooling needs a feature map input, not a flattened vector")
        kernel = self.square(index, node, list(self.attr(node, "kernel_shape")), "kernel_shape")
        stride = self.square(index, node, list(self.attr(node, "strides", [1, 1])), "strides")
        padding = self.pads(index, node, 2)
        if self.attr(node, "ceil_mode", 0):
            self.fail(index, node, "ceil_mode=1 is not supported (output sizes round down)")
        if any(d != 1 for d in self.attr(node, "dilations", [1, 1])):
            self.fail(index, node, "dilated pooling is not supported")
        if mode == "avg" and padding and not self.attr(node, "count_include_pad", 0):
            self.fail(
                index,
                node,
                "a padded AveragePool must count the padding "
                "(count_include_pad=1, PyTorch's default), as enasim's pooling does",
            )
        op = Pool(mode, kernel=kernel, stride=None if stride == kernel else stride, padding=padding)
        self.emit(index, node, op, [x])

    def op_MaxPool(self, index, node):
        if len([o for o in node.output if o]) > 1:
            self.fail(index, node, "a MaxPool with an indices output is not supported")
        self.pool(index, node, "max")

    def op_AveragePool(self, index, node):
        self.pool(index, node, "avg")

    def global_pool(self, index, node, mode: str):
        x = self.source(index, node, node.input[0])
        if x.vector:
            self.fail(index, node, "pooling needs a feature map input, not a flattened vector")
        self.emit(index, node, Pool(mode, global_pool=True), [x])

    def op_GlobalAveragePool(self, index, node):
        self.global_pool(index, node, "avg")

    def op_GlobalMaxPool(self, index, node):
        self.global_pool(index, node, "max")

    def op_Add(self, index, node):
        xs = [self.source(index, node, name) for name in node.input]
        if len({t.vector for t in xs}) != 1:
            self.fail(index, node, "adds a feature map to a flattened vector")
        self.emit(index, node, Add(), xs, xs[0].vector)

    def op_Concat(self, index, node):
        if not any(name in self.tensors for name in node.input):  # a Concat of shapes
            xs = self.shape_inputs(index, node)
            self.evaluate(index, node, lambda: np.concatenate(xs, axis=self.attr(node, "axis")))
            return
        xs = [self.source(index, node, name) for name in node.input]
        vector = xs[0].vector
        if len({t.vector for t in xs}) != 1 or self.attr(node, "axis") not in (
            (1, -1) if vector else (1, -3)
        ):
            self.fail(
                index,
                node,
                f"only a Concat of feature maps along channels (axis 1) is "
                f"supported, got axis {self.attr(node, 'axis')}",
            )
        self.emit(index, node, Concat(), xs, vector)

    def flatten(self, index, node, x: _Tensor) -> None:
        self.tensors[node.output[0]] = _Tensor(x.layer, vector=True)
        self.check_shape(index, node, node.output[0], self.b.shape(x.layer), True)

    def op_Flatten(self, index, node):
        x = self.source(index, node, node.input[0])
        if self.attr(node, "axis", 1) != 1:
            self.fail(
                index,
                node,
                f"only Flatten with axis=1 (a feature map into one vector "
                f"per image) is supported, got axis {self.attr(node, 'axis')}",
            )
        self.flatten(index, node, x)

    def op_Reshape(self, index, node):
        x = self.source(index, node, node.input[0])
        target = self.const(index, node, node.input[1], "shape", batch=True)
        target = [d if d is BATCH else int(d) for d in target]
        c, h, w = self.b.shape(x.layer)
        dims = [1, c * h * w] if x.vector else [1, c, h, w]  # a copy-dim 0 reads these
        resolved = [dims[i] if d == 0 and i < len(dims) else d for i, d in enumerate(target)]
        if (
            len(resolved) != 2
            or resolved[0] not in (1, -1, BATCH)
            or resolved[1] not in (-1, c * h * w)
            or resolved == [-1, -1]
        ):
            self.fail(
                index,
                node,
                f"only a Reshape of the input into one vector per image, "
                f"[1, {c * h * w}], is supported, got shape {target}",
            )
        self.flatten(index, node, x)

    def linear(
        self,
        index,
        node,
        x: _Tensor,
        out_features: int,
        in_features: int,
        bias: bool,
        transposed: bool,
    ):
        """A Linear layer; `transposed`: the weight is stored (in, out), not PyTorch's (out, in)."""
        if not x.vector:
            self.fail(
                index,
                node,
                f"a {node.op_type} needs a flattened vector input (Flatten or "
                f"Reshape the feature map first)",
            )
        op = Linear(out_features=out_features, bias=bias)
        c, h, w = self.b.shape(x.layer)
        if in_features != c * h * w:
            self.fail(index, node, f"weight of {in_features} inputs for a vector of {c * h * w}")
        self.weight_of[self.emit(index, node, op, [x], vector=True)] = (node.input[1], transposed)

    def op_Gemm(self, index, node):
        x = self.source(index, node, node.input[0])
        w = self.dims(index, node, node.input[1], "weight B")
        alpha, beta = self.attr(node, "alpha", 1.0), self.attr(node, "beta", 1.0)
        if self.attr(node, "transA", 0) or alpha != 1.0 or beta != 1.0 or len(w) != 2:
            self.fail(
                index,
                node,
                "only Gemm with transA=0, alpha=1, beta=1 and a 2-D weight "
                "(a Linear layer) is supported",
            )
        bias = len(node.input) > 2 and bool(node.input[2])
        if bias:
            self.dims(index, node, node.input[2], "bias C")
        trans_b = bool(self.attr(node, "transB", 0))
        out_f, in_f = w if trans_b else w[::-1]
        self.linear(index, node, x, out_f, in_f, bias, transposed=not trans_b)

    def op_MatMul(self, index, node):
        x = self.source(index, node, node.input[0])
        w = self.dims(index, node, node.input[1], "weight B")
        if len(w) != 2:
            self.fail(
                index, node, f"only a MatMul by a 2-D constant weight is supported, got {list(w)}"
            )
        self.linear(index, node, x, w[1], w[0], bias=False, transposed=True)

    # --- shapes: evaluated on the static shapes, as `x.view(x.size(0), -1)` computes them ------

    def shape_inputs(self, index, node) -> list[np.ndarray | None]:
        """A shape op's inputs (None for an omitted optional one): constants or shapes computed
        earlier, never a feature map."""
        for name in node.input:
            if name in self.tensors:
                self.fail(
                    index,
                    node,
                    f"a {node.op_type} of a feature map is not supported (only of shapes and "
                    f"constants, as x.view(x.size(0), -1) computes them)",
                )
        return [self.const(index, node, n, "input", batch=True) if n else None for n in node.input]

    def evaluate(self, index, node, compute) -> None:
        """Store `compute()` as the value of the node's output."""
        try:
            self.values[node.output[0]] = _shape_value(compute())
        except (ValueError, IndexError, TypeError) as exc:
            self.fail(index, node, f"cannot evaluate it on the static shapes: {exc}")

    def op_Shape(self, index, node):
        name = node.input[0]
        if name in self.tensors:
            x = self.source(index, node, name)
            c, h, w = self.b.shape(x.layer)
            dims = [self.batch, c * h * w] if x.vector else [self.batch, c, h, w]
        else:
            dims = list(self.const(index, node, name, "input", batch=True).shape)
        start, end = self.attr(node, "start", 0), self.attr(node, "end")
        self.evaluate(index, node, lambda: np.array(dims[start:end], dtype=object))

    def op_Gather(self, index, node):
        data, indices = self.shape_inputs(index, node)
        axis = self.attr(node, "axis", 0)
        self.evaluate(index, node, lambda: np.take(data, indices.astype(np.int64), axis=axis))

    def axes(self, node, inputs: list[np.ndarray | None]) -> tuple[int, ...] | None:
        """The `axes` of an Unsqueeze or Squeeze: its second input (opset >= 13) or attribute."""
        axes = inputs[1] if len(inputs) > 1 else self.attr(node, "axes")
        return None if axes is None else tuple(int(a) for a in axes)

    def op_Unsqueeze(self, index, node):
        xs = self.shape_inputs(index, node)
        self.evaluate(index, node, lambda: np.expand_dims(xs[0], self.axes(node, xs)))

    def op_Squeeze(self, index, node):
        xs = self.shape_inputs(index, node)
        self.evaluate(index, node, lambda: np.squeeze(xs[0], self.axes(node, xs)))

    def op_Slice(self, index, node):
        xs = self.shape_inputs(index, node)
        if len(xs) > 1:  # opset >= 10: starts, ends, axes, steps are inputs
            starts, ends, axes, steps = (xs[1:] + [None] * 4)[:4]
        else:
            starts, ends, axes = (self.attr(node, k) for k in ("starts", "ends", "axes"))
            steps = None

        def compute():
            # Python's slicing clamps starts and ends as ONNX's Slice does
            where = [slice(None)] * xs[0].ndim
            axes_ = range(len(starts)) if axes is None else axes
            steps_ = [1] * len(starts) if steps is None else steps
            for a, s, e, k in zip(axes_, starts, ends, steps_, strict=True):
                where[int(a)] = slice(int(s), int(e), int(k))
            return xs[0][tuple(where)]

        self.evaluate(index, node, compute)
