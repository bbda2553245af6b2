"""FLASH's analytical hardware models: area, latency and energy linear in architecture features.

A `LinearModel` is y = b + sum_k c_k f_k over named features of
`enasim.analytical.flash_features`, fitted by least squares on simulated networks (columns
scaled to unit norm for conditioning). Two feature sets per target:

* `flash`: FLASH's features (w_m, d_c, N_c, N_c d_c w_m^2, SC_c, Comm_c, FLOPs_c, FM_c, N_T);
* `enasim` (the default): the mechanisms of enasim's mapping in closed form, e.g. the summed
  step cycles of every layer for latency, ADC conversions split by row-block fill, buffer
  bits and leakage (tiles x cycles) for energy; fitted on a cycle-level mesh, also the
  contention (every layer's busiest link under X-Y routing) and the flits sent
  (`MESH_FEATURES`).

Models are saved as JSON so that searches can load them without refitting.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from enasim.config.schema import ENGINES, NOC_MODELS
from enasim.errors import ConfigError
from enasim.fileio import CONFIG_LIMIT, atomic_write, parse_json_text, read_text
from enasim.validate import check_keys, expect_number, type_name

TARGETS = ("area_mm2", "latency_ns", "energy_uj")

FLASH_CELL = ("d{c}", "sc{c}", "comm{c}", "flops{c}", "fm{c}")
FEATURE_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "flash": {t: ("wm", "nc_d_wm2", "tiles", *(f.format(c=c) for c in range(3)
                                              for f in FLASH_CELL)) for t in TARGETS},
    "enasim": {
        "area_mm2": ("tiles",),
        "latency_ns": ("compute_cycles", "layers", "row_blocks", "serial_flits", "noc_serial",
                       "digital_cycles", "tiles"),
        "energy_uj": ("adc_pj", "conversions", "buffer_read_bits", "output_bits",
                      "input_bits", "accumulate_ops", "leak", "noc_hops", "compute_cycles"),
    },
}
# what the enasim set adds when the ground truth is a cycle-level mesh: a layer's input arrives
# as one burst that congests the mesh, and the burst lasts as long as its busiest link takes
# (~7.6 cycles a flit with flash_imc's 1-flit buffers), so latency gets the busiest links'
# flits summed over the layers and energy the leakage meanwhile; both get the flits the mesh
# carries (every tile pair's share rounded up to whole flits, up to several times the data on
# small shares). On an ideal NoC only slow searches down: the features walk every layer's
# tiles (`FeatureModel.matrix(links=True)`)
MESH_FEATURES = {"latency_ns": ("link_flits", "noc_flits"),
                 "energy_uj": ("leak_noc", "noc_flits")}


def feature_sets(mesh: bool) -> dict[str, dict[str, tuple[str, ...]]]:
    """`FEATURE_SETS`, the enasim set with `MESH_FEATURES` on a mesh ground truth."""
    if not mesh:
        return FEATURE_SETS
    return {**FEATURE_SETS, "enasim": {t: names + MESH_FEATURES.get(t, ())
                                       for t, names in FEATURE_SETS["enasim"].items()}}


@dataclass(frozen=True)
class LinearModel:
    """y = intercept + sum(coef[k] x features[k])."""

    target: str
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    fit_s: float = 0.0
    # relative error on the held-out networks (%), when the fit measured it: a prediction
    # off by more than the max is outside what the model was shown to do
    test_mean_error_pct: float | None = None
    test_max_error_pct: float | None = None

    def predict(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        y = np.full(len(next(iter(feats.values()))), self.intercept)
        for name, c in zip(self.features, self.coef, strict=True):
            y = y + c * feats[name]
        return y


def most_parameters() -> tuple[str, str, int]:
    """(feature set, target, parameters) of the fitted model with the most parameters (features
    plus intercept); fitting it needs more networks than that, so callers can check a training
    set size before simulating it."""
    return max(((s, t, len(names) + 1) for s, sets in feature_sets(True).items()
                for t, names in sets.items()), key=lambda m: m[2])


def design(feats: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """The (N, k) feature matrix of `names`."""
    missing = [n for n in names if n not in feats]
    if missing:
        raise ConfigError("", "features", f"unknown features {missing}; "
                          f"known: {', '.join(sorted(feats))}")
    return np.column_stack([np.asarray(feats[n], np.float64) for n in names])


def fit_linear(target: str, feats: dict[str, np.ndarray], y: np.ndarray,
               names: tuple[str, ...]) -> LinearModel:
    """Least squares of the *relative* residual (rows weighted by 1/y, since the models are
    judged by their relative error over networks spanning orders of magnitude), with an
    intercept; columns scaled to unit norm for conditioning."""
    t0 = time.perf_counter()
    X = design(feats, names)
    if len(y) <= len(names) + 1:
        raise ConfigError("", "train", f"{len(y)} networks cannot fit {len(names) + 1} "
                          f"parameters of the {target} model; simulate more")
    y = np.asarray(y, np.float64)
    if not (y > 0).all():
        raise ConfigError("", target, "simulated values must be positive to fit relative error")
    A = np.column_stack([np.ones(len(y)), X]) / y[:, None]
    scale = np.linalg.norm(A, axis=0)
    scale[scale == 0] = 1.0
    sol, *_ = np.linalg.lstsq(A / scale, np.ones(len(y)), rcond=None)
    sol = sol / scale
    return LinearModel(target, tuple(names), tuple(float(c) for c in sol[1:]),
                       float(sol[0]), time.perf_counter() - t0)


def errors_pct(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Relative error of each prediction, in percent of the simulated value."""
    return 100.0 * np.abs(np.asarray(pred) - truth) / np.abs(truth)


