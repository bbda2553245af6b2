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

Per weight layer: `rel_rms_error` = ||y_cim - y_exact|| / ||y_exact|| of the crossbar outputs
against the exact matmul of the *same* integer inputs (the layer's own error), `sqnr_db` =
-20 log10 of it, `e2e_rel_rms_error` the same against the exact copy of the network (errors
accumulated from earlier layers), and the crossbar activity (conversions, clipping, input-bit
density) with the data-dependent ADC energy it implies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from enasim.config.schema import HardwareConfig
from enasim.cost.adc import activity_adc_energy_pj
from enasim.functional import ops
from enasim.kernels.mac_spec import CrossbarLayer, MacActivity, MacSpec, exact_matmul, program
from enasim.mapping.tiling import tile_layers
from enasim.workload.ir import Network, Node


@dataclass(frozen=True)
class LayerResult:
    """One weight layer of a functional run."""

    index: int  # 1-based among weight layers
    name: str
    kind: str
    rows: int
    cols: int
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


def run_inference(net: Network, hw: HardwareConfig, weights: dict[str, np.ndarray],
                  images: np.ndarray, seed: int = 0,
                  implementation: str = "numba") -> InferenceResult:
    """Run `images` (N, C, H, W integers) through `net` on the crossbars of `hw`.

    `seed` draws the device non-idealities (per layer, default_rng((seed, 2, layer index)));
    `implementation` is "numba" or "numpy" (the reference kernels; same results, slower).
    """
    kernel = _kernel(implementation)
    spec = MacSpec.from_hw(hw)
    top = (1 << spec.input_bits) - 1
    tilings = tile_layers(net.weight_layers, hw, hw.neurosim_compat.unpadded_vectors)
    blocks = {n.name: t.block_rows for n, t in zip(net.weight_layers, tilings, strict=True)}
    n_img = images.shape[0]
    exact: dict[str, np.ndarray] = {"input": images.astype(np.float64)}
    cim: dict[str, np.ndarray] = {"input": exact["input"]}
    readers = {n.name: len(net.consumers(n.name)) for n in net.nodes}
    results = []
    for node in net.nodes[1:]:
        if node.has_weights:
            src = node.inputs[0]
            peak = float(exact[src].max())
            scale = peak / top if src != "input" and peak > 0 else 1.0
            x_exact = ops.unroll(node, _quantise(exact[src], scale, top))
            x_cim = ops.unroll(node, _quantise(cim[src], scale, top))
            w = ops.weight_matrix(node, weights[node.name])
            idx = len(results)
            layer = program(w, spec, blocks[node.name], seed=(seed, 2, idx), name=node.name)
            y_cim, act = kernel.mvm(x_cim, layer)
            y_exact = exact_matmul(x_exact, w)
            rel = rel_rms_error(y_cim, exact_matmul(x_cim, w))
            results.append(_layer_result(hw, idx + 1, node, layer, act, rel,
                                         rel_rms_error(y_cim, y_exact)))
            exact[node.name] = ops.fold(node, y_exact * scale, n_img)
            cim[node.name] = ops.fold(node, y_cim * scale, n_img)
        else:
            bn = ops.batchnorm_params(exact[node.inputs[0]]) if node.kind == "batchnorm" else None
            exact[node.name] = ops.digital(node, [exact[i] for i in node.inputs], bn)
            cim[node.name] = ops.digital(node, [cim[i] for i in node.inputs], bn)
        for src in node.inputs:
            readers[src] -= 1
            if not readers[src]:
                del exact[src], cim[src]
    return InferenceResult(net.name, hw.name, n_img, seed, tuple(results))


def _layer_result(hw: HardwareConfig, index: int, node: Node, layer: CrossbarLayer,
                  act: MacActivity, rel: float, e2e: float) -> LayerResult:
    density = hw.activity.input_bit_density
    assumed_rows = [density * r / p for r, p in zip(act.block_rows, act.block_phases,
                                                      strict=True)]
    return LayerResult(
        index, node.name, node.kind, layer.rows, layer.n_out, act.vectors,
        len(act.block_rows), sum(act.block_phases), act.adc_step, sqnr_db(rel), rel, e2e, act,
        activity_adc_energy_pj(hw, act.block_conversions, act.block_active_rows),
        activity_adc_energy_pj(hw, act.block_conversions, assumed_rows))
