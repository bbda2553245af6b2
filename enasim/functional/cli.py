"""`enasim infer`: run a workload functionally on the crossbars and report per-layer errors.

Kept free of heavy imports (numba loads only when the command runs).
"""

from __future__ import annotations

from enasim.config.loader import load_option
from enasim.config.options import add_hw_options
from enasim.errors import ConfigError
from enasim.fileio import check_result_dir
from enasim.validate import seed_arg
from enasim.workload import load_workload

DEFAULT_WORKLOAD = "vgg8"
RANGE_MODES = ("full", "calibrated", "partial_rows")  # adc.range_mode choices


class _Unset(str):
    """The --workload default: equal to DEFAULT_WORKLOAD, but told apart from a user's
    `--workload vgg8` (a trained run then takes the checkpoint's network)."""


UNSET_WORKLOAD = _Unset(DEFAULT_WORKLOAD)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "infer",
        help="run a workload functionally on the crossbars (bit-sliced "
        "MACs, ADC and device effects) and report per-layer errors",
    )
    add_hw_options(p)
    p.add_argument(
        "--workload",
        default=UNSET_WORKLOAD,
        metavar="NAME|FILE",
        help=f"zoo name or workload YAML (default: {DEFAULT_WORKLOAD}; with a "
        "trained checkpoint, its network)",
    )
    p.add_argument(
        "--images",
        type=int,
        metavar="N",
        help="random input images (default 1; with --inputs: the file's count; "
        "with --dataset: the first N test images, default all)",
    )
    p.add_argument(
        "--seed",
        type=seed_arg,
        default=0,
        help="seed of the random weights, inputs and device effects (default: 0)",
    )
    p.add_argument(
        "-o", "--out", metavar="DIR", help="results directory (default: results/infer-HW-WORKLOAD)"
    )
    p.add_argument(
        "--weights",
        metavar="FILE.npz",
        help="integer weights per layer name, PyTorch layout, or an ONNX model's "
        "initializers, quantised per layer (default: random); with "
        "--dataset: a checkpoint.pt of enasim train",
    )
    p.add_argument(
        "--inputs",
        metavar="FILE.npz",
        help="integer images in array 'input', N x C x H x W (default: random)",
    )
    p.add_argument(
        "--dataset",
        metavar="digits|FILE.npz|DIR",
        help="measure top-1 accuracy of the trained --weights checkpoint on this "
        "dataset's test split (as enasim train splits it): float, quantised "
        "and crossbar model per ADC range mode",
    )
    p.add_argument(
        "--modes",
        default=",".join(RANGE_MODES),
        metavar="MODE[,MODE...]",
        help="with --dataset: adc.range_mode values to run (default: all)",
    )
    p.add_argument(
        "--adc-bits",
        metavar="B[,B...]",
        help="with --dataset: also sweep adc.bits over these values per mode and "
        "write accuracy_vs_adc_bits.csv and .png",
    )
    p.add_argument("--quiet", action="store_true", help="print only the results directory")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.dataset is not None:
        return run_trained(args)
    for flag, value in (
        ("--modes", args.modes != ",".join(RANGE_MODES)),
        ("--adc-bits", args.adc_bits),
    ):
        if value:
            raise ConfigError(
                "", flag, "expected only with --dataset (accuracy of a trained checkpoint)"
            )
    if args.weights and args.weights.endswith(".pt"):
        raise ConfigError(
            args.weights,
            "--weights",
            "a trained checkpoint needs --dataset (the data to measure its accuracy on)",
        )
    from enasim.functional.data import weights_and_images
    from enasim.functional.inference import run_inference
    from enasim.functional.results import RESULT_FILES, layers_table, write_results

    hw, hw_path = load_option(args.hw, args.set)
    net = load_workload(args.workload)
    out = check_result_dir(args.out or f"results/infer-{hw.name}-{net.name}", RESULT_FILES)
    weights, images = weights_and_images(net, hw, args.weights, args.inputs, args.images, args.seed)
    result = run_inference(net, hw, weights, images, args.seed)
    summary = write_results(
        out, result, hw, str(hw_path), args.weights or "random", args.inputs or "random"
    )
    if args.quiet:
        print(out)
        return 0
    print(
        f"{net.name} on {hw.name}: {result.images} image(s), seed {args.seed}, weights "
        f"{summary['weights']}, inputs {summary['inputs']}; {hw.precision.weight_bits}-bit "
        f"weights ({hw.precision.signed_weights}) in {hw.crossbar.cell_bits}-bit cells, "
        f"{hw.precision.input_bits} input bits, {hw.adc.bits}-bit ADC "
        f"({hw.adc.range_mode} range)\n"
    )
    print(layers_table(result))
    print(
        f"\noutput rel. RMS error vs exact network {result.layers[-1].e2e_rel_rms_error:.4g}, "
        f"clipped conversions {summary['clipped_fraction']:.3%}, "
        f"ADC energy {summary['adc_energy_pj'] / 1e6:.4g} uJ"
    )
    print(f"\nresults in {out}/ (layers.csv, summary.json)")
    return 0


