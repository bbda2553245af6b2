"""Network IR: a DAG of layers (a networkx DiGraph on demand), with shapes inferred and checked
as layers are added.

Shapes are (channels, height, width). A `Network` is immutable once built; build one with
`NetworkBuilder` (code) or `enasim.workload.load_workload` (YAML file or zoo name).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from enasim.errors import ConfigError, suggest

if TYPE_CHECKING:
    import networkx as nx

Shape = tuple[int, int, int]


class Op:
    """Base of all operators: shape inference plus MAC and parameter counts."""

    kind: ClassVar[str]
    has_weights: ClassVar[bool] = False
    n_inputs: ClassVar[int | None] = 1  # None: two or more

    def infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        """Output shape; element-wise ops keep their input's shape."""
        return in_shapes[0]

    def macs(self, in_shapes: tuple[Shape, ...], out: Shape) -> int:
        return 0

    def params(self, in_shapes: tuple[Shape, ...], out: Shape) -> int:
        return 0


def _window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class Input(Op):
    """The network input tensor."""

    shape: Shape
    kind: ClassVar[str] = "input"
    n_inputs: ClassVar[int | None] = 0

    def infer(self, in_shapes):
        return self.shape


@dataclass(frozen=True)
class Conv2d(Op):
    """2-D convolution; `groups == in_channels` is a depthwise convolution."""

    out_channels: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: int = 0
    groups: int = 1
    bias: bool = False
    in_channels: int | None = None  # optional: checked against the inferred input
    kind: ClassVar[str] = "conv2d"
    has_weights: ClassVar[bool] = True

    def infer(self, in_shapes):
        c, h, w = in_shapes[0]
        if self.in_channels is not None and self.in_channels != c:
            raise ValueError(f"in_channels is {self.in_channels} but the input has {c} channels")
        if c % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"groups={self.groups} must divide in_channels={c} and "
                f"out_channels={self.out_channels}"
            )
        kh, kw = self.kernel
        ho = _window_out(h, kh, self.stride, self.padding)
        wo = _window_out(w, kw, self.stride, self.padding)
        if ho < 1 or wo < 1:
            raise ValueError(
                f"kernel {kh}x{kw} with padding {self.padding} does not fit the {h}x{w} input"
            )
        return (self.out_channels, ho, wo)

    def macs(self, in_shapes, out):
        c_in = in_shapes[0][0]
        kh, kw = self.kernel
        return out[0] * (c_in // self.groups) * kh * kw * out[1] * out[2]

    def params(self, in_shapes, out):
        kh, kw = self.kernel
        n = self.out_channels * (in_shapes[0][0] // self.groups) * kh * kw
        return n + (self.out_channels if self.bias else 0)


@dataclass(frozen=True)
class Linear(Op):
    """Fully connected layer; a (C, H, W) input is flattened to C*H*W features."""

    out_features: int
    bias: bool = False
    in_features: int | None = None
    kind: ClassVar[str] = "linear"
    has_weights: ClassVar[bool] = True

    def infer(self, in_shapes):
        c, h, w = in_shapes[0]
        if self.in_features is not None and self.in_features != c * h * w:
            raise ValueError(
                f"in_features is {self.in_features} but the input {c}x{h}x{w} flattens to "
                f"{c * h * w}"
            )
        return (self.out_features, 1, 1)

    def macs(self, in_shapes, out):
        c, h, w = in_shapes[0]
        return c * h * w * self.out_features

    def params(self, in_shapes, out):
        c, h, w = in_shapes[0]
        return c * h * w * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class Pool(Op):
    """Max or average pooling; `global_pool` reduces each channel to 1x1."""

    mode: str  # "max" | "avg"
    kernel: int = 2
    stride: int | None = None  # defaults to the kernel size
    padding: int = 0
    global_pool: bool = False
    kind: ClassVar[str] = "pool"

    def infer(self, in_shapes):
        c, h, w = in_shapes[0]
        if self.global_pool:
            return (c, 1, 1)
        s = self.stride or self.kernel
        ho, wo = (_window_out(h, self.kernel, s, self.padding),
                  _window_out(w, self.kernel, s, self.padding))
        if ho < 1 or wo < 1:
            raise ValueError(f"pooling window {self.kernel} does not fit the {h}x{w} input")
        return (c, ho, wo)

    def window(self, in_shape: Shape) -> int:
        """Input elements read per output element."""
        return in_shape[1] * in_shape[2] if self.global_pool else self.kernel * self.kernel


@dataclass(frozen=True)
class Add(Op):
    """Element-wise sum of two or more tensors of one shape (residual connections)."""

    kind: ClassVar[str] = "add"
    n_inputs: ClassVar[int | None] = None

    def infer(self, in_shapes):
        if len(set(in_shapes)) != 1:
            raise ValueError(f"inputs of an add must have one shape, got {list(in_shapes)}")
        return in_shapes[0]


@dataclass(frozen=True)
class Concat(Op):
    """Channel concatenation of two or more tensors of one height and width (dense skips)."""

    kind: ClassVar[str] = "concat"
    n_inputs: ClassVar[int | None] = None

    def infer(self, in_shapes):
        if len({s[1:] for s in in_shapes}) != 1:
            raise ValueError(
                f"inputs of a concat must have one height and width, got {list(in_shapes)}"
            )
        return (sum(s[0] for s in in_shapes), *in_shapes[0][1:])


@dataclass(frozen=True)
class Activation(Op):
    """Element-wise non-linearity, executed by the tile's activation unit."""

    function: str = "relu"
    kind: ClassVar[str] = "activation"


@dataclass(frozen=True)
class BatchNorm(Op):
    """Per-channel scale and shift (2 parameters per channel), done by a digital unit.

    Kept as its own layer where it cannot be folded into the preceding conv (pre-activation
    networks such as the FLASH DenseNet family).
    """

    kind: ClassVar[str] = "batchnorm"

    def params(self, in_shapes, out):
        return 2 * in_shapes[0][0]


@dataclass(frozen=True)
class Select(Op):
    """A fixed subset of `channels` input channels (dense-skip channel sampling)."""

    channels: int
    kind: ClassVar[str] = "select"

    def infer(self, in_shapes):
        c, h, w = in_shapes[0]
        if not 1 <= self.channels <= c:
            raise ValueError(f"cannot select {self.channels} of {c} channels")
        return (self.channels, h, w)


OPS: dict[str, type[Op]] = {
    cls.kind: cls
    for cls in (Conv2d, Linear, Pool, Add, Concat, Activation, BatchNorm, Select)
}
# hardsigmoid, hardswish and leaky_relu (slope 0.01) are PyTorch's functions of those names
ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "hardsigmoid", "hardswish", "leaky_relu")


@dataclass(frozen=True)
class Node:
    """One layer of a built network, with its inferred shapes."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape

    @property
    def kind(self) -> str:
        return self.op.kind

    @property
    def has_weights(self) -> bool:
        return self.op.has_weights

    @property
    def macs(self) -> int:
        return self.op.macs(self.in_shapes, self.out_shape)

    @property
    def params(self) -> int:
        return self.op.params(self.in_shapes, self.out_shape)

    @property
    def kernel(self) -> tuple[int, int]:
        return self.op.kernel if isinstance(self.op, Conv2d) else (1, 1)

    @property
    def stride(self) -> int:
        return self.op.stride if isinstance(self.op, Conv2d) else 1

    @property
    def groups(self) -> int:
        return self.op.groups if isinstance(self.op, Conv2d) else 1

    @property
    def weight_rows(self) -> int:
        """Rows of the unrolled weight matrix: inputs of one dot product (K*K*C_in/groups)."""
        c, h, w = self.in_shapes[0]
        if isinstance(self.op, Linear):
            return c * h * w
        kh, kw = self.kernel
        return kh * kw * c // self.op.groups

    @property
    def weight_cols(self) -> int:
        """Columns of the unrolled weight matrix: output channels / features."""
        return self.out_shape[0]

    def input_vectors(self, unpadded: bool = False) -> int:
        """Input vectors applied to the crossbars: one per output pixel.

        `unpadded` counts them as NeuroSim does, (H-K+1)(W-K+1)/stride^2, as if the
        convolution had no padding (DESIGN section 4).
        """
        if isinstance(self.op, Linear):
            return 1
        if unpadded:
            _, h, w = self.in_shapes[0]
            kh, kw = self.kernel
            return max(1, (h - kh + 1) * (w - kw + 1) // (self.stride**2))
        return self.out_shape[1] * self.out_shape[2]


class Network:
    """An immutable DNN: nodes in topological order; `graph` is the same as a networkx DiGraph
    (built on first use, so that loading and simulating a network does not import networkx)."""

    def __init__(self, name: str, nodes: list[Node]):
        self.name = name
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self._by_name = {n.name: n for n in nodes}
        self._consumers: dict[str, list[str]] = {n.name: [] for n in nodes}
        for n in nodes:
            for src in dict.fromkeys(n.inputs):
                self._consumers.setdefault(src, []).append(n.name)

    @cached_property
    def graph(self) -> nx.DiGraph:
        import networkx as nx

        graph = nx.DiGraph()
        for n in self.nodes:
            graph.add_node(n.name, node=n)
            for src in n.inputs:
                graph.add_edge(src, n.name)
        return graph

    def __getitem__(self, name: str) -> Node:
        return self._by_name[name]

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def input_shape(self) -> Shape:
        return self.nodes[0].out_shape

    @property
    def weight_layers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.has_weights)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    def consumers(self, name: str) -> list[str]:
        """Names of the nodes reading `name`'s output, in network order."""
        return list(self._consumers[name])


class NetworkBuilder:
    """Adds layers one at a time, inferring and checking shapes as it goes.

    `source` names where the layers come from (a file), for error messages.
    """

    def __init__(self, name: str, input_shape: Shape, source: str = ""):
        self.name, self.source = name, source
        if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
            raise ConfigError(source, "input", f"expected [channels, height, width] >= 1, "
                              f"got {list(input_shape)}")
        self._nodes = [Node("input", Input(tuple(input_shape)), (), (), tuple(input_shape))]
        self._shapes: dict[str, Shape] = {"input": tuple(input_shape)}  # output shape by name

    @property
    def last(self) -> str:
        return self._nodes[-1].name

    def shape(self, name: str) -> Shape:
        return self._shapes[name]

    def add(self, name: str, op: Op, inputs: str | list[str] | tuple[str, ...] | None = None,
            field: str | None = None) -> str:
        """Append layer `name` reading `inputs` (default: the previous layer); returns `name`."""
        field = field or f"layer '{name}'"
        if name in self._shapes:
            raise ConfigError(self.source, field, f"duplicate layer name '{name}'")
        if inputs is None:
            inputs = (self.last,)
        elif isinstance(inputs, str):
            inputs = (inputs,)
        inputs = tuple(inputs)
        for src in inputs:
            if src not in self._shapes:
                raise ConfigError(self.source, field, f"input '{src}' is not an earlier layer"
                                  + suggest(src, self._shapes))
        if op.n_inputs is None and len(inputs) < 2:
            raise ConfigError(self.source, field, f"a {op.kind} needs two or more inputs, "
                              f"got {len(inputs)}")
        if op.n_inputs is not None and len(inputs) != op.n_inputs:
            raise ConfigError(self.source, field, f"a {op.kind} takes {op.n_inputs} input, "
                              f"got {len(inputs)}")
        in_shapes = tuple(self.shape(s) for s in inputs)
        try:
            out = op.infer(in_shapes)
        except ValueError as exc:
            raise ConfigError(self.source, field, f"shape mismatch: {exc}") from None
        self._nodes.append(Node(name, op, inputs, in_shapes, out))
        self._shapes[name] = out
        return name

    def build(self) -> Network:
        if not any(n.has_weights for n in self._nodes):
            raise ConfigError(self.source, "layers", "the network has no conv2d or linear layer")
        return Network(self.name, self._nodes)
