"""Trained accuracy for the NAS flows (`monas run --accuracy train...`, `flash samples`).

Each network is trained with `enasim.train.train` on a dataset (`digits`, FILE.npz or DIR, as
`enasim train --dataset` takes) and its test top-1 accuracy is the result. The rules:

* **Input size.** Networks are built for the data, not for CIFAR: at 8x8 for digits (its own
  size; at 32x32, 16x the MACs, an epoch took 8-17x longer, docs/nas.md), at 32x32 (the spaces'
  CIFAR size) for other data; a network that pools more often than that size allows (a monas
  network with 4 VGG blocks at 8x8) is built at the smallest power-of-two multiple that leaves
  it one pixel (16x16). Images are fitted with `fit="resize"`, so that an enlarged input is
  filled by the scaled image rather than padded black.
* **Split and seeds.** The train/test split comes from the run's seed (every network is
  tested on the same images); the weights and batch order from `trial_seed(seed, network)`,
  a hash of the run seed and the network's SHA-256, so one network gets one seed in any run
  order.
* **Cache.** Every trained accuracy is stored in CACHE_DIR/KEY.json (written atomically) where
  KEY hashes the network's SHA-256, the dataset's identity (`digits`, or the SHA-256 of the
  file's bytes / the folder's paths and bytes), the epochs, the trial seed and the fitting;
  an equal key is never trained again, a different input never reuses a result.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enasim.errors import ConfigError
from enasim.fileio import atomic_write
from enasim.train import DIGITS, MAX_EPOCHS
from enasim.workload.ir import Network

DIGITS_SIZE = 8  # sklearn's digits are 8x8
OTHER_SIZE = 32  # the NAS spaces' CIFAR input
FIT = "resize"
SPEC_HELP = "train[:DATASET][,epochs=E] (DATASET: digits, FILE.npz or DIR)"
_SPEC = re.compile(r"train(?::(?P<data>.+?))?(?:,epochs=(?P<epochs>[^,]*))?")


@dataclass(frozen=True)
class TrainSpec:
    """What `--accuracy train[:DATASET][,epochs=E]` asks for."""

    dataset: str = DIGITS
    epochs: float = 1.0


def is_train_spec(spec: str) -> bool:
    return spec == "train" or spec.startswith(("train:", "train,"))


def parse_train_spec(spec: str, flag: str = "--accuracy", epochs: float = 1.0) -> TrainSpec:
    """`train[:DATASET][,epochs=E]`; `epochs` is the default E. Bad input: ConfigError."""
    m = _SPEC.fullmatch(spec)
    if m is None:
        raise ConfigError("", flag, f"expected {SPEC_HELP}, got {spec!r}")
    if m["epochs"] is not None:
        try:
            epochs = float(m["epochs"])
        except ValueError:
            epochs = math.nan
    check_epochs(epochs, flag)
    dataset = m["data"] or DIGITS
    check_dataset(dataset, flag)
    return TrainSpec(dataset, epochs)


def check_epochs(epochs: float, flag: str) -> float:
    if not (math.isfinite(epochs) and 0 < epochs <= MAX_EPOCHS):
        raise ConfigError("", flag, f"expected epochs in (0, {MAX_EPOCHS}], got {epochs}")
    return epochs


def check_dataset(dataset: str, flag: str) -> None:
    path = Path(dataset)
    if dataset == DIGITS or path.is_dir() or (path.suffix == ".npz" and path.is_file()):
        return
    raise ConfigError(
        dataset,
        flag,
        "expected dataset 'digits', an existing .npz file or a folder of class subfolders",
    )


def dataset_id(dataset: str) -> str:
    """The dataset's identity for cache keys: `digits`, or the SHA-256 of its content."""
    if dataset == DIGITS:
        return DIGITS
    h = hashlib.sha256()
    path = Path(dataset)
    if not path.is_dir():
        h.update(path.read_bytes())
    for f in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else ():
        h.update(str(f.relative_to(path)).encode() + b"\0")  # class = folder name
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return f"sha256:{h.hexdigest()}"


def base_size(dataset: str) -> int:
    """The input side networks are built at for `dataset` (module docstring)."""
    return DIGITS_SIZE if dataset == DIGITS else OTHER_SIZE


def fitted_size(base: int, poolings: int) -> int:
    """`base`, doubled until `poolings` 2x2 poolings leave at least one pixel."""
    size = base
    while size < 2**poolings:
        size *= 2
    return size


def trial_seed(seed: int, network_sha256: str) -> int:
    """The training seed of one network in a run of seed `seed` (< 2**32)."""
    digest = hashlib.sha256(f"nas-train:{seed}:{network_sha256}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class TrainedAccuracy:
    """Test accuracy of networks trained on one dataset, cached in `cache_dir` by content."""

    def __init__(self, dataset: str, epochs: float, seed: int, cache_dir: str | Path | None):
        from enasim.train import require_torch

        require_torch()
        self.dataset, self.epochs, self.seed = dataset, epochs, seed
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.identity = dataset_id(dataset)
        self._data: dict[tuple[int, int, int], Any] = {}

    def key_fields(self, net: Network) -> dict[str, Any]:
        from enasim.train.checkpoint import network_hash

        sha = network_hash(net)
        return {
            "network_sha256": sha,
            "dataset": self.identity,
            "epochs": self.epochs,
            "seed": trial_seed(self.seed, sha),
            "split_seed": self.seed,
            "fit": FIT,
        }

    def __call__(self, net: Network) -> dict[str, Any]:
        """{accuracy, seconds, seed, network_sha256, cached} of `net` (trained or cached)."""
        fields = self.key_fields(net)
        key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        path = self.cache_dir / f"{key}.json" if self.cache_dir is not None else None
        if path is not None and path.is_file():
            entry = json.loads(path.read_text())
            if entry.get("key") == fields:
                return {**entry["result"], "cached": True}
        from enasim.train.data import load_dataset
        from enasim.train.trainer import train

        if net.input_shape not in self._data:
            self._data[net.input_shape] = load_dataset(
                self.dataset, net.input_shape, self.seed, FIT
            )
        result = train(net, self._data[net.input_shape], self.epochs, fields["seed"])
        out = {
            "accuracy": result.accuracy,
            "seconds": result.seconds,
            "seed": fields["seed"],
            "network_sha256": fields["network_sha256"],
        }
        if path is not None:
            atomic_write(
                path,
                json.dumps({"key": fields, "network": net.name, "result": out}, indent=1) + "\n",
            )
        return {**out, "cached": False}
