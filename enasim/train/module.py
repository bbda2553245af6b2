"""An enasim `Network` as a trainable PyTorch module with exactly the IR's shapes, MACs and
parameters.

Every IR op has a torch.nn counterpart: conv2d -> nn.Conv2d (groups, bias, stride, symmetric
padding), linear -> flatten + nn.Linear, batchnorm -> nn.BatchNorm2d (affine: the IR's 2 C
parameters; its running mean and variance are buffers, not parameters), activation -> the
function of that name (leaky_relu with slope 0.01), pool -> max/avg pooling over a window
padded with -inf / 0 and counted in the average (as `enasim.functional.ops.pool`) or a global
max/mean, add -> sum, concat -> torch.cat over channels, select -> the first `channels`
channels. Tensors stay (N, C, H, W) throughout (a linear layer's output is (N, F, 1, 1), its IR
shape (F, 1, 1)); the module's output is the last node's, flattened to (N, features).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from enasim.workload.ir import Activation, Conv2d, Linear, Network, Node, Pool, Select

ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "hardsigmoid": nn.Hardsigmoid,
    "hardswish": nn.Hardswish,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
}


class LinearNCHW(nn.Linear):
    """nn.Linear on a flattened (N, C, H, W) input; output (N, F, 1, 1) as the IR's (F, 1, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1))[:, :, None, None]


class PoolNCHW(nn.Module):
    """Max or average pooling as the IR defines it (`enasim.workload.ir.Pool`)."""

    def __init__(self, op: Pool):
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        op = self.op
        if op.global_pool:
            return x.amax((2, 3), keepdim=True) if op.mode == "max" else x.mean((2, 3), True)
        if op.padding:  # explicit, so that any padding works (torch allows <= kernel / 2)
            x = F.pad(x, (op.padding,) * 4, value=-torch.inf if op.mode == "max" else 0.0)
        s = op.stride or op.kernel
        return F.max_pool2d(x, op.kernel, s) if op.mode == "max" else F.avg_pool2d(x, op.kernel, s)


class Add(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, 1)


class SelectChannels(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.channels]


def layer_module(node: Node) -> nn.Module:
    """The torch.nn module computing one IR node (not the input)."""
    op = node.op
    c_in = node.in_shapes[0][0]
    if isinstance(op, Conv2d):
        return nn.Conv2d(
            c_in, op.out_channels, op.kernel, op.stride, op.padding, groups=op.groups, bias=op.bias
        )
    if isinstance(op, Linear):
        c, h, w = node.in_shapes[0]
        return LinearNCHW(c * h * w, op.out_features, bias=op.bias)
    if isinstance(op, Pool):
        return PoolNCHW(op)
    if isinstance(op, Activation):
        return ACTIVATION_MODULES[op.function]()
    if isinstance(op, Select):
        return SelectChannels(op.channels)
    if node.kind == "batchnorm":
        return nn.BatchNorm2d(c_in)
    if node.kind == "add":
        return Add()
    if node.kind == "concat":
        return Concat()
    raise AssertionError(f"no torch module for op {node.kind}")


class NetworkModule(nn.Module):
    """The network's nodes as `layers` (layers[i] computes node i + 1; node 0 is the input),
    run in the IR's topological order. Each intermediate output is released after its last
    reader, so memory holds only the live tensors (DenseNet skips keep many alive)."""

    def __init__(self, net: Network):
        super().__init__()
        self.network = net
        self.layers = nn.ModuleList(layer_module(n) for n in net.nodes[1:])
        index = {n.name: i for i, n in enumerate(net.nodes)}
        self._inputs = [tuple(index[s] for s in n.inputs) for n in net.nodes[1:]]
        last_read = {}
        for i, srcs in enumerate(self._inputs, 1):
            for s in srcs:
                last_read[s] = i
        # after computing node i, drop the outputs whose last reader is i
        self._release = [
            tuple(s for s, r in last_read.items() if r == i) for i in range(1, len(net.nodes))
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: dict[int, torch.Tensor] = {0: x}
        for i, (layer, srcs, release) in enumerate(
            zip(self.layers, self._inputs, self._release, strict=True), 1
        ):
            outs[i] = layer(*(outs[s] for s in srcs))
            for s in release:
                del outs[s]
        return outs[len(self.layers)].flatten(1)

    def weight_layers(self) -> list[tuple[Node, nn.Module]]:
        """(node, module) of every conv2d and linear layer, in network order."""
        return [
            (n, m)
            for n, m in zip(self.network.nodes[1:], self.layers, strict=True)
            if n.has_weights
        ]


def init_weights(module: NetworkModule) -> None:
    """torchvision's ResNet initialisation: He (Kaiming) normal conv2d weights in fan-out mode;
    linear weights PyTorch's default uniform(+-1/sqrt(in_features)); zero biases; batch norm
    scale 1, shift 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def to_torch(net: Network, seed: int = 0) -> NetworkModule:
    """The trainable module of `net`, initialised (`init_weights`) from `seed` alone: the
    global torch RNG is forked, so the caller's random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = NetworkModule(net)
        init_weights(module)
    return module


def export_weights(module: NetworkModule) -> dict[str, np.ndarray]:
    """The weights of every conv2d and linear layer, by layer name, as float32 arrays in
    PyTorch layout: conv2d (C_out, C_in / groups, kh, kw), linear (out_features, in_features),
    the layout `enasim infer --weights` reads once quantised."""
    return {
        n.name: m.weight.detach().cpu().numpy().astype(np.float32, copy=True)
        for n, m in module.weight_layers()
    }