def truth_label(engine: str, noc: str | None) -> str:
    """A ground truth as reports name it: "analytical" or "sim, NOC NoC"."""
    return engine if engine == "analytical" else f"sim, {noc} NoC"


@dataclass(frozen=True)
class HardwareModels:
    """The three fitted models of one chip, with the space they were fitted on."""

    hw: str
    models: dict[str, LinearModel]
    source: str = ""  # the file it was loaded from, for error messages
    # what the models were fitted on: {"engine": sim | analytical, "noc": model or None}
    ground_truth: dict | None = None

    def predict(self, feats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {t: m.predict(feats) for t, m in self.models.items()}

    def save(self, path: str | Path) -> None:
        """The models without their fit times, so equal fits give equal files."""
        data = {"hw": self.hw,
                **({"ground_truth": self.ground_truth} if self.ground_truth else {}),
                "models": {t: {k: v for k, v in asdict(m).items()
                               if k != "fit_s" and v is not None}
                           for t, m in self.models.items()}}
        atomic_write(path, json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> HardwareModels:
        """Read models written by `save`, checking every field (finite coefficients, one per
        feature, a model per target)."""
        src = str(path)
        if not Path(path).exists():
            raise ConfigError(src, "", "no such models file (write one with `enasim flash fit`)")
        data = check_keys(parse_json_text(read_text(path, CONFIG_LIMIT, "models file"), src),
                          ("hw", "ground_truth", "models"), src, "", required=("models",))
        hw = data.get("hw", "")
        if not isinstance(hw, str):
            raise ConfigError(src, "hw", f"expected a string, got {type_name(hw)}")
        truth = data.get("ground_truth")
        if truth is not None:
            check_keys(truth, ("engine", "noc"), src, "ground_truth", required=("engine", "noc"))
            if truth["engine"] not in ENGINES:
                raise ConfigError(src, "ground_truth.engine", f"expected one of "
                                  f"{', '.join(ENGINES)}, got {truth['engine']!r}")
            if truth["noc"] is not None and truth["noc"] not in NOC_MODELS:
                raise ConfigError(src, "ground_truth.noc", f"expected one of "
                                  f"{', '.join(NOC_MODELS)} or null, got {truth['noc']!r}")
        check_keys(data["models"], TARGETS, src, "models", required=TARGETS)
        return cls(hw, {t: _load_model(data["models"][t], t, src) for t in TARGETS}, src,
                   truth)


def _load_model(data, target: str, src: str) -> LinearModel:
    where = f"models.{target}"
    check_keys(data, ("target", "features", "coef", "intercept", "fit_s",
                      "test_mean_error_pct", "test_max_error_pct"), src, where,
               required=("target", "features", "coef", "intercept"))
    if data["target"] != target:
        raise ConfigError(src, f"{where}.target", f"expected {target!r}, got {data['target']!r}")
    features, coef = data["features"], data["coef"]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise ConfigError(src, f"{where}.features", f"expected a list of feature names, got "
                          f"{type_name(features)}")
    if not isinstance(coef, list) or len(coef) != len(features):
        raise ConfigError(src, f"{where}.coef", f"expected a list of {len(features)} numbers "
                          f"(one per feature), got {type_name(coef)}"
                          f"{f' of {len(coef)}' if isinstance(coef, list) else ''}")
    return LinearModel(target, tuple(features),
                       tuple(expect_number(c, src, f"{where}.coef[{i}]", None)
                             for i, c in enumerate(coef)),
                       expect_number(data["intercept"], src, f"{where}.intercept", None),
                       expect_number(data.get("fit_s", 0.0), src, f"{where}.fit_s"),
                       *(None if data.get(k) is None else
                         expect_number(data[k], src, f"{where}.{k}", 0.0)
                         for k in ("test_mean_error_pct", "test_max_error_pct")))
