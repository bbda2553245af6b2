"""Training an enasim `Network` on a `Dataset`: mini-batch SGD (or Adam) on the cross-entropy of
the network's first `classes` outputs, then top-1 accuracy on the test set.

Defaults (`DEFAULTS`): SGD with Nesterov momentum 0.9 and weight decay 5e-4, batch 32, the
learning rate starting at `lr` (0.02 for SGD, 0.003 for Adam) and decaying to 0 along a cosine
over the run (no warm-up: a 3-epoch run has no steps to spare), no data augmentation: what
trained FLASH networks on digits best in 3 epochs, at 8x8 and at 32x32, among the settings tried
(docs/training.md). A run of `epochs` (fractions allowed) takes round(epochs x ceil(N_train /
batch)) >= 1 mini-batches; each epoch draws a fresh permutation of the training set.

Determinism: the weights come from `to_torch(net, seed)`; the batch order from a
`torch.Generator` seeded with `seed`; `torch.use_deterministic_algorithms(True)` and a fixed
intra-op thread count (`threads`, default 1) hold for the run (and are restored after it). So
equal inputs give equal accuracy, digit for digit, on one machine and torch build (another
thread count or CPU may round differently).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from enasim.errors import ConfigError
from enasim.train import DEFAULT_LR, DEFAULTS, MAX_EPOCHS, OPTIMIZERS
from enasim.train.data import Dataset
from enasim.train.module import NetworkModule, to_torch
from enasim.workload.ir import Network

EVAL_BATCH = 500


@dataclass
class TrainResult:
    """What `train` returns: test top-1 `accuracy` (a fraction), the mean training loss of each
    (possibly partial) epoch, the wall-clock `seconds` of building, training and testing, the
    trained module (in eval mode) and the `settings` it was trained with."""

    accuracy: float
    train_loss: list[float]
    seconds: float
    module: NetworkModule
    settings: dict[str, Any] = field(default_factory=dict)


@contextmanager
def deterministic(threads: int) -> Iterator[None]:
    """torch's deterministic algorithms and `threads` intra-op threads, for the block only."""
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


def outputs(net: Network) -> int:
    """The number of values the network outputs (its last layer's, flattened)."""
    return math.prod(net.nodes[-1].out_shape)


def check_classes(net: Network, dataset: Dataset) -> None:
    """The network must output at least one value per class; the first `classes` are the
    logits."""
    if outputs(net) < dataset.classes:
        raise ConfigError(
            dataset.spec,
            "labels",
            f"{dataset.classes} classes, but network "
            f"'{net.name}' outputs only {outputs(net)} values (one per class "
            "needed)",
        )


def check_epochs(epochs: float) -> None:
    """A run's `epochs`: a number in (0, MAX_EPOCHS], else ConfigError on --epochs."""
    if not (isinstance(epochs, int | float) and 0 < epochs <= MAX_EPOCHS):
        raise ConfigError("", "--epochs", f"expected a number in (0, {MAX_EPOCHS}], got {epochs}")


def check_lr(lr: float) -> None:
    """An initial learning rate: finite and > 0, else ConfigError on --lr."""
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError("", "--lr", f"expected a learning rate > 0, got {lr}")


def training_steps(n_train: int, batch_size: int, epochs: float) -> int:
    """Mini-batches in `epochs` passes (fractions allowed) over `n_train` images: at least 1."""
    return max(1, round(epochs * math.ceil(n_train / batch_size)))


def make_optimizer(
    params: Iterator[torch.nn.Parameter], optimizer: str, lr: float
) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum, or Adam, at rate `lr` with the weight decay of `DEFAULTS`."""
    decay = DEFAULTS["weight_decay"]
    if optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=DEFAULTS["momentum"], nesterov=True, weight_decay=decay
        )
    return torch.optim.Adam(params, lr=lr, weight_decay=decay)


def epoch_batches(
    n_train: int, batch_size: int, steps: int, generator: torch.Generator
) -> Iterator[list[torch.Tensor]]:
    """The index batches of `steps` training steps, one list per epoch (a fresh permutation
    from `generator`, cut into batches); the last epoch stops at `steps`."""
    step = 0
    while step < steps:
        order = torch.randperm(n_train, generator=generator)
        epoch = [order[b : b + batch_size] for b in range(0, n_train, batch_size)][: steps - step]
        step += len(epoch)
        yield epoch


def train(
    net: Network,
    dataset: Dataset,
    epochs: float,
    seed: int = 0,
    *,
    batch_size: int = DEFAULTS["batch_size"],
    lr: float | None = None,
    optimizer: str = DEFAULTS["optimizer"],
    threads: int = DEFAULTS["threads"],
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train `net` from its seeded initialisation on `dataset` for `epochs` (a fraction such
    as 0.25 allowed) and test it; `lr` is the initial learning rate (default `DEFAULT_LR`);
    `progress(step, steps)` is called after every mini-batch."""
    check_epochs(epochs)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(
            "", "--optimizer", f"expected one of {', '.join(OPTIMIZERS)}, got {optimizer!r}"
        )
    if batch_size < 1 or threads < 1:
        raise ConfigError(
            "",
            "--batch-size" if batch_size < 1 else "--threads",
            f"expected an integer >= 1, got {min(batch_size, threads)}",
        )
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    check_lr(lr)
    if tuple(dataset.x_train.shape[1:]) != net.input_shape:
        raise ConfigError(
            dataset.spec,
            "images",
            f"fitted to {dataset.x_train.shape[1:]}, "
            f"but network '{net.name}' takes {net.input_shape}",
        )
    check_classes(net, dataset)
    n_train = len(dataset.y_train)
    steps = training_steps(n_train, batch_size, epochs)
    start = time.perf_counter()
    with deterministic(threads):
        module = to_torch(net, seed)
        opt = make_optimizer(module.parameters(), optimizer, lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        x, y = torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train)
        gen = torch.Generator().manual_seed(seed)
        losses: list[float] = []
        module.train()
        step = 0
        for epoch in epoch_batches(n_train, batch_size, steps, gen):
            total, seen = 0.0, 0
            for idx in epoch:
                loss = F.cross_entropy(module(x[idx])[:, : dataset.classes], y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                total += loss.item() * len(idx)
                seen += len(idx)
                step += 1
                if progress is not None:
                    progress(step, steps)
            losses.append(total / seen)
        module.eval()
        accuracy = evaluate(module, dataset.x_test, dataset.y_test, dataset.classes)
    settings = {
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": lr,
        "momentum": DEFAULTS["momentum"] if optimizer == "sgd" else None,
        "weight_decay": DEFAULTS["weight_decay"],
        "schedule": "cosine",
        "seed": seed,
        "threads": threads,
        "torch": str(torch.__version__),
    }
    return TrainResult(accuracy, losses, time.perf_counter() - start, module, settings)


def predict(module: NetworkModule, x: np.ndarray, classes: int) -> np.ndarray:
    """Class indices the module predicts for float images `x` (N, C, H, W): the argmax of its
    first `classes` outputs, in eval mode, in batches of EVAL_BATCH."""
    module.eval()
    out = []
    with torch.no_grad():
        for b in range(0, len(x), EVAL_BATCH):
            logits = module(torch.from_numpy(x[b : b + EVAL_BATCH]))[:, :classes]
            out.append(logits.argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def evaluate(module: NetworkModule, x: np.ndarray, y: np.ndarray, classes: int) -> float:
    """Top-1 accuracy (a fraction) of the module on images `x` with labels `y`."""
    return float((predict(module, x, classes) == y).mean())
