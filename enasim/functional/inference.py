"""Functional inference: a Network run on the bit-sliced crossbar kernels, layer by layer, beside
exact integer arithmetic.

Two copies of the network run in step. The *exact* one computes every weight layer as an exact
integer matmul; the *CIM* one on the crossbars (`enasim.kernels.mac`, semantics in
`enasim.kernels.mac_spec`), each on its own activations. Between weight layers tensors are real
numbers: a weight layer's input is quantised to unsigned input_bits integers with one scale per
layer, max(exact input) / (2^input_bits - 1) (the network input is used as given), shared by
both copies; its integer output times that scale is the layer's real output. Digital layers act
on real tensors: pooling, activations (relu, relu6, sigmoid, tanh, hardsigmoid, hardswish,
leaky_relu), add, concat, select (the first `channels` channels) and batch norm, which
standardises each channel with the exact copy's statistics over the batch (the IR has no BN
parameters), applied to both copies. Negative inputs of a
weight layer clip to 0 (inputs are unsigned).

A grouped conv runs group by group on its own crossbars (`enasim.mapping.tiling`: a group's
rows drive only its own columns), with one ADC step for the layer; a depthwise conv mapped
'digital' computes exactly (integer MACs on the tiles' depthwise units) and has no row here.

Per crossbar layer: `rel_rms_error` = ||y_cim - y_exact|| / ||y_exact|| of the crossbar outputs
against the exact matmul of the *same* integer inputs (the layer's own error), `sqnr_db` =
-20 log10 of it, `e2e_rel_rms_error` the same against the exact copy of the network (errors
accumulated from earlier layers), and the crossbar activity (conversions, clipping, input-bit
density) with the data-dependent ADC energy it implies.

With a `TrainedParams` (`enasim.functional.trained`: a trained checkpoint quantised per layer)
the two copies are the trained network: the exact copy is the integer-quantised model, the CIM
copy the crossbar model. Then each weight layer's input scale is the calibrated one of the
parameters (network input included), its integer output times input and weight scale plus the
layer's bias is its real output, batch norm applies the trained running statistics and affine
(eval mode), and inputs are signed: a layer whose quantised inputs include negative values runs
its crossbars twice, on the positive and on the negated negative parts (2N vectors, one ADC
step), and subtracts, so nothing clips at 0; values above the calibrated range saturate
(counted per layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from enasim.config.schema import HardwareConfig
from enasim.cost.adc import activity_adc_energy_pj
from enasim.functional import ops
from enasim.kernels.mac_spec import (
    CrossbarLayer,
    MacActivity,
    MacSpec,
    exact_matmul,
    program,
    shared_adc_step,
)
from enasim.mapping.tiling import crossbar_layers, tile_layers
from enasim.workload.ir import Network, Node

if TYPE_CHECKING:
    from enasim.functional.trained import TrainedParams


@dataclass(frozen=True)
class LayerResult:
    """One weight layer of a functional run."""

    index: int  # 1-based among crossbar layers
    name: str
    kind: str
    rows: int  # inputs of one output (K*K*C_in / groups)
    cols: int  # outputs (all groups)
    vectors: int
    row_blocks: int
    read_phases: int  # per vector and input bit, over all row blocks
    adc_step: int  # ADC LSB in cell levels
    sqnr_db: float
    rel_rms_error: float
    e2e_rel_rms_error: float
    activity: MacActivity
    adc_energy_pj: float  # from the measured row activity
    adc_energy_assumed_pj: float  # same conversions at hwconfig activity.input_bit_density
    # input values of the crossbar copy (trained runs): how many, how many were negative (run
    # as a second, negated pass), how many saturated at the top of the calibrated range
    input_values: int = 0
    negative_inputs: int = 0
    saturated_inputs: int = 0

    @property
    def clipped_fraction(self) -> float:
        return self.activity.clipped_fraction


@dataclass(frozen=True)
class InferenceResult:
    network: str
    hw: str
    images: int
    seed: int
    layers: tuple[LayerResult, ...]
    # the last node's values per image, flattened (N, features): exact and crossbar copy
    output_exact: np.ndarray = field(default=None, compare=False, repr=False)
    output_cim: np.ndarray = field(default=None, compare=False, repr=False)

    def activity(self) -> dict[str, MacActivity]:
        """Per weight layer, what its crossbars did: feeds the engines' data-dependent ADC
        energy (`Simulator(..., activity=...)`, `run_analytical(..., activity=...)`)."""
        return {r.name: r.activity for r in self.layers}


def rel_rms_error(y: np.ndarray, ref: np.ndarray) -> float:
    """||y - ref|| / ||ref|| (0 when both are zero, inf when only ref is)."""
    err = float(np.sum((y.astype(np.float64) - ref) ** 2))
    power = float(np.sum(ref.astype(np.float64) ** 2))
    if err == 0:
        return 0.0
    return math.sqrt(err / power) if power else math.inf


def sqnr_db(rel_error: float) -> float:
    return -20 * math.log10(rel_error) if rel_error else math.inf


def _quantise(t: np.ndarray, scale: float, top: int) -> np.ndarray:
    return np.clip(np.floor(t / scale + 0.5), 0, top).astype(np.int64)


def _kernel(implementation: str) -> ModuleType:
    if implementation == "numba":
        from enasim.kernels import mac

        return mac
    from enasim.kernels import mac_reference

    return mac_reference


def run_inference(
    net: Network,
    hw: HardwareConfig,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    seed: int = 0,
    implementation: str = "numba",
    trained: TrainedParams | None = None,
) -> InferenceResult:
    """Run `images` through `net` on the crossbars of `hw`: (N, C, H, W) integers, or with
    `trained` real images (in [0, 1]) and the trained network's quantised parameters (its
    `weights` then; see the module docstring).

    `seed` draws the device non-idealities (per layer, default_rng((seed, 2, layer index)));
    `implementation` is "numba" or "numpy" (the reference kernels; same results, slower).
    """
    kernel = _kernel(implementation)
    spec = MacSpec.from_hw(hw)
    top = (1 << spec.input_bits) - 1
    xbar = crossbar_layers(net.weight_layers, hw)
    tilings = tile_layers(xbar, hw, hw.neurosim_compat.unpadded_vectors)
    blocks = {n.name: t.block_rows for n, t in zip(xbar, tilings, strict=True)}
    n_img = images.shape[0]
    exact: dict[str, np.ndarray] = {"input": images.astype(np.float64)}
    cim: dict[str, np.ndarray] = {"input": exact["input"]}
    readers = {n.name: len(net.consumers(n.name)) for n in net.nodes}
    results = []
    for node in net.nodes[1:]:
        if node.has_weights:
            src = node.inputs[0]
            if trained is None:
                peak = float(exact[src].max())
                scale = peak / top if src != "input" and peak > 0 else 1.0
                x_exact = [ops.unroll(node, _quantise(exact[src], scale, top))]
                x_cim = [ops.unroll(node, _quantise(cim[src], scale, top))]
                counts = (0, 0, 0)
            else:
                scale = trained.input_scales[node.name]
                x_exact = _signed_parts(node, exact[src], scale, top)
                x_cim = _signed_parts(node, cim[src], scale, top)
                counts = (
                    cim[src].size,
                    int((cim[src] < 0).sum()),
                    int((np.abs(cim[src]) / scale > top + 0.5).sum()),
                )
            w = weights[node.name]
            if node.name in blocks:
                idx = len(results)
                y_cim, y_exact, result = _crossbar_layer(
                    kernel, spec, hw, idx, node, x_cim, x_exact, w, blocks[node.name], seed
                )
                results.append(
                    replace(
                        result,
                        input_values=counts[0],
                        negative_inputs=counts[1],
                        saturated_inputs=counts[2],
                    )
                )
            else:
                y_exact = _signed_exact(node, x_exact, w)
                y_cim = _signed_exact(node, x_cim, w)
            exact[node.name] = _real_output(node, y_exact, scale, n_img, trained)
            cim[node.name] = _real_output(node, y_cim, scale, n_img, trained)
        elif node.kind == "batchnorm" and trained is not None:
            mul, add = trained.batchnorm[node.name]
            exact[node.name] = exact[node.inputs[0]] * mul + add
            cim[node.name] = cim[node.inputs[0]] * mul + add
        else:
            bn = ops.batchnorm_params(exact[node.inputs[0]]) if node.kind == "batchnorm" else None
            exact[node.name] = ops.digital(node, [exact[i] for i in node.inputs], bn)
            cim[node.name] = ops.digital(node, [cim[i] for i in node.inputs], bn)
        for src in node.inputs:
            readers[src] -= 1
            if not readers[src]:
                del exact[src], cim[src]
    last = net.nodes[-1].name
    return InferenceResult(
        net.name,
        hw.name,
        n_img,
        seed,
        tuple(results),
        exact[last].reshape(n_img, -1),
        cim[last].reshape(n_img, -1),
    )


def _signed_parts(node: Node, t: np.ndarray, scale: float, top: int) -> list[np.ndarray]:
    """Unrolled unsigned input vectors of a real tensor: [positive part], or [positive part,
    negated negative part] when any value quantises below 0."""
    pos = ops.unroll(node, _quantise(t, scale, top))
    neg = _quantise(-t, scale, top)
    return [pos, ops.unroll(node, neg)] if neg.any() else [pos]


def _signed_exact(node: Node, parts: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    y = _grouped_exact(node, parts[0], w)
    return y - _grouped_exact(node, parts[1], w) if len(parts) == 2 else y


def _real_output(
    node: Node, y: np.ndarray, scale: float, n_img: int, trained: TrainedParams | None
) -> np.ndarray:
    """A weight layer's integer outputs (vectors, C_out) as a real (N, C, H, W) tensor."""
    if trained is None:
        return ops.fold(node, y * scale, n_img)
    real = y * (scale * trained.weight_scales[node.name])
    bias = trained.biases.get(node.name)
    return ops.fold(node, real if bias is None else real + bias, n_img)