def run_trained(args) -> int:
    """`enasim infer --weights CHECKPOINT --dataset D`: accuracy of a trained network."""
    from enasim.train import require_torch

    if not args.weights:
        raise ConfigError(
            "",
            "--dataset",
            "expected --weights CHECKPOINT (a checkpoint.pt of enasim train) with --dataset",
        )
    if args.inputs:
        raise ConfigError(
            "",
            "--inputs",
            "expected no --inputs with --dataset (the images are the dataset's test split)",
        )
    modes = parse_modes(args.modes)
    sweep_bits = parse_bits(args.adc_bits) if args.adc_bits else ()
    if args.images is not None and args.images < 1:
        raise ConfigError("", "--images", f"expected at least 1, got {args.images}")
    require_torch()
    from enasim.functional.accuracy import evaluate_checkpoint
    from enasim.functional.results import TRAINED_FILES, accuracy_text

    hw, hw_path = load_option(args.hw, args.set)

    def variant(mode: str, bits: int | None = None):
        extra = [f"adc.range_mode={mode}"] + ([] if bits is None else [f"adc.bits={bits}"])
        return load_option(args.hw, [*args.set, *extra])[0]

    hws = {m: variant(m) for m in modes}  # every variant checked before any work
    sweep = {(b, m): variant(m, b) for b in sweep_bits for m in modes}
    net = None if args.workload is UNSET_WORKLOAD else load_workload(args.workload)
    report = evaluate_checkpoint(
        args.weights,
        net,
        hw,
        str(hw_path),
        hws,
        sweep,
        args.dataset,
        args.images,
        args.seed,
        args.out,
    )
    if args.quiet:
        print(report.out)
        return 0
    print(accuracy_text(report))
    names = [n for n in TRAINED_FILES if (report.out / n).exists()]
    print(f"\nresults in {report.out}/ ({', '.join(names)})")
    return 0


def parse_modes(text: str) -> tuple[str, ...]:
    """`--modes full,calibrated`: range modes, in the order given, no repeats."""
    modes = tuple(m.strip() for m in text.split(","))
    for m in modes:
        if m not in RANGE_MODES:
            raise ConfigError(
                "",
                "--modes",
                f"expected a comma-separated list of {', '.join(RANGE_MODES)}, got {m!r}",
            )
    if len(set(modes)) != len(modes):
        raise ConfigError("", "--modes", f"a mode is given twice in {text!r}")
    return modes


def parse_bits(text: str) -> tuple[int, ...]:
    """`--adc-bits 3,4,5`: ADC resolutions in bits, sorted, no repeats."""
    try:
        bits = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise ConfigError(
            "", "--adc-bits", f"expected comma-separated integers, got {text!r}"
        ) from None
    if len(set(bits)) != len(bits) or not all(1 <= b <= 16 for b in bits):
        raise ConfigError("", "--adc-bits", f"expected distinct integers in [1, 16], got {text!r}")
    return tuple(sorted(bits))
