"""Does a CPU-scale supernet rank sub-nets? `enasim enasa train` against stand-alone training.

Trains a supernet as `enasim enasa train` does (digits, 32x32 resize, W = 0.25, seed 0, the
command's defaults unless given), rates `--subnets` uniform random sub-nets with inherited
weights (`supernet:` fitness: BN recalibrated, test split), trains the first `--standalone` of
them alone from scratch (the same path in a fresh module, SGD 0.1, `--standalone-epochs`), and
prints per sub-net both accuracies, then the spread and the rank correlations (Spearman,
Kendall) between them: what one-shot NAS assumes. `--plain-init` trains the supernet without
the zero-gamma initialisation (the ablation in docs/nas.md).

    python benchmarks/bench_supernet.py [--space spos] [--method M] [--epochs E]
        [--subnets 10] [--standalone 6] [--standalone-epochs 3] [--plain-init]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

import torch
from scipy.stats import kendalltau, spearmanr
from torch.nn import functional as F

from enasim.nas.enasa import supernet_cli
from enasim.nas.enasa import supernet_train as st
from enasim.report.tables import format_table
from enasim.train import DEFAULTS, load_dataset
from enasim.train.module import init_weights
from enasim.train.trainer import deterministic, epoch_batches, make_optimizer, training_steps


def standalone(net, arch, dataset, epochs: float, lr: float, seed: int) -> float:
    """Test accuracy of path `arch` trained alone from a fresh initialisation."""
    with deterministic(DEFAULTS["threads"]):
        torch.manual_seed(seed)
        module = st.SupernetModule(net)
        st.init_supernet(module)
        params = [p for m in module.path_modules(arch) for p in m.parameters()]
        opt = make_optimizer(params, "sgd", lr)
        n, bs = len(dataset.y_train), DEFAULTS["batch_size"]
        steps = training_steps(n, bs, epochs)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        x, y = torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train)
        gen = torch.Generator().manual_seed(seed)
        module.train()
        for epoch in epoch_batches(n, bs, steps, gen):
            for idx in epoch:
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(module(x[idx], arch), y[idx]).backward()
                opt.step()
                sched.step()
    return st.subnet_accuracy(module, arch, dataset, seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="spos", choices=supernet_cli.SPACES)
    ap.add_argument("--method", default=None, choices=st.METHODS)
    ap.add_argument("--epochs", type=float, default=supernet_cli.EPOCHS)
    ap.add_argument("--lr", type=float, default=supernet_cli.LR)
    ap.add_argument("--subnets", type=int, default=10)
    ap.add_argument("--standalone", type=int, default=6)
    ap.add_argument("--standalone-epochs", type=float, default=3.0)
    ap.add_argument("--plain-init", action="store_true")
    args = ap.parse_args()
    if args.plain_init:
        st.init_supernet = init_weights  # the ablation: enasim.train's initialisation only
    size = supernet_cli.DEFAULT_IMAGE_SIZE
    dataset = load_dataset("digits", (3, size, size), 0, "resize")
    net = st.scaled_supernet(args.space, supernet_cli.DEFAULT_WIDTH_MULT, size, dataset.classes)
    method = args.method or args.space
    run = st.train_supernet(net, dataset, method, args.epochs, 0, lr=args.lr)
    rng = random.Random(1)
    archs = [
        tuple(rng.randrange(net.num_choices) for _ in range(net.num_layers))
        for _ in range(args.subnets)
    ]
    start = time.perf_counter()
    inherited = [st.subnet_accuracy(run.module, a, dataset, 0) for a in archs]
    rate_s = (time.perf_counter() - start) / len(archs)
    start = time.perf_counter()
    alone = [
        standalone(net, a, dataset, args.standalone_epochs, 0.1, 0)
        for a in archs[: args.standalone]
    ]
    alone_s = (time.perf_counter() - start) / max(1, len(alone))
    rows = [
        ["".join(map(str, a)), f"{i:.2%}", f"{alone[k]:.2%}" if k < len(alone) else "-"]
        for k, (a, i) in enumerate(zip(archs, inherited, strict=True))
    ]
    print(format_table(["sub-net (choice per layer)", "inherited", "stand-alone"], rows))
    init = "plain init" if args.plain_init else "zero-gamma init"
    print(
        f"\n{args.space} supernet, {method} training, {init}: {run.settings['steps']} steps "
        f"({args.epochs:g} epochs, lr {args.lr:g}) in {run.seconds:.1f} s; last epoch loss "
        f"{run.train_loss[-1]:.3f} (chance {math.log(dataset.classes):.3f})"
    )
    print(
        f"inherited accuracy of {len(archs)} random sub-nets: min {min(inherited):.2%}, median "
        f"{statistics.median(inherited):.2%}, max {max(inherited):.2%} "
        f"({rate_s:.2f} s each to rate)"
    )
    if len(alone) >= 3:
        rho = spearmanr(inherited[: len(alone)], alone).statistic
        tau = kendalltau(inherited[: len(alone)], alone).statistic
        print(
            f"stand-alone ({args.standalone_epochs:g} epochs, {alone_s:.1f} s each): min "
            f"{min(alone):.2%}, max {max(alone):.2%}; rank correlation with inherited: "
            f"Spearman {rho:+.2f}, Kendall {tau:+.2f}"
        )


if __name__ == "__main__":
    main()