def _grouped_exact(node: Node, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer outputs (vectors, C_out) of a layer, group by group."""
    return np.concatenate([exact_matmul(xg, wg) for xg, wg in ops.group_parts(node, x, w)], axis=1)


def _crossbar_layer(
    kernel: ModuleType,
    spec: MacSpec,
    hw: HardwareConfig,
    idx: int,
    node: Node,
    x_cim: list[np.ndarray],
    x_exact: list[np.ndarray],
    w: np.ndarray,
    block_rows: tuple[int, ...],
    seed: int,
):
    """(CIM outputs, exact outputs, LayerResult) of one crossbar layer, its groups each on its
    own crossbars (device draws per group) with the layer's one ADC step. `x_cim` and `x_exact`
    are [input vectors] or [positive part, negated negative part] (signed inputs): the parts
    run as one batch of stacked vectors and their outputs are subtracted."""
    n = x_cim[0].shape[0]
    stacked = x_cim[0] if len(x_cim) == 1 else np.concatenate(x_cim)
    parts = ops.group_parts(node, stacked, w)
    layers = [
        program(
            wg,
            spec,
            block_rows,
            seed=(seed, 2, idx) if len(parts) == 1 else (seed, 2, idx, g),
            name=node.name,
        )
        for g, (_, wg) in enumerate(parts)
    ]
    step = shared_adc_step([(xg, layer) for (xg, _), layer in zip(parts, layers, strict=True)])
    outs = [kernel.mvm(xg, layer, step) for (xg, _), layer in zip(parts, layers, strict=True)]
    y_cim = np.concatenate([y for y, _ in outs], axis=1)
    if len(x_cim) == 2:
        y_cim = y_cim[:n] - y_cim[n:]
    act = outs[0][1] if len(outs) == 1 else MacActivity.merge([a for _, a in outs])
    rel = rel_rms_error(y_cim, _signed_exact(node, x_cim, w))
    y_exact = _signed_exact(node, x_exact, w)
    return (
        y_cim,
        y_exact,
        _layer_result(hw, idx + 1, node, layers[0], act, rel, rel_rms_error(y_cim, y_exact)),
    )


def _layer_result(
    hw: HardwareConfig,
    index: int,
    node: Node,
    layer: CrossbarLayer,
    act: MacActivity,
    rel: float,
    e2e: float,
) -> LayerResult:
    density = hw.activity.input_bit_density
    assumed_rows = [density * r / p for r, p in zip(act.block_rows, act.block_phases, strict=True)]
    return LayerResult(
        index,
        node.name,
        node.kind,
        layer.rows,
        node.weight_cols,
        act.vectors,
        len(act.block_rows),
        sum(act.block_phases),
        act.adc_step,
        sqnr_db(rel),
        rel,
        e2e,
        act,
        activity_adc_energy_pj(hw, act.block_conversions, act.block_active_rows),
        activity_adc_energy_pj(hw, act.block_conversions, assumed_rows),
    )
