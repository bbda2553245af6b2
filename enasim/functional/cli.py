"""`enasim infer`: run a workload functionally on the crossbars and report per-layer errors.

Kept free of heavy imports (numba loads only when the command runs).
"""

from __future__ import annotations

from enasim.config.loader import load_option
from enasim.config.options import add_hw_options
from enasim.fileio import check_result_dir
from enasim.validate import seed_arg
from enasim.workload import load_workload

DEFAULT_WORKLOAD = "vgg8"


def add_parser(sub) -> None:
    p = sub.add_parser("infer", help="run a workload functionally on the crossbars (bit-sliced "
                       "MACs, ADC and device effects) and report per-layer errors")
    add_hw_options(p)
    p.add_argument("--workload", default=DEFAULT_WORKLOAD, metavar="NAME|FILE",
                   help=f"zoo name or workload YAML (default: {DEFAULT_WORKLOAD})")
    p.add_argument("--images", type=int, metavar="N",
                   help="random input images (default 1; with --inputs: the file's count)")
    p.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of the random weights, inputs and device effects (default: 0)")
    p.add_argument("-o", "--out", metavar="DIR",
                   help="results directory (default: results/infer-HW-WORKLOAD)")
    p.add_argument("--weights", metavar="FILE.npz",
                   help="integer weights per layer name, PyTorch layout, or an ONNX model's "
                        "initializers, quantised per layer (default: random)")
    p.add_argument("--inputs", metavar="FILE.npz",
                   help="integer images in array 'input', N x C x H x W (default: random)")
    p.add_argument("--quiet", action="store_true", help="print only the results directory")
    p.set_defaults(func=run)


def run(args) -> int:
    from enasim.functional.data import weights_and_images
    from enasim.functional.inference import run_inference
    from enasim.functional.results import RESULT_FILES, layers_table, write_results

    hw, hw_path = load_option(args.hw, args.set)
    net = load_workload(args.workload)
    out = check_result_dir(args.out or f"results/infer-{hw.name}-{net.name}", RESULT_FILES)
    weights, images = weights_and_images(net, hw, args.weights, args.inputs, args.images,
                                         args.seed)
    result = run_inference(net, hw, weights, images, args.seed)
    summary = write_results(out, result, hw, str(hw_path),
                            args.weights or "random", args.inputs or "random")
    if args.quiet:
        print(out)
        return 0
    print(f"{net.name} on {hw.name}: {result.images} image(s), seed {args.seed}, weights "
          f"{summary['weights']}, inputs {summary['inputs']}; {hw.precision.weight_bits}-bit "
          f"weights ({hw.precision.signed_weights}) in {hw.crossbar.cell_bits}-bit cells, "
          f"{hw.precision.input_bits} input bits, {hw.adc.bits}-bit ADC "
          f"({hw.adc.range_mode} range)\n")
    print(layers_table(result))
    print(f"\noutput rel. RMS error vs exact network {result.layers[-1].e2e_rel_rms_error:.4g}, "
          f"clipped conversions {summary['clipped_fraction']:.3%}, "
          f"ADC energy {summary['adc_energy_pj'] / 1e6:.4g} uJ")
    print(f"\nresults in {out}/ (layers.csv, summary.json)")
    return 0
