"""CIM-aware accuracy: a trained network (`enasim train`'s checkpoint) quantised per layer and
run on the crossbars, with the top-1 accuracy of the float, the integer-quantised and the
crossbar model on the same test images (`enasim infer --weights CHECKPOINT --dataset D`).

Quantisation (post-training, no retraining), `quantise`:
  * weights: per layer, symmetric, w_int = clip(rint(w / s_w), -Q, Q) with Q = 2^(weight_bits-1)
    - 1 and s_w = max|w| / Q (the scale is kept: a layer's integer output times s_w and its
    input scale is its real output);
  * biases of conv2d and linear layers: added digitally, in real units, after the crossbars;
  * batch norm: eval mode, the trained running mean and variance and the affine, folded into
    one per-channel multiply-add: gamma / sqrt(var + eps) and beta - mean * that;
  * inputs of a weight layer: the network input (images in [0, 1]) with scale 1 / (2^input_bits
    - 1); every other layer with max|x| / (2^input_bits - 1), x its float input over the first
    CALIBRATION_IMAGES training images (never the test images); larger test values saturate.
    Inputs are signed: negative values run as a second crossbar pass (`inference`).
The float model is the torch module in eval mode (`enasim.train.trainer.evaluate`); the
quantised model is `run_inference`'s exact integer copy, the crossbar model its CIM copy.

Kept free of torch at import: `quantise` imports it when called.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from enasim.config.schema import HardwareConfig
from enasim.errors import ConfigError
from enasim.functional.inference import InferenceResult, run_inference
from enasim.workload.ir import Network

CALIBRATION_IMAGES = 256


@dataclass(frozen=True)
class TrainedParams:
    """A trained network's parameters quantised for the crossbars (see the module docstring)."""

    weights: dict[str, np.ndarray]  # int64, PyTorch layout, in [-Q, Q]
    weight_scales: dict[str, float]
    biases: dict[str, np.ndarray]  # (C_out,) float64, layers with a bias only
    batchnorm: dict[str, tuple[np.ndarray, np.ndarray]]  # (multiply, add), (1, C, 1, 1)
    input_scales: dict[str, float]
    weight_bits: int
    input_bits: int


def quantise(
    net: Network, module, weight_bits: int, input_bits: int, calibration: np.ndarray
) -> TrainedParams:
    """Quantise the trained `module` of `net` (a NetworkModule) for `weight_bits` weights and
    `input_bits` inputs; `calibration` images (N, C, H, W) in [0, 1] set the input scales."""
    import torch

    from enasim.train.trainer import deterministic

    q = (1 << (weight_bits - 1)) - 1
    top = (1 << input_bits) - 1
    weights, w_scales, biases, peaks = {}, {}, {}, {}
    hooks = []
    for node, m in module.weight_layers():
        w = m.weight.detach().double().numpy()
        peak = float(np.abs(w).max())
        s = peak / q if peak > 0 else 1.0
        weights[node.name] = np.clip(np.rint(w / s), -q, q).astype(np.int64)
        w_scales[node.name] = s
        if m.bias is not None:
            biases[node.name] = m.bias.detach().double().numpy()

        def hook(_m, args, name=node.name):
            peaks[name] = max(peaks.get(name, 0.0), float(args[0].abs().max()))

        hooks.append(m.register_forward_pre_hook(hook))
    bn = {}
    for node, m in zip(net.nodes[1:], module.layers, strict=True):
        if node.kind == "batchnorm":
            mul = m.weight.detach().double() / torch.sqrt(m.running_var.double() + m.eps)
            add = m.bias.detach().double() - m.running_mean.double() * mul
            bn[node.name] = (mul.numpy().reshape(1, -1, 1, 1), add.numpy().reshape(1, -1, 1, 1))
    module.eval()
    try:
        with deterministic(1), torch.no_grad():
            module(
                torch.from_numpy(np.ascontiguousarray(calibration[:CALIBRATION_IMAGES], np.float32))
            )
    finally:
        for h in hooks:
            h.remove()
    in_scales = {}
    for node in net.weight_layers:
        if node.inputs[0] == "input":
            in_scales[node.name] = 1.0 / top
        else:
            in_scales[node.name] = peaks[node.name] / top if peaks[node.name] > 0 else 1.0
    return TrainedParams(weights, w_scales, biases, bn, in_scales, weight_bits, input_bits)


def top1(logits: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """Top-1 accuracy (a fraction) of the first `classes` outputs."""
    return float((logits[:, :classes].argmax(1) == labels).mean())


@dataclass(frozen=True)
class ModeRun:
    """One crossbar run of the test images under one ADC setting."""

    range_mode: str
    adc_bits: int
    accuracy_crossbar: float
    accuracy_quantised: float
    result: InferenceResult


def with_adc(hw: HardwareConfig, range_mode: str, bits: int | None = None) -> HardwareConfig:
    """`hw` with adc.range_mode (and adc.bits) replaced."""
    return replace(
        hw, adc=replace(hw.adc, range_mode=range_mode, bits=hw.adc.bits if bits is None else bits)
    )


def crossbar_accuracy(
    net: Network,
    hw: HardwareConfig,
    params: TrainedParams,
    images: np.ndarray,
    labels: np.ndarray,
    classes: int,
    seed: int = 0,
) -> ModeRun:
    """Run the test `images` (float, [0, 1]) on the crossbars of `hw` (its ADC settings) and
    score the quantised and the crossbar model."""
    check_precision(hw, params)
    result = run_inference(net, hw, params.weights, images, seed, trained=params)
    return ModeRun(
        hw.adc.range_mode,
        hw.adc.bits,
        top1(result.output_cim, labels, classes),
        top1(result.output_exact, labels, classes),
        result,
    )


def check_precision(hw: HardwareConfig, params: TrainedParams) -> None:
    if (hw.precision.weight_bits, hw.precision.input_bits) != (
        params.weight_bits,
        params.input_bits,
    ):
        raise ConfigError(
            "",
            "precision",
            f"parameters quantised for {params.weight_bits}-bit "
            f"weights and {params.input_bits}-bit inputs, hwconfig has "
            f"{hw.precision.weight_bits} and {hw.precision.input_bits}",
        )
