"""`enasim train`: train a workload on a dataset and write checkpoint.pt and metrics.json.

Kept free of heavy imports: torch loads only when the command runs.
"""

from __future__ import annotations

import json
import sys

from enasim.fileio import atomic_write, check_result_dir, result_set
from enasim.train import DEFAULT_LR, DEFAULTS, DIGITS, FITS, OPTIMIZERS
from enasim.validate import int_arg, seed_arg

RESULT_FILES = ("checkpoint.pt", "metrics.json")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a workload on a dataset with PyTorch (CPU) and "
        "write checkpoint.pt and metrics.json (needs the 'train' extra)",
    )
    p.add_argument(
        "--workload",
        required=True,
        metavar="NAME|FILE",
        help="zoo name, supernet sub-net or workload YAML/ONNX file",
    )
    p.add_argument(
        "--dataset",
        default=DIGITS,
        metavar="digits|FILE.npz|DIR",
        help="scikit-learn's bundled 8x8 digits, an .npz of 'images' and 'labels', "
        "or a folder of class subfolders (default: digits)",
    )
    p.add_argument(
        "--epochs",
        type=float,
        default=3.0,
        help="passes over the training set; fractions allowed (default: 3)",
    )
    p.add_argument(
        "--seed",
        type=seed_arg,
        default=0,
        help="seed of the weights, the batch order and the train/test split (default: 0)",
    )
    p.add_argument(
        "--batch-size",
        type=int_arg(1, 1 << 20),
        default=DEFAULTS["batch_size"],
        help="images per mini-batch (default: %(default)s)",
    )
    p.add_argument(
        "--lr",
        type=float,
        help="initial learning rate, decayed along a cosine (default: "
        + ", ".join(f"{v:g} for {k}" for k, v in DEFAULT_LR.items())
        + ")",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=DEFAULTS["optimizer"],
        help=f"SGD with Nesterov momentum {DEFAULTS['momentum']:g}, or Adam; weight "
        f"decay {DEFAULTS['weight_decay']:g} (default: %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int_arg(1, 256),
        default=DEFAULTS["threads"],
        help="intra-op threads of torch, fixed so that runs repeat exactly (default: %(default)s)",
    )
    p.add_argument(
        "--fit",
        choices=FITS,
        default="pad",
        help="fitting images to the network's input: 'pad' zero-pads smaller images "
        "(shrinking larger ones), 'resize' scales every image to fit "
        "(default: pad)",
    )
    p.add_argument(
        "-o", "--out", metavar="DIR", help="results directory (default: results/train-WORKLOAD)"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from enasim.train import require_torch

    require_torch()
    from enasim.train.checkpoint import metadata, save_checkpoint
    from enasim.train.data import load_dataset
    from enasim.train.trainer import train
    from enasim.workload import load_workload

    net = load_workload(args.workload)
    out = check_result_dir(args.out or f"results/train-{net.name}", RESULT_FILES)
    dataset = load_dataset(args.dataset, net.input_shape, args.seed, args.fit)
    show = sys.stderr.isatty()
    result = train(
        net,
        dataset,
        args.epochs,
        args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        threads=args.threads,
        progress=_progress if show else None,
    )
    metrics = metadata(net, result, dataset)
    with result_set(out, RESULT_FILES) as stage:
        save_checkpoint(stage / "checkpoint.pt", net, result, dataset)
        atomic_write(stage / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    f = dataset.fitting
    print(
        f"{net.name} on {dataset.spec}: {len(dataset.y_train)} training / "
        f"{len(dataset.y_test)} test images, {dataset.classes} classes ({f['source_shapes']} "
        f"fitted to {'x'.join(map(str, f['input_shape']))}, {f['fit']})"
    )
    print(
        f"{result.settings['steps']} steps of {args.batch_size} ({args.epochs:g} epochs, "
        f"{result.settings['optimizer']}, lr {result.settings['lr']:g}, seed {args.seed}, "
        f"{args.threads} thread(s)) in {result.seconds:.2f} s; loss per epoch "
        + " ".join(f"{x:.4f}" for x in result.train_loss)
    )
    print(f"test top-1 accuracy {result.accuracy:.2%}")
    print(f"\nresults in {out}/ ({', '.join(RESULT_FILES)})")
    return 0


def _progress(step: int, steps: int) -> None:
    end = "\n" if step == steps else ""
    print(f"\rtraining: step {step}/{steps}", end=end, file=sys.stderr, flush=True)
