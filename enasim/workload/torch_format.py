"""PyTorch models as workloads: `from_torch` exports a model to ONNX in memory and translates it
with the ONNX translator (enasim.workload.onnx_format), so a PyTorch model and the same model
saved as an `.onnx` file give the same network; `torch_weights` gives its quantised weights.

torch and onnx are optional (`pip install "enasim[torch]"`), imported only here. The export is
PyTorch's TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`), which needs
only the `onnx` package; the torch.export-based one (dynamo=True) would also need onnxscript.
The model is traced in eval mode with `TrainingMode.PRESERVE`: EVAL would fuse each
BatchNorm2d into the conv before it (changing that conv's weights and giving it a bias, so the
parameter count and the quantised weights), PRESERVE keeps it as an inference-mode
BatchNormalization, which becomes an IR `batchnorm` layer the engines fold.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

from enasim.errors import ConfigError
from enasim.workload.ir import Network
from enasim.workload.onnx_format import load_onnx, onnx_weights

# the opset the export writes: the onnx_format tests' opset, supported by the TorchScript
# exporter and by onnx >= 1.15 (the onnx extra's floor)
TORCH_OPSET = 17


def from_torch(model: Any, example_input: Any, name: str | None = None) -> Network:
    """The Network of a `torch.nn.Module` run on `example_input`, one (1, C, H, W) tensor
    (its values do not matter, only its shape, dtype and device). Layer names are the
    exporter's node names (`/layer1/layer1.0/conv1/Conv`); `name` names the network (default:
    the model's class name). An op the IR cannot represent raises ConfigError naming the node,
    its op type and the supported ONNX ops."""
    label = _label(model)
    return load_onnx(_export(model, example_input, label), name or type(model).__name__, label)


def torch_weights(model: Any, net: Network, weight_bits: int) -> dict[str, np.ndarray]:
    """Integer weights of `net`'s weight layers (a `from_torch` network of `model`) from the
    model's parameters, quantised as `onnx_weights` does: symmetric per layer, scale = max|w|
    / (2^(weight_bits-1) - 1), q = round(w / scale). PyTorch layout, keyed by layer name, as
    `enasim run --activity measured --weights W.npz` takes them after `numpy.savez`. The model
    is exported again, on zeros of `net`'s input shape (in the dtype and on the device of its
    first parameter)."""
    label = _label(model)
    torch = _import_torch(label)
    first = next(iter(model.parameters()), None) if isinstance(model, torch.nn.Module) else None
    x = torch.zeros(
        (1, *net.input_shape),
        dtype=first.dtype if first is not None and first.is_floating_point() else None,
        device=first.device if first is not None else None,
    )
    return onnx_weights(_export(model, x, label), net, weight_bits, label)


def _label(model: Any) -> str:
    """How errors name the model: `torch model <class name>`."""
    return f"torch model {type(model).__name__}"


def _import_torch(label: str):
    try:
        import onnx  # noqa: F401  (the translation needs it; fail before exporting)
        import torch
    except ImportError as exc:
        raise ConfigError(
            label,
            "",
            f"importing a PyTorch model needs torch and onnx ({exc.name} is missing): "
            f'pip install "enasim[torch]"',
        ) from None
    return torch


def _export(model: Any, example_input: Any, label: str) -> bytes:
    """`model` exported to ONNX (serialised), traced in eval mode on `example_input`; every
    module's training flag is restored afterwards."""
    torch = _import_torch(label)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(label, "model", f"expected a torch.nn.Module, got {type(model).__name__}")
    shape = list(example_input.shape) if isinstance(example_input, torch.Tensor) else None
    if shape is None or len(shape) != 4 or shape[0] != 1:
        got = f"a tensor of shape {shape}" if shape is not None else type(example_input).__name__
        raise ConfigError(
            label, "example_input", f"expected one (1, C, H, W) tensor (a single image), got {got}"
        )
    modes = {m: m.training for m in model.modules()}
    buffer = io.BytesIO()
    try:
        model.eval()
        with warnings.catch_warnings():
            # about the exporter enasim chose (the TorchScript one is deprecated) and about
            # constant folding in training mode, which this eval-mode export is not in
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message="It is recommended that constant folding")
            torch.onnx.export(
                model,
                (example_input,),
                buffer,
                dynamo=False,
                opset_version=TORCH_OPSET,
                training=torch.onnx.TrainingMode.PRESERVE,
            )
    except Exception as exc:  # the user's forward or an op the exporter has no ONNX for
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(
            label, "", f"torch.onnx.export failed: {type(exc).__name__}: {first}"
        ) from exc
    finally:
        for m, training in modes.items():
            m.training = training
    return buffer.getvalue()
