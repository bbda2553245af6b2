"""Training enasim networks with PyTorch (the optional `train` extra): the IR as a trainable
module, datasets without downloads, a seeded training loop and one-file checkpoints.

    from enasim.train import load_dataset, load_checkpoint, to_torch, train

The names load their modules (and torch) when first used, so that importing this package, as
the `enasim train` parser does, needs no torch; without torch, those needing it raise
ConfigError naming `pip install "enasim[train]"` (`enasim.train.data` is numpy only).
See docs/training.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from enasim.errors import ConfigError

_EXPORTS = {
    "to_torch": "module",
    "NetworkModule": "module",
    "export_weights": "module",
    "load_dataset": "data",
    "Dataset": "data",
    "train": "trainer",
    "TrainResult": "trainer",
    "evaluate": "trainer",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "load_module": "checkpoint",
}
__all__ = sorted(_EXPORTS)
INSTALL = 'pip install "enasim[train]"'
DIGITS = "digits"  # the dataset bundled with scikit-learn
FITS = ("pad", "resize")  # ways of fitting images to the input (enasim.train.data)
# training defaults (enasim.train.trainer, where they are explained), shared with the CLI
OPTIMIZERS = ("sgd", "adam")
MAX_EPOCHS = 10_000
DEFAULT_LR = {"sgd": 0.02, "adam": 0.003}
DEFAULTS = {
    "batch_size": 32,
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "threads": 1,
}


def require_torch() -> None:
    """Raise ConfigError naming the extra to install when torch is missing."""
    try:
        importlib.import_module("torch")
    except ImportError:
        raise ConfigError("", "", f"training needs PyTorch: {INSTALL}") from None


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'enasim.train' has no attribute '{name}'")
    if _EXPORTS[name] != "data":  # datasets are numpy only
        require_torch()
    return getattr(importlib.import_module(f"enasim.train.{_EXPORTS[name]}"), name)
