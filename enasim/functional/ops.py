"""The tensor side of functional inference: unrolling layers into crossbar input vectors, and
the digital layers (pooling, activation, batch norm, add, concat, select) in numpy.

Tensors are (N, C, H, W) arrays. The rows of an unrolled weight matrix are ordered (ky, kx, c),
kernel position first, so that NeuroSim's per-kernel-position row blocks are consecutive rows.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import expit

from enasim.workload.ir import Activation, Conv2d, Node, Pool, Select


def weight_matrix(node: Node, w: np.ndarray) -> np.ndarray:
    """The (rows, outputs) matrix of a layer's weights in PyTorch layout: conv2d (C_out, C_in,
    kh, kw), linear (out_features, in_features)."""
    if isinstance(node.op, Conv2d):
        return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0]))
    return np.ascontiguousarray(w.T)


def weight_shape(node: Node) -> tuple[int, ...]:
    """PyTorch layout of the layer's weights: conv2d (C_out, C_in / groups, kh, kw)."""
    if isinstance(node.op, Conv2d):
        kh, kw = node.kernel
        return (node.out_shape[0], node.in_shapes[0][0] // node.groups, kh, kw)
    return (node.out_shape[0], node.weight_rows)


def group_parts(node: Node, x: np.ndarray, w: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per group of a conv, (its input vectors, its (rows, outputs) weight matrix), from the
    unrolled input `x` (vectors, kh*kw*C_in) and the PyTorch-layout weights `w`; one part for
    an ungrouped layer. Group g reads input channels g*C_in/G.. and makes outputs g*C_out/G.."""
    g = node.groups
    if g == 1:
        return [(x, weight_matrix(node, w))]
    c_in, c_out = node.in_shapes[0][0] // g, node.out_shape[0] // g
    x3 = x.reshape(x.shape[0], -1, g * c_in)
    return [(np.ascontiguousarray(x3[:, :, k * c_in:(k + 1) * c_in].reshape(x.shape[0], -1)),
             weight_matrix(node, w[k * c_out:(k + 1) * c_out])) for k in range(g)]


def unroll(node: Node, x: np.ndarray) -> np.ndarray:
    """Input vectors of a weight layer: im2col rows (n*ho*wo, kh*kw*c) or flattened features."""
    if not isinstance(node.op, Conv2d):
        return x.reshape(x.shape[0], -1)
    op = node.op
    kh, kw = op.kernel
    p = op.padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::op.stride, ::op.stride]
    n, c, ho, wo = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 4, 5, 1).reshape(n * ho * wo, kh * kw * c))


def fold(node: Node, y: np.ndarray, n: int) -> np.ndarray:
    """Layer outputs (vectors, outputs) back into an (N, C, H, W) tensor."""
    c, h, w = node.out_shape
    return y.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def pool(op: Pool, x: np.ndarray) -> np.ndarray:
    if op.global_pool:
        return x.max(axis=(2, 3), keepdims=True) if op.mode == "max" else \
            x.mean(axis=(2, 3), keepdims=True)
    k, s, p = op.kernel, op.stride or op.kernel, op.padding
    if p:
        fill = -np.inf if op.mode == "max" else 0.0
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return win.max(axis=(4, 5)) if op.mode == "max" else win.mean(axis=(4, 5))


def activation(op: Activation, x: np.ndarray) -> np.ndarray:
    if op.function == "relu":
        return np.maximum(x, 0.0)
    if op.function == "relu6":
        return np.clip(x, 0.0, 6.0)
    if op.function == "tanh":
        return np.tanh(x)
    if op.function == "hardsigmoid":
        return np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    if op.function == "hardswish":
        return x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    if op.function == "leaky_relu":
        return np.where(x >= 0.0, x, 0.01 * x)
    if op.function == "sigmoid":
        return expit(x)
    raise AssertionError(f"no functional model for activation {op.function}")


def batchnorm_params(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over (N, H, W), 1 where a channel is constant."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    std = x.std(axis=(0, 2, 3), keepdims=True)
    return mean, np.where(std > 0, std, 1.0)


def digital(node: Node, inputs: list[np.ndarray],
            bn: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A non-crossbar layer; batch norm applies the given (mean, std)."""
    op = node.op
    if isinstance(op, Pool):
        return pool(op, inputs[0])
    if isinstance(op, Activation):
        return activation(op, inputs[0])
    if isinstance(op, Select):
        return inputs[0][:, :op.channels]
    if node.kind == "batchnorm":
        mean, std = bn if bn is not None else batchnorm_params(inputs[0])
        return (inputs[0] - mean) / std
    if node.kind == "add":
        return np.sum(inputs, axis=0)
    if node.kind == "concat":
        return np.concatenate(inputs, axis=1)
    raise AssertionError(f"no functional model for op {node.kind}")
