"""Training SPOS and FairNAS supernets with PyTorch at CPU scale, and sub-net fitness with
inherited weights (`enasim enasa train`, `enasa run --fitness supernet:CHECKPOINT`).

The trainable supernet (`SupernetModule`) is the op table of `build_supernet(width_mult,
image_size, classes)` (enasim.nas.spaces.spos / fairnas): every operator of every choice of
every layer is a conv (or the FC) with its own weights and its own batch norm; a forward pass
takes an architecture and runs only its path, with the activations and block structure of
`Supernet.build`. One difference, for SPOS only: a stride-1 block splits its input by SPOS's
channel shuffle (even channels to the bypass, odd ones to the main branch, as
megvii-model/SinglePathOneShot), where the IR, which has no shuffle op, selects the first half
for both: same shapes, MACs and parameters.

Initialisation (`init_supernet`): `enasim.train`'s (He normal convs, unit batch norms), except
that the last batch norm of every block that merges with its input (a FairNAS residual block's
projection, a SPOS stride-1 block's branch) starts at scale 0 (Goyal et al.'s zero-gamma, as
torchvision's `zero_init_residual`): each such block starts as a pass-through of its input, so
every sub-net starts as the same function of the same few layers. Without it this deep, narrow,
batch-normalised supernet starts chaotic (a 1 % change of the stem's weights changes the logits
by 68 % at W = 0.25), ops of one layer never become interchangeable, and random-path training
stays at chance (docs/nas.md).

Training (`train_supernet`): SGD with the Nesterov momentum and weight decay of `enasim.train`
(`DEFAULTS`), cross-entropy, a cosine learning rate from `LR` (8x lower than `enasim.train`'s,
since a path's ops are updated in ever-changing company; Adam stayed at chance on digits),
batches in a seeded order. Per step, `spos` draws one architecture uniformly (each layer's
choice uniform and independent) and updates; `fairnas` draws per layer a uniform permutation
of the C choices, runs the C architectures it defines (sub-net k takes entry k of every
permutation) on the same batch, averages their gradients and updates once, so every choice of
every layer gets exactly one gradient per step (FairNAS's strict fairness; FairNAS sums them,
the same as C x our rate). A choice off the path gets no gradient, so SGD leaves it (and its
momentum) untouched.

Fitness (`SupernetFitness`): a sub-net's test top-1 accuracy (%) with inherited weights, after
its batch-norm statistics are recomputed (SPOS's practice: the supernet's running statistics
mix all paths) as exact averages over `BN_BATCHES` fixed training batches of `BN_BATCH_SIZE`
images (the first images of a permutation seeded by the checkpoint's seed); cached per
architecture.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from enasim.errors import ConfigError
from enasim.fileio import atomic_write
from enasim.nas.enasa.groups import strict_fair_group
from enasim.nas.enasa.supernet_cli import EPOCHS, LR
from enasim.nas.spaces import fairnas, spos
from enasim.nas.spaces.supernet import Arch, Supernet, SupernetOp
from enasim.train import DEFAULTS
from enasim.train.checkpoint import load_state, torch_load
from enasim.train.data import Dataset, load_dataset
from enasim.train.module import init_weights
from enasim.train.trainer import (
    check_epochs,
    check_lr,
    deterministic,
    epoch_batches,
    evaluate,
    make_optimizer,
    training_steps,
)

FORMAT, VERSION = "enasim-supernet-checkpoint", 1
BUILDERS = {"spos": spos.build_supernet, "fairnas": fairnas.build_supernet}
METHODS = ("spos", "fairnas")
BN_BATCHES, BN_BATCH_SIZE = 10, 64  # 640 training images recalibrate a sub-net's BN


def scaled_supernet(space: str, width_mult: float, image_size: int, classes: int) -> Supernet:
    """The op table of `space` at CPU scale (channels by `scale_channels`)."""
    if space not in BUILDERS:
        raise ConfigError("", "--space", f"expected one of {', '.join(BUILDERS)}, got {space!r}")
    if not (math.isfinite(width_mult) and 0 < width_mult <= 4):
        raise ConfigError("", "--width-mult", f"expected a number in (0, 4], got {width_mult}")
    if not 8 <= image_size <= 1024:
        raise ConfigError("", "--image-size", f"expected 8..1024 pixels, got {image_size}")
    net = BUILDERS[space](width_mult, image_size, classes)
    empty = [op.key for op in net.all_ops if min(op.c_in, op.c_out) < 1]
    if empty:  # SPOS's stride-2 blocks need more output than input channels
        raise ConfigError(
            "",
            "--width-mult",
            f"{width_mult:g} leaves {space}'s {empty[0]} "
            f"without channels (channels round to multiples of 8); use a larger one",
        )
    return net


def table_sha256(net: Supernet) -> str:
    """SHA-256 of the op table: the supernet's identity in a checkpoint."""
    return hashlib.sha256(repr(net.all_ops).encode()).hexdigest()


