"""CIM-aware accuracy (issue 25 item 5): FLASH's reference network (w_m = 1) built at digits'
8x8, trained 3 epochs (seed 0, as docs/training.md), then run on flash_imc's crossbars for
every adc.bits in 3..8 and every ADC range mode, on all 359 test images: the accuracy-vs-bits
table `enasim infer --weights CHECKPOINT --dataset digits --adc-bits 3,4,5,6,7,8` writes, with
the float and the quantised accuracy and the seconds of each crossbar run. About 10 minutes on
2 cores (the crossbar runs; training takes ~7 s).

    python benchmarks/bench_accuracy.py [--images N] [--bits 3,4,5,6,7,8] [-o DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from enasim.config.loader import load_option
from enasim.functional.accuracy import evaluate_checkpoint
from enasim.functional.cli import RANGE_MODES, parse_bits
from enasim.functional.results import accuracy_text
from enasim.nas.spaces.densenet_flash import build_densenet_flash
from enasim.train import load_dataset, save_checkpoint, train

EPOCHS, HW = 3, "flash_imc"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, help="first N test images (default: all 359)")
    ap.add_argument("--bits", default="3,4,5,6,7,8", help="adc.bits values (default: 3..8)")
    ap.add_argument("-o", "--out", help="results directory (default: a temporary one)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-accuracy-"))
    out = Path(args.out) if args.out else tmp / "infer"
    net = build_densenet_flash(wm=1, image_size=8, name="flash8")
    data = load_dataset("digits", net.input_shape, seed=0)
    t0 = time.perf_counter()
    result = train(net, data, EPOCHS, seed=0)
    print(
        f"trained {net.name}: {EPOCHS} epochs in {time.perf_counter() - t0:.1f} s, "
        f"test accuracy {result.accuracy:.2%}"
    )
    save_checkpoint(tmp / "checkpoint.pt", net, result, data)
    hw, hw_path = load_option(HW)

    def variant(mode: str, bits: int | None = None):
        extra = [f"adc.range_mode={mode}"] + ([] if bits is None else [f"adc.bits={bits}"])
        return load_option(HW, extra)[0]

    bits = parse_bits(args.bits)
    t0 = time.perf_counter()
    report = evaluate_checkpoint(
        str(tmp / "checkpoint.pt"),
        net,
        hw,
        str(hw_path),
        {m: variant(m) for m in RANGE_MODES},
        {(b, m): variant(m, b) for b in bits for m in RANGE_MODES},
        "digits",
        args.images,
        0,
        str(out),
    )
    runs = len({(r.adc_bits, r.range_mode) for r in [*report.runs, *report.sweep]})
    print(f"{runs} crossbar runs of {report.images} images in {time.perf_counter() - t0:.0f} s\n")
    text = accuracy_text(report)
    print(text[text.index("\nmodel") + 1 :])  # the accuracy tables, not the per-layer ones
    print(f"\nresults in {out}/")


if __name__ == "__main__":
    main()
