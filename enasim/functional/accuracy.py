"""`enasim infer --weights CHECKPOINT --dataset D`: a trained network's top-1 accuracy as a float
model, as an integer-quantised model and on the crossbars, per ADC range mode, and optionally
over a sweep of adc.bits (`enasim.functional.trained` holds the quantisation).

The images are the test split `enasim train` measured the checkpoint's accuracy on: the dataset
is loaded with the checkpoint's seed and fit (`load_dataset`), and `--images N` keeps its
first N images. Results go to one set of files (`enasim.functional.results`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enasim.config.schema import HardwareConfig
from enasim.errors import ConfigError
from enasim.fileio import check_result_dir
from enasim.functional.data import check_work
from enasim.functional.trained import ModeRun, crossbar_accuracy, quantise
from enasim.workload.ir import Network


@dataclass
class AccuracyReport:
    """What `evaluate_checkpoint` measured and where it wrote it."""

    out: Path
    network: Network
    hw: HardwareConfig
    hw_source: str
    checkpoint: str
    dataset: str
    images: int
    test_images: int
    classes: int
    seed: int
    accuracy_float: float
    accuracy_quantised: float
    runs: list[ModeRun]  # one per mode at the hwconfig's adc.bits
    sweep: list[ModeRun] = field(default_factory=list)  # (bits, mode) sweep, bits ascending
    checkpoint_accuracy: float | None = None  # as enasim train measured it (all test images)


def evaluate_checkpoint(
    checkpoint: str,
    net: Network | None,
    hw: HardwareConfig,
    hw_source: str,
    hws: dict[str, HardwareConfig],
    sweep: dict[tuple[int, str], HardwareConfig],
    dataset: str,
    images: int | None,
    seed: int,
    out: str | None,
) -> AccuracyReport:
    """Measure the checkpoint's accuracy under each of `hws` (by range mode) and `sweep` (by
    (adc bits, mode)) on `dataset`'s test split and write the results to `out`."""
    from enasim.functional.results import TRAINED_FILES, write_accuracy
    from enasim.train.checkpoint import load_module
    from enasim.train.data import load_dataset
    from enasim.train.trainer import check_classes, deterministic, evaluate

    net, module, meta = load_module(checkpoint, net)
    out_dir = check_result_dir(out or f"results/infer-{hw.name}-{net.name}", TRAINED_FILES)
    split_seed = meta.get("seed", 0)
    fit = (meta.get("fitting") or {}).get("fit", "pad")
    data = load_dataset(dataset, net.input_shape, split_seed, fit)
    check_classes(net, data)
    n_test = len(data.y_test)
    n = n_test if images is None else images
    if n > n_test:
        raise ConfigError(
            dataset, "--images", f"the test split holds {n_test} images, --images asks for {n}"
        )
    check_work(net, n)
    x, y = data.x_test[:n], data.y_test[:n]
    with deterministic(1):
        acc_float = evaluate(module, x, y, data.classes)
    params = quantise(net, module, hw.precision.weight_bits, hw.precision.input_bits, data.x_train)
    runs = [crossbar_accuracy(net, h, params, x, y, data.classes, seed) for h in hws.values()]
    done = {(r.adc_bits, r.range_mode): r for r in runs}
    sweep_runs = [
        done.get(key) or crossbar_accuracy(net, h, params, x, y, data.classes, seed)
        for key, h in sorted(sweep.items())
    ]
    report = AccuracyReport(
        out_dir,
        net,
        hw,
        hw_source,
        checkpoint,
        dataset,
        n,
        n_test,
        data.classes,
        seed,
        acc_float,
        runs[0].accuracy_quantised,
        runs,
        sweep_runs,
        meta.get("accuracy") if meta.get("dataset") == dataset else None,
    )
    write_accuracy(report)
    return report


def summary_fields(report: AccuracyReport) -> dict[str, Any]:
    """The accuracy fields of summary.json."""
    return {
        "checkpoint": report.checkpoint,
        "dataset": report.dataset,
        "images": report.images,
        "test_images": report.test_images,
        "classes": report.classes,
        "accuracy_float": report.accuracy_float,
        "accuracy_quantised": report.accuracy_quantised,
        "accuracy_crossbar": {r.range_mode: r.accuracy_crossbar for r in report.runs},
        "checkpoint_accuracy": report.checkpoint_accuracy,
    }