class ConvBN(nn.Module):
    """One supernet operator: a conv with its batch norm, or the FC."""

    def __init__(self, op: SupernetOp):
        super().__init__()
        if op.kind == "linear":
            self.conv, self.bn = nn.Linear(op.c_in, op.c_out, bias=op.bias), None
        else:
            self.conv = nn.Conv2d(
                op.c_in, op.c_out, op.k, op.stride, op.pad, groups=op.groups, bias=op.bias
            )
            self.bn = nn.BatchNorm2d(op.c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) if self.bn is None else self.bn(self.conv(x))


def _module_key(op: SupernetOp) -> str:
    return op.key.replace(".", "_")  # ModuleDict keys cannot hold dots


class SupernetModule(nn.Module):
    """Every operator of `net` with its own weights; `forward(x, arch)` runs sub-net `arch`."""

    def __init__(self, net: Supernet):
        super().__init__()
        self.net = net
        self.ops = nn.ModuleDict({_module_key(op): ConvBN(op) for op in net.all_ops})

    def op(self, op: SupernetOp) -> ConvBN:
        return self.ops[_module_key(op)]

    def path_modules(self, arch: Arch) -> list[ConvBN]:
        """The operators sub-net `arch` uses, in order."""
        return [self.op(op) for op in self.net.subnet_ops(arch)]

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        if self.net.name == "spos":
            return self._spos(x, arch)
        return self._fairnas(x, arch)

    def _chain(
        self,
        ops: Sequence[SupernetOp],
        x: torch.Tensor,
        act: Callable[[SupernetOp], Callable[[torch.Tensor], torch.Tensor] | None],
    ) -> torch.Tensor:
        for op in ops:
            x = self.op(op)(x)
            f = act(op)
            if f is not None:
                x = f(x)
        return x

    def _spos(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        """ReLU after every pw conv and the stem (`spos._build`)."""
        net = self.net

        def act(op):
            return F.relu if op.kind in ("pwconv", "conv") else None

        x = self._chain(net.pre[0].ops, x, act)
        for layer, choice in enumerate(arch):
            block = net.layers[layer][choice]
            main = [op for op in block.ops if op.name.startswith("branch_main")]
            proj = [op for op in block.ops if op.name.startswith("branch_proj")]
            if proj:
                x = torch.cat((self._chain(proj, x, act), self._chain(main, x, act)), 1)
            else:  # SPOS's channel shuffle: even channels bypass, odd ones run the branch
                n, c, h, w = x.shape
                pairs = x.reshape(n, c // 2, 2, h, w)
                x = torch.cat((pairs[:, :, 0], self._chain(main, pairs[:, :, 1], act)), 1)
        x = self._chain(net.post[0].ops, x, act)
        return self.op(net.post[1].ops[0])(x.mean((2, 3)))

    def _fairnas(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        """ReLU6 after every conv but the linear projections (`fairnas._build`)."""
        net = self.net

        def act(op):
            return None if op.name in ("project_pw", "3") else F.relu6

        x = self._chain((*net.pre[0].ops, *net.pre[1].ops), x, act)
        for layer, choice in enumerate(arch):
            y = self._chain(net.layers[layer][choice].ops, x, act)
            x = x + y if fairnas.residual(layer) else y
        x = self._chain(net.post[0].ops, x, act)
        return self.op(net.post[1].ops[0])(x.mean((2, 3)))


def init_supernet(module: SupernetModule) -> None:
    """`init_weights`, then scale 0 for the last batch norm of every block that merges with its
    input: a FairNAS residual block's projection, a SPOS stride-1 block's branch (module
    docstring)."""
    init_weights(module)
    net = module.net
    for layer, blocks in enumerate(net.layers):
        for block in blocks:
            if net.name == "spos":
                if any(op.name.startswith("branch_proj") for op in block.ops):
                    continue  # a stride-2 block replaces its input
                last = [op for op in block.ops if op.name.startswith("branch_main")][-1]
            elif fairnas.residual(layer):
                last = block.ops[-1]
            else:
                continue
            nn.init.zeros_(module.op(last).bn.weight)


def spos_archs(rng: random.Random, net: Supernet) -> list[Arch]:
    """SPOS's uniform single path: one architecture, each layer's choice uniform."""
    return [tuple(rng.randrange(net.num_choices) for _ in range(net.num_layers))]


def fairnas_archs(rng: random.Random, net: Supernet) -> list[Arch]:
    """FairNAS's strict fairness: C architectures from one permutation per layer."""
    return list(strict_fair_group(rng, net))


SAMPLERS = {"spos": spos_archs, "fairnas": fairnas_archs}


@dataclass
class SupernetRun:
    """What `train_supernet` returns."""

    module: SupernetModule
    train_loss: list[float]
    seconds: float
    settings: dict[str, Any]


def train_supernet(
    net: Supernet,
    dataset: Dataset,
    method: str,
    epochs: float = EPOCHS,
    seed: int = 0,
    *,
    batch_size: int = DEFAULTS["batch_size"],
    lr: float = LR,
    threads: int = DEFAULTS["threads"],
    progress: Callable[[int, int], None] | None = None,
) -> SupernetRun:
    """Train the supernet `net` on `dataset` with `method` (module docstring) for `epochs`
    (fractions allowed: round(epochs x ceil(N_train / batch)) >= 1 steps)."""
    if method not in METHODS:
        raise ConfigError("", "--method", f"expected one of {', '.join(METHODS)}, got {method!r}")
    check_epochs(epochs)
    check_lr(lr)
    n_train = len(dataset.y_train)
    steps = training_steps(n_train, batch_size, epochs)
    sample = SAMPLERS[method]
    start = time.perf_counter()
    with deterministic(threads):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = SupernetModule(net)
            init_supernet(module)
        opt = make_optimizer(module.parameters(), "sgd", lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        x, y = torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train)
        gen = torch.Generator().manual_seed(seed)
        rng = random.Random(seed)
        losses: list[float] = []
        module.train()
        step = 0
        for epoch in epoch_batches(n_train, batch_size, steps, gen):
            total, seen = 0.0, 0
            for idx in epoch:
                opt.zero_grad(set_to_none=True)
                archs = sample(rng, net)
                for arch in archs:
                    loss = F.cross_entropy(module(x[idx], arch), y[idx])
                    (loss / len(archs)).backward()  # the mean gradient of the step's sub-nets
                    total += loss.item() * len(idx)
                    seen += len(idx)
                opt.step()
                schedule.step()
                step += 1
                if progress is not None:
                    progress(step, steps)
            losses.append(total / seen)
        module.eval()
    settings = {
        "method": method,
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
        "optimizer": "sgd",
        "lr": lr,
        "momentum": DEFAULTS["momentum"],
        "weight_decay": DEFAULTS["weight_decay"],
        "schedule": "cosine",
        "seed": seed,
        "threads": threads,
        "torch": str(torch.__version__),
    }
    return SupernetRun(module, losses, time.perf_counter() - start, settings)


def recalibrate_bn(module: SupernetModule, arch: Arch, x: np.ndarray, seed: int) -> None:
    """Recompute the running statistics of the batch norms on `arch`'s path as exact averages
    over BN_BATCHES batches of BN_BATCH_SIZE training images (a permutation from `seed`)."""
    bns = [m.bn for m in module.path_modules(arch) if m.bn is not None]
    momentum = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    order = np.random.default_rng(seed).permutation(len(x))[: BN_BATCHES * BN_BATCH_SIZE]
    module.train()
    with torch.no_grad():
        for b in range(0, len(order), BN_BATCH_SIZE):
            module(torch.from_numpy(x[np.sort(order[b : b + BN_BATCH_SIZE])]), arch)
    for bn, m in zip(bns, momentum, strict=True):
        bn.momentum = m
    module.eval()


class _ArchModule(nn.Module):
    """The supernet bound to one architecture (what `evaluate` calls)."""

    def __init__(self, module: SupernetModule, arch: Arch):
        super().__init__()
        self.module, self.arch = module, arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, self.arch)


def subnet_accuracy(
    module: SupernetModule,
    arch: Arch,
    dataset: Dataset,
    seed: int,
    threads: int = DEFAULTS["threads"],
) -> float:
    """Test top-1 accuracy (a fraction) of sub-net `arch` with inherited weights after BN
    recalibration; the module's BN statistics are left as recalibrated for `arch`."""
    with deterministic(threads):
        recalibrate_bn(module, arch, dataset.x_train, seed)
        return evaluate(_ArchModule(module, arch), dataset.x_test, dataset.y_test, dataset.classes)


# -- checkpoints ------------------------------------------------------------------------------


def metadata(
    net: Supernet,
    run: SupernetRun,
    dataset: Dataset,
    space: str,
    width_mult: float,
    image_size: int,
    fit: str,
) -> dict[str, Any]:
    """What a supernet checkpoint and metrics.json record."""
    return {
        "space": space,
        "width_mult": width_mult,
        "image_size": image_size,
        "fit": fit,
        "supernet_sha256": table_sha256(net),
        "total_weights": net.total_weights,
        "dataset": dataset.spec,
        "classes": dataset.classes,
        "train_images": len(dataset.y_train),
        "test_images": len(dataset.y_test),
        "fitting": dataset.fitting,
        "train_loss": run.train_loss,
        "seconds": run.seconds,
        **run.settings,
    }


def near_chance(meta: dict[str, Any]) -> str | None:
    """Why a supernet's sub-nets will rate at about chance (its last epoch's training loss is
    over 90 % of ln(classes), a uniform guess's), or None."""
    loss, chance = meta["train_loss"][-1], math.log(meta["classes"])
    if loss <= 0.9 * chance:
        return None
    return (
        f"the supernet did not learn (last epoch's training loss {loss:.3f}, a uniform guess "
        f"{chance:.3f}): its sub-nets rate at about chance and rank noise; train longer "
        f"(--epochs; docs/nas.md)"
    )


def save_supernet(path: str | Path, run: SupernetRun, meta: dict[str, Any]) -> None:
    """One file, a `torch.save` of format, version, metadata and state_dict (tensors, strings,
    numbers, lists and dicts only: read back with weights_only=True); written atomically."""
    buf = io.BytesIO()
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "metadata": meta,
            "state_dict": run.module.state_dict(),
        },
        buf,
    )
    atomic_write(path, buf.getvalue())


