"""Labelled images for training, read from disk or bundled with scikit-learn; never downloaded.

`load_dataset(spec, input_shape, seed)` takes
  * `digits`: scikit-learn's bundled handwritten digits (`sklearn.datasets.load_digits`): 1,797
    grey 8x8 images of 10 classes, pixel values 0..16;
  * a `.npz` file: arrays `images` (N, C, H, W) or (N, H, W) and `labels` (N,) of integers;
  * a directory: one subfolder per class (classes numbered in sorted order of the subfolder
    names), each holding image files Pillow reads (.png, .jpg, .bmp, ...).

Fitting to the network's input (C, H, W), one rule for all sources (`fit_images`):
  1. values to [0, 1]: digits are divided by 16, integer images by 255 (they must lie in
     [0, 255]), float images must already lie in [0, 1];
  2. channels: a grey image is replicated to C channels; an image with C channels is kept; a
     folder's RGBA images lose the alpha channel; anything else is refused;
  3. size: with `fit="pad"` (default) an image no larger than H x W is zero-padded, centred
     (an odd remainder goes to the bottom / right), and a larger one is first shrunk, keeping
     its aspect ratio, to fit; with `fit="resize"` every image is scaled, keeping its aspect
     ratio, until it just fits, then padded. Scaling is bilinear with PIL's and torch's
     antialiasing (a triangle filter widened by the reduction factor when shrinking;
     `bilinear_matrix`).
Split: stratified and seeded (`stratified_split`): per class, a permutation from
`numpy.random.default_rng(seed)` puts floor(0.2 n_c + 0.5) of its n_c images in the test set
(at least one for classes of 2 or more) and the rest in the training set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from enasim.errors import ConfigError
from enasim.train import DIGITS, FITS

TEST_FRACTION = 0.2
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MAX_IMAGES = 1_000_000  # a folder of more files than this is not a small training set
DIGITS_MAX_VALUE = 16  # load_digits' pixel range is 0..16


@dataclass(frozen=True)
class Dataset:
    """Images fitted to a network's input, split into training and test sets.

    `x_*` are float32 (N, C, H, W) in [0, 1], `y_*` int64 class indices in [0, classes);
    `fitting` says what `fit_images` did (written to metrics.json)."""

    spec: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    fitting: dict[str, Any] = field(default_factory=dict)


def load_dataset(
    spec: str | Path, input_shape: tuple[int, int, int], seed: int = 0, fit: str = "pad"
) -> Dataset:
    """The dataset `spec` (`digits`, an `.npz` path or a folder path) fitted to `input_shape`
    and split 80/20, stratified, from `seed` (see the module docstring)."""
    spec = str(spec)
    if fit not in FITS:
        raise ConfigError("", "fit", f"expected one of {', '.join(FITS)}, got {fit!r}")
    if spec == DIGITS:
        images, labels, scale = _digits()
    elif Path(spec).is_dir():
        images, labels, scale = _folder(Path(spec))
    elif Path(spec).suffix == ".npz":
        images, labels, scale = _npz(spec)
    else:
        raise ConfigError(
            spec,
            "--dataset",
            "expected 'digits', an .npz file or a folder of "
            "class subfolders" + ("" if Path(spec).exists() else "; no such file or directory"),
        )
    x, fitting = fit_images(images, scale, input_shape, fit, spec)
    train, test = stratified_split(labels, seed)
    return Dataset(
        spec, x[train], labels[train], x[test], labels[test], int(labels.max()) + 1, fitting
    )


def _digits() -> tuple[list[np.ndarray], np.ndarray, float]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError(
            DIGITS, "", 'the digits dataset needs scikit-learn: pip install "enasim[train]"'
        ) from None
    d = load_digits()
    return list(d.images[:, None]), d.target.astype(np.int64), DIGITS_MAX_VALUE


def _npz(path: str) -> tuple[list[np.ndarray], np.ndarray, float]:
    from enasim.functional.data import read_npz

    arrays = read_npz(path)
    for key in ("images", "labels"):
        if key not in arrays:
            raise ConfigError(
                path, key, f"missing array '{key}'; found {', '.join(arrays) or 'none'}"
            )
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or 0 in images.shape:
        raise ConfigError(
            path, "images", f"expected shape (N, C, H, W) or (N, H, W), got {images.shape}"
        )
    labels = _check_labels(labels, len(images), path)
    return list(images), labels, _scale(images, path, "images")


def _check_labels(labels: np.ndarray, n: int, source: str) -> np.ndarray:
    if labels.shape != (n,):
        raise ConfigError(
            source, "labels", f"expected shape ({n},), one per image, got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(source, "labels", f"expected integers, got dtype {labels.dtype}")
    if labels.min() < 0:
        raise ConfigError(source, "labels", f"expected class indices >= 0, got {labels.min()}")
    return labels.astype(np.int64)


def _scale(images: np.ndarray, source: str, key: str) -> float:
    """The divisor taking `images` to [0, 1]: 255 for integers in [0, 255], 1 for floats in
    [0, 1]."""
    lo, hi = images.min(), images.max()
    if np.issubdtype(images.dtype, np.integer):
        if lo < 0 or hi > 255:
            raise ConfigError(
                source, key, f"integer pixel values must lie in [0, 255], got [{lo}, {hi}]"
            )
        return 255.0
    if not np.issubdtype(images.dtype, np.floating):
        raise ConfigError(
            source, key, f"expected integer or float pixels, got dtype {images.dtype}"
        )
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 1:
        raise ConfigError(source, key, f"float pixel values must lie in [0, 1], got [{lo}, {hi}]")
    return 1.0


def _folder(root: Path) -> tuple[list[np.ndarray], np.ndarray, float]:
    from PIL import Image

    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ConfigError(
            str(root), "", "expected one subfolder of images per class, found no subfolder"
        )
    images, labels = [], []
    for label, folder in enumerate(classes):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(str(folder), "", f"no image files ({', '.join(IMAGE_SUFFIXES)})")
        for path in files:
            if len(images) >= MAX_IMAGES:
                raise ConfigError(str(root), "", f"more than {MAX_IMAGES:,} images")
            try:
                with Image.open(path) as img:
                    grey = img.mode in ("1", "L", "LA")
                    a = np.asarray(img.convert("L" if grey else "RGB"))
            except (OSError, Image.DecompressionBombError, ValueError) as exc:
                raise ConfigError(str(path), "", f"cannot read image: {exc}") from None
            images.append(a[None] if grey else a.transpose(2, 0, 1))
            labels.append(label)
    return images, np.asarray(labels, np.int64), 255.0


def fit_images(
    images: list[np.ndarray],
    scale: float,
    input_shape: tuple[int, int, int],
    fit: str = "pad",
    source: str = "",
) -> tuple[np.ndarray, dict[str, Any]]:
    """(N, C, H, W) float32 images in [0, 1] fitted to `input_shape` from (c, h, w) arrays of
    values in [0, scale] (the rule of the module docstring), and what was done (for
    metrics.json)."""
    if not images:
        raise ConfigError(source, "images", "no images")
    c_net, h_net, w_net = input_shape
    out = np.zeros((len(images), *input_shape), np.float32)
    shapes: set[tuple[int, int, int]] = set()
    resized = padded = 0
    for i, img in enumerate(images):
        c, h, w = img.shape
        if c not in (1, c_net):
            raise ConfigError(
                source,
                "images",
                f"images of {c} channels cannot be fitted to "
                f"the network's {c_net} (grey images are replicated)",
            )
        shapes.add((c, h, w))
        x = img.astype(np.float32) / np.float32(scale)
        if fit == "resize" or h > h_net or w > w_net:
            s = min(h_net / h, w_net / w)
            ho, wo = min(h_net, max(1, round(h * s))), min(w_net, max(1, round(w * s)))
            if (ho, wo) != (h, w):
                rows, cols = bilinear_matrix(h, ho), bilinear_matrix(w, wo)
                x = np.einsum("oh,chw,pw->cop", rows, x, cols)
                h, w = ho, wo
                resized += 1
        top, left = (h_net - h) // 2, (w_net - w) // 2
        padded += (h, w) != (h_net, w_net)
        out[i, :, top : top + h, left : left + w] = x  # a grey channel broadcasts to c_net
    sizes = [f"{c}x{h}x{w}" for c, h, w in sorted(shapes)]
    grey = c_net > 1 and any(c == 1 for c, _, _ in shapes)
    fitting = {
        "fit": fit,
        "source_shapes": sizes[0]
        if len(sizes) == 1
        else f"{len(sizes)} shapes, {sizes[0]} ... {sizes[-1]}",
        "input_shape": list(input_shape),
        "values": f"divided by {scale:g}",
        "channels": f"grey replicated to {c_net}" if grey else "as is",
        "resized_images": resized,
        "padded_images": padded,
    }
    return out, fitting


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of bilinear resampling along one axis, pixel centres aligned
    (align_corners=False), antialiased as PIL's BILINEAR filter and torch's
    `interpolate(..., antialias=True)`: a triangle filter whose support grows with the
    reduction factor; rows sum to 1."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale  # in input pixel units
    pos = np.arange(n_in) + 0.5
    m = np.maximum(0.0, 1.0 - np.abs(pos[None, :] - centres[:, None]) / support)
    return (m / m.sum(1, keepdims=True)).astype(np.float32)


def stratified_split(
    labels: np.ndarray, seed: int, test_fraction: float = TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices, each sorted: per class, in order of the class index, a
    permutation from `default_rng(seed)` puts floor(n_c * test_fraction + 0.5) images (at least
    one when n_c >= 2) in the test set."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = math.floor(len(idx) * test_fraction + 0.5)
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        perm = rng.permutation(idx)
        test.append(perm[:n_test])
        train.append(perm[n_test:])
    train_idx, test_idx = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    if not len(test_idx) or not len(train_idx):
        raise ConfigError(
            "",
            "--dataset",
            f"{len(labels)} images are too few to split into a training and a test set",
        )
    return train_idx, test_idx
