"""`enasim enasa train`: train a SPOS or FairNAS supernet at CPU scale and write checkpoint.pt
and metrics.json (`enasim.nas.enasa.supernet_train`; needs the 'train' extra).

Kept free of heavy imports: torch loads only when the command runs.
"""

from __future__ import annotations

import sys

from enasim.train import DEFAULTS, DIGITS, FITS
from enasim.validate import int_arg, seed_arg

RESULT_FILES = ("checkpoint.pt", "metrics.json")
SPACES = ("fairnas", "spos")
DEFAULT_WIDTH_MULT = 0.25
# the best of sweeps on digits (docs/nas.md): lower than enasim.train's, since a path's ops are
# updated in ever-changing company; 60 epochs are 2,700 steps of 32 on digits
LR = 0.0025
EPOCHS = 60
DEFAULT_IMAGE_SIZE = 32  # five stride-2 stages leave 1x1 maps (224 leaves 7x7)


def add_parser(act) -> None:
    t = act.add_parser(
        "train",
        help="train a SPOS or FairNAS supernet with PyTorch (CPU) for "
        "--fitness supernet:CHECKPOINT (needs the 'train' extra)",
    )
    t.add_argument("--space", choices=SPACES, required=True, help="supernet")
    t.add_argument(
        "--method",
        choices=SPACES,
        help="spos: one uniform architecture per step; fairnas: strict fairness, "
        "C architectures per step using every choice once, one update "
        "(default: the space's own)",
    )
    t.add_argument(
        "--width-mult",
        type=float,
        default=DEFAULT_WIDTH_MULT,
        metavar="W",
        help="channel width multiplier, channels rounded to multiples of 8 "
        f"(default: {DEFAULT_WIDTH_MULT:g})",
    )
    t.add_argument(
        "--image-size",
        type=int_arg(8, 1024),
        default=DEFAULT_IMAGE_SIZE,
        metavar="PX",
        help=f"input height = width (default: {DEFAULT_IMAGE_SIZE})",
    )
    t.add_argument(
        "--dataset",
        default=DIGITS,
        metavar="digits|FILE.npz|DIR",
        help="scikit-learn's bundled 8x8 digits, an .npz of 'images' and 'labels', "
        "or a folder of class subfolders (default: digits)",
    )
    t.add_argument(
        "--fit",
        choices=FITS,
        default="resize",
        help="fitting images to the input: 'resize' scales them (default), 'pad' zero-pads",
    )
    t.add_argument(
        "--epochs",
        type=float,
        default=EPOCHS,
        help="passes over the training set; fractions allowed (default: %(default)s)",
    )
    t.add_argument(
        "--seed",
        type=seed_arg,
        default=0,
        help="seed of the weights, the batch order, the architectures drawn and the "
        "train/test split (default: 0)",
    )
    t.add_argument(
        "--batch-size",
        type=int_arg(1, 1 << 20),
        default=DEFAULTS["batch_size"],
        help="images per mini-batch (default: %(default)s)",
    )
    t.add_argument(
        "--lr",
        type=float,
        default=LR,
        help=f"initial learning rate of SGD (Nesterov momentum {DEFAULTS['momentum']:g}, weight "
        f"decay {DEFAULTS['weight_decay']:g}), decayed along a cosine (default: %(default)s)",
    )
    t.add_argument(
        "--threads",
        type=int_arg(1, 256),
        default=DEFAULTS["threads"],
        help="intra-op threads of torch, fixed so that runs repeat exactly (default: %(default)s)",
    )
    t.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        help="results directory (default: results/supernet-SPACE-METHOD)",
    )
    t.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from enasim.train import require_torch

    require_torch()
    from enasim.fileio import check_result_dir
    from enasim.nas.enasa import supernet_train as st
    from enasim.train.data import load_dataset

    method = args.method or args.space
    # the class count comes from the data, so the supernet is checked before reading it
    st.scaled_supernet(args.space, args.width_mult, args.image_size, 10)
    out = check_result_dir(args.out or f"results/supernet-{args.space}-{method}", RESULT_FILES)
    size = args.image_size
    dataset = load_dataset(args.dataset, (3, size, size), args.seed, args.fit)
    net = st.scaled_supernet(args.space, args.width_mult, size, dataset.classes)
    run = st.train_supernet(
        net,
        dataset,
        method,
        args.epochs,
        args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        threads=args.threads,
        progress=_progress if sys.stderr.isatty() else None,
    )
    meta = st.metadata(net, run, dataset, args.space, args.width_mult, size, args.fit)
    st.write_results(out, run, meta, RESULT_FILES)
    s = run.settings
    print(
        f"{args.space} supernet x{args.width_mult:g} at {size}x{size} ({net.total_weights:,} "
        f"weights) on {dataset.spec}: {len(dataset.y_train)} training images, "
        f"{dataset.classes} classes"
    )
    print(
        f"{method} training: {s['steps']} steps of {args.batch_size} ({args.epochs:g} "
        f"epochs, {s['optimizer']}, lr {s['lr']:g}, seed {args.seed}) in {run.seconds:.2f} s; "
        "loss per epoch " + " ".join(f"{x:.4f}" for x in run.train_loss)
    )
    print(
        f"\nresults in {out}/ ({', '.join(RESULT_FILES)}); use --fitness "
        f"supernet:{out}/checkpoint.pt"
    )
    warning = st.near_chance(meta)
    if warning:
        print(f"enasim: warning: {warning}", file=sys.stderr)
    return 0


def _progress(step: int, steps: int) -> None:
    end = "\n" if step == steps else ""
    print(f"\rtraining: step {step}/{steps}", end=end, file=sys.stderr, flush=True)
