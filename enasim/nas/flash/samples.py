"""`enasim flash samples N`: train N sampled FLASH networks and write the accuracy CSV that
`enasim flash predictor fit` reads (FLASH fits its predictor on 25 trained samples).

The networks are drawn one at a time from `FlashSpace(wm, depth)` with `numpy`'s generator
seeded with `seed` (repeats skipped), so the first k samples are the same for any N; each is
built at the data's size (8x8 for digits) and trained by `enasim.nas.accuracy.TrainedAccuracy`
(split seed `seed`, training seed from `seed` and the network).

OUT holds `run.json` (the settings: dataset identity, epochs, seed, space), `trained/` (one
cached result per network, written as it finishes) and `samples.csv` (columns
wm,depths,tcs,accuracy; depths and tcs per cell joined by ';'), rewritten atomically after
every sample. A rerun with the same settings reuses every trained network and continues (a
larger N extends the file); other settings in the same OUT are refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enasim.errors import ConfigError
from enasim.fileio import atomic_write, check_result_dir
from enasim.nas.accuracy import TrainedAccuracy, base_size, check_dataset, check_epochs, dataset_id
from enasim.nas.degree import nn_degree
from enasim.nas.spaces.densenet_flash import DenseNetSpec, FlashSpace, build_from_spec

NAMES = ("samples.csv", "run.json", "trained")
MAX_DRAWS = 20  # draws per requested sample before the space is judged too small


@dataclass(frozen=True)
class Sample:
    wm: int
    depths: tuple[int, ...]
    tcs: tuple[int, ...]
    accuracy: float
    g: float  # NN-Degree
    seconds: float  # training time (0 when cached)
    cached: bool


def draw(
    space: FlashSpace, n: int, seed: int
) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
    """n distinct architectures (wm, depths, tcs), drawn one at a time from `seed`."""
    rng = np.random.default_rng(seed)
    out: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []
    seen: set[tuple] = set()
    for _ in range(MAX_DRAWS * n):
        if len(out) == n:
            break
        wm, depths, tcs = space.sample(rng, 1)
        arch = (int(wm[0]), tuple(map(int, depths[0])), tuple(map(int, tcs[0])))
        if arch not in seen:
            seen.add(arch)
            out.append(arch)
    if len(out) < n:
        raise ConfigError(
            "",
            "N",
            f"could not draw {n} distinct networks from the space "
            f"(got {len(out)}); widen --wm or --depth",
        )
    return out


def csv_text(samples: list[Sample]) -> str:
    lines = ["wm,depths,tcs,accuracy"]
    lines += [
        f"{s.wm},{';'.join(map(str, s.depths))},{';'.join(map(str, s.tcs))},{s.accuracy!r}"
        for s in samples
    ]
    return "\n".join(lines) + "\n"


def run_samples(
    n: int,
    out: str | Path,
    dataset: str = "digits",
    epochs: float = 3.0,
    seed: int = 0,
    wm: tuple[int, int] = (1, 3),
    depth: tuple[int, int] = (5, 30),
    progress: Callable[[int, Sample], None] | None = None,
) -> list[Sample]:
    """Train (or take from OUT) the first `n` samples and write OUT/samples.csv after each."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("", "N", f"expected an integer >= 1, got {n!r}")
    check_epochs(epochs, "--epochs")
    check_dataset(dataset, "--dataset")
    space = FlashSpace(wm=wm, depth=depth)
    archs = draw(space, n, seed)
    out = check_result_dir(out, NAMES, "-o")
    record: dict[str, Any] = {
        "dataset": dataset,
        "dataset_id": dataset_id(dataset),
        "epochs": epochs,
        "seed": seed,
        "wm": list(wm),
        "depth": list(depth),
        "cells": space.cells,
    }
    run_file = out / "run.json"
    if run_file.is_file():
        stored = json.loads(run_file.read_text())
        if stored != record:
            diff = ", ".join(
                f"{k} {stored.get(k)!r} there, {v!r} here"
                for k, v in record.items()
                if v != stored.get(k)
            )
            raise ConfigError(
                str(run_file),
                "settings",
                f"OUT holds samples of other settings ({diff}); use another -o or the same options",
            )
    else:
        atomic_write(run_file, json.dumps(record, indent=2) + "\n")
    trainer = TrainedAccuracy(dataset, epochs, seed, out / "trained")
    size = base_size(dataset)
    done: list[Sample] = []
    for i, (w, d, t) in enumerate(archs):
        start = time.perf_counter()
        r = trainer(build_from_spec(DenseNetSpec(w, d, t, image_size=size)))
        g = float(nn_degree([w], [list(d)], [list(t)])[0])
        done.append(
            Sample(
                w,
                d,
                t,
                r["accuracy"],
                g,
                0.0 if r["cached"] else time.perf_counter() - start,
                r["cached"],
            )
        )
        atomic_write(out / "samples.csv", csv_text(done))
        if progress:
            progress(i, done[-1])
    return done
