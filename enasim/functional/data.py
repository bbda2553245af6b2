"""Weights and inputs of functional inference: seeded random ones, or `.npz` files.

* weights `.npz`: one integer array per weight layer, keyed by layer name, in PyTorch layout
  (conv2d (C_out, C_in, kh, kw); linear (out_features, in_features)), values within the signed
  range of precision.weight_bits. Every weight layer must be present.
* weights `.onnx`: the initializers of an ONNX model with the same weight layers, quantised
  per layer (symmetric max-abs scaling, `enasim.workload.onnx_format.onnx_weights`).
* inputs `.npz`: one integer array `input` of shape (N, C, H, W) (or (C, H, W) for one image),
  values within [0, 2^input_bits - 1].
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from enasim.errors import ConfigError, suggest
from enasim.functional.ops import weight_shape
from enasim.kernels.mac_spec import MacSpec
from enasim.workload.ir import Network

INPUT_KEY = "input"


def random_weights(net: Network, spec: MacSpec, seed: int) -> dict[str, np.ndarray]:
    """Bell-shaped integer weights like trained ones: normal with sigma = 2^(weight_bits-1) / 4,
    rounded and clipped to the range, drawn per layer from default_rng((seed, 1, layer index))."""
    lo, hi = spec.weight_range
    out = {}
    for i, node in enumerate(net.weight_layers):
        rng = np.random.default_rng((seed, 1, i))
        w = rng.normal(0.0, (hi - lo + 1) / 8, weight_shape(node))
        out[node.name] = np.clip(np.rint(w), lo, hi).astype(np.int64)
    return out


def random_inputs(net: Network, spec: MacSpec, images: int, seed: int) -> np.ndarray:
    """Uniform integer images in [0, 2^input_bits - 1], from default_rng((seed, 0))."""
    rng = np.random.default_rng((seed, 0))
    return rng.integers(0, 1 << spec.input_bits, (images, *net.input_shape), dtype=np.int64)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` archive; a lone `.npy`, a pickle, object arrays or a member that
    is no array raise ConfigError (np.load alone would return some of them)."""
    src = str(path)
    try:
        zipfile.ZipFile(path).close()
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except OSError as exc:
        raise ConfigError(src, "", f"cannot read file: {exc.strerror or exc}") from None
    except zipfile.BadZipFile:
        raise ConfigError(src, "", "not an .npz file (a zip archive of .npy arrays, as "
                          "numpy.savez writes)") from None
    except (ValueError, EOFError, zlib.error) as exc:
        raise ConfigError(src, "", f"cannot read .npz file: {str(exc).split('. ')[0]}") from None
    for key, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise ConfigError(src, key, "not a .npy array")
    return arrays


def _check_array(a: np.ndarray, shape: tuple[int, ...], lo: int, hi: int, source: str,
                 key: str, bits: str) -> np.ndarray:
    if a.shape != shape:
        raise ConfigError(source, key, f"expected shape {shape}, got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ConfigError(source, key, f"expected integers, got dtype {a.dtype}")
    if a.size and (a.min() < lo or a.max() > hi):
        raise ConfigError(source, key, f"values must lie in [{lo}, {hi}] for {bits}, got "
                          f"[{a.min()}, {a.max()}]")
    return a.astype(np.int64)


def load_weights(path: str | Path, net: Network, spec: MacSpec) -> dict[str, np.ndarray]:
    """Weights of every weight layer from an `.npz` file, checked against the network, or the
    initializers of an ONNX model quantised to the weight bits (`onnx_weights`)."""
    if Path(path).suffix == ".onnx":
        from enasim.workload.onnx_format import onnx_weights

        return onnx_weights(path, net, spec.weight_bits)
    arrays, source = read_npz(path), str(path)
    names = [n.name for n in net.weight_layers]
    for key in arrays:
        if key not in names:
            raise ConfigError(source, key, f"not a weight layer of {net.name}"
                              f"{suggest(key, names)}; weight layers: {', '.join(names)}")
    lo, hi = spec.weight_range
    out = {}
    for node in net.weight_layers:
        if node.name not in arrays:
            raise ConfigError(source, node.name, f"missing weights of layer '{node.name}'")
        out[node.name] = _check_array(arrays[node.name], weight_shape(node), lo, hi, source,
                                      node.name, f"precision.weight_bits {spec.weight_bits}")
    return out


def load_inputs(path: str | Path, net: Network, spec: MacSpec) -> np.ndarray:
    """The `input` images of an `.npz` file, checked against the network's input shape."""
    arrays, source = read_npz(path), str(path)
    if INPUT_KEY not in arrays:
        raise ConfigError(source, INPUT_KEY, f"missing array '{INPUT_KEY}' (N x C x H x W); "
                          f"found {', '.join(arrays) or 'none'}")
    a = arrays[INPUT_KEY]
    if a.ndim == 3:
        a = a[None]
    n = a.shape[0] if a.ndim == 4 else 1
    top = (1 << spec.input_bits) - 1
    return _check_array(a, (n, *net.input_shape), 0, top, source, INPUT_KEY,
                        f"precision.input_bits {spec.input_bits}")


# Functional runs compute every MAC bit-serially: 10**12 MACs (about 1,600 VGG8 images) is the
# most enasim starts, and an input batch of 2**28 values (2 GiB as int64) the most it draws.
MAX_MACS, MAX_INPUT_VALUES = 10**12, 2**28


def check_work(net: Network, images: int) -> None:
    """Refuse a functional run of `images` images of `net` that would not fit or finish."""
    values = images * math.prod(net.input_shape)
    if values > MAX_INPUT_VALUES or images * net.macs > MAX_MACS:
        raise ConfigError("", "--images", f"{images} images of {net.name} are "
                          f"{values:.3g} input values and {images * net.macs:.3g} MACs, more "
                          f"than the {MAX_INPUT_VALUES:.3g} values and {MAX_MACS:.0e} MACs a "
                          f"functional run may take")


def weights_and_images(net: Network, hw, weights_path: str | None, inputs_path: str | None,
                       images: int | None, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The weights and images of a functional run: from .npz files, or seeded random ones
    (`images` of them, default 1)."""
    spec = MacSpec.from_hw(hw)
    if images is not None and images < 1:
        raise ConfigError("", "--images", f"expected at least 1, got {images}")
    check_work(net, images or 1)
    if inputs_path:
        x = load_inputs(inputs_path, net, spec)
        if images is not None and images != x.shape[0]:
            raise ConfigError(inputs_path, "input", f"holds {x.shape[0]} images but "
                              f"--images is {images}")
    else:
        x = random_inputs(net, spec, images or 1, seed)
    w = load_weights(weights_path, net, spec) if weights_path else random_weights(net, spec, seed)
    return w, x