def load_supernet(path: str | Path) -> tuple[SupernetModule, dict[str, Any]]:
    """(trained supernet in eval mode, metadata) of a checkpoint `enasim enasa train` wrote."""
    src = str(path)
    data = torch_load(path, "a supernet checkpoint enasim enasa train wrote")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(src, "format", f"not a supernet checkpoint (expected format '{FORMAT}')")
    if data.get("version") != VERSION:
        raise ConfigError(src, "version", f"expected {VERSION}, got {data.get('version')!r}")
    meta = data.get("metadata")
    try:
        net = scaled_supernet(
            meta["space"], float(meta["width_mult"]), int(meta["image_size"]), int(meta["classes"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(src, "metadata", f"damaged ({type(exc).__name__}: {exc})") from None
    except ConfigError as exc:
        raise ConfigError(src, f"metadata: {exc.field}", exc.message) from None
    if table_sha256(net) != meta.get("supernet_sha256"):
        raise ConfigError(
            src,
            "supernet_sha256",
            "does not match the supernet its metadata "
            "describes (the file is damaged or from another enasim)",
        )
    module = SupernetModule(net)
    load_state(module, data.get("state_dict"), src, "the supernet")
    return module, meta


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class SupernetFitness:
    """`enasa run --fitness supernet:CHECKPOINT`: f(space, arch) = test top-1 accuracy (%) of
    the sub-net with inherited weights (module docstring); `identity` (the checkpoint's
    SHA-256) keys a resumed search to the same weights."""

    def __init__(self, path: str | Path, space: str | None = None):
        self.source = str(path)
        self.module, self.meta = load_supernet(path)
        if space is not None and space != self.meta["space"]:
            raise ConfigError(
                self.source,
                "space",
                f"a {self.meta['space']} supernet cannot "
                f"rate {space} sub-nets; train one with enasim enasa train "
                f"--space {space}",
            )
        self.identity = file_sha256(path)
        self.seed = int(self.meta["seed"])
        self.threads = int(self.meta.get("threads", DEFAULTS["threads"]))
        self.dataset = load_dataset(
            self.meta["dataset"],
            (3, self.meta["image_size"], self.meta["image_size"]),
            self.seed,
            self.meta["fit"],
        )
        self.cache: dict[Arch, float] = {}
        warning = near_chance(self.meta)
        if warning:
            print(f"enasim: warning: {self.source}: {warning}", file=sys.stderr)

    def __call__(self, space: str, arch: Sequence[int]) -> float:
        if space != self.meta["space"]:
            raise ConfigError(
                self.source,
                "space",
                f"a {self.meta['space']} supernet cannot rate {space} sub-nets",
            )
        key = self.module.net.check_arch(tuple(arch), self.source)
        if key not in self.cache:
            acc = subnet_accuracy(self.module, key, self.dataset, self.seed, self.threads)
            self.cache[key] = 100.0 * acc
        return self.cache[key]


def write_results(out: Path, run: SupernetRun, meta: dict[str, Any], files: Sequence[str]) -> None:
    """checkpoint.pt and metrics.json as one set."""
    from enasim.fileio import result_set

    with result_set(out, tuple(files)) as stage:
        save_supernet(stage / files[0], run, meta)
        atomic_write(stage / files[1], json.dumps(meta, indent=2) + "\n")
