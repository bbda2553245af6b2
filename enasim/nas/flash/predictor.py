"""FLASH's accuracy predictor: theta(g) = 1 / (a + exp(b / g + c)) from NN-Degree g.

Three parameters fitted by least squares (`scipy.optimize.curve_fit`) on a few (g, accuracy)
pairs (FLASH: about 25). The start point comes from the linear form
ln(1/theta - a) = b/g + c, solved for each a on a grid, so the fit does not depend on a guess.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

from enasim.errors import ConfigError
from enasim.fileio import TABLE_LIMIT, read_text
from enasim.nas.degree import nn_degree
from enasim.validate import expect_int, expect_number


def theta(g, a: float, b: float, c: float):
    """Predicted accuracy (a fraction) at NN-Degree g."""
    return 1.0 / (a + np.exp(b / np.asarray(g, float) + c))


@dataclass(frozen=True)
class Predictor:
    a: float
    b: float
    c: float
    rmse: float  # on the fitting data, same unit as the accuracies
    samples: int

    def __call__(self, g):
        return theta(g, self.a, self.b, self.c)


def _start(g: np.ndarray, acc: np.ndarray) -> tuple[float, float, float]:
    """(a, b, c) of the best linear fit of ln(1/theta - a) = b/g + c over a grid of a."""
    best, top = None, 1.0 / acc.max()
    for a in np.linspace(0.0, top, 200, endpoint=False):
        y = np.log(1.0 / acc - a)
        (b, c), *_ = np.linalg.lstsq(np.c_[1.0 / g, np.ones_like(g)], y, rcond=None)
        err = float(np.sum((theta(g, a, b, c) - acc) ** 2))
        if best is None or err < best[0]:
            best = (err, a, b, c)
    return best[1:]


def fit_predictor(g, accuracy, source: str = "data") -> Predictor:
    """Fit (a, b, c) to accuracies in (0, 1) at NN-Degrees g > 0."""
    g, acc = np.asarray(g, float), np.asarray(accuracy, float)
    if len(g) < 3 or len(g) != len(acc):
        raise ConfigError(source, "", f"expected at least 3 (g, accuracy) pairs, got {len(g)}")
    if (g <= 0).any() or not np.isfinite(g).all():
        raise ConfigError(source, "g", "expected NN-Degrees > 0")
    if (acc <= 0).any() or (acc >= 1).any():
        raise ConfigError(source, "accuracy", "expected fractions in (0, 1) (divide percentages "
                          "by 100)")
    p0 = _start(g, acc)
    try:
        p, _ = curve_fit(theta, g, acc, p0=p0, maxfev=20000)
    except RuntimeError as exc:
        raise ConfigError(source, "", f"the fit did not converge: {exc}") from None
    rmse = math.sqrt(float(np.mean((theta(g, *p) - acc) ** 2)))
    return Predictor(float(p[0]), float(p[1]), float(p[2]), rmse, len(g))


def read_accuracy_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(g, accuracy) from a CSV with columns `g,accuracy`, or `wm,depths,tcs,accuracy` with
    per-cell depths and t_c separated by ';' (g is then computed; w_m <= 64, d_c <= 1024, at
    most 8 cells, so that it cannot overflow). Accuracy may be a fraction or a percentage (values
    above 1 are divided by 100)."""
    src = str(path)
    try:
        rows = list(csv.DictReader(io.StringIO(read_text(path, TABLE_LIMIT, "CSV table"))))
    except csv.Error as exc:
        raise ConfigError(src, "", f"malformed CSV: {exc}") from None
    if not rows:
        raise ConfigError(src, "", "expected a header and at least one row")
    cols = set(rows[0])
    if "accuracy" not in cols or not ({"g"} <= cols or {"wm", "depths", "tcs"} <= cols):
        raise ConfigError(src, "header", f"expected columns g,accuracy or "
                          f"wm,depths,tcs,accuracy, got {','.join(map(str, rows[0]))}")
    g, acc = [], []
    for i, r in enumerate(rows, start=2):
        try:
            acc.append(expect_number(float(r["accuracy"]), src, f"line {i}: accuracy", None))
            if "g" in cols:
                g.append(expect_number(float(r["g"]), src, f"line {i}: g", None))
            else:
                where = f"line {i}: "
                wm = expect_int(int(r["wm"]), src, f"{where}wm", 1, 64)
                depths = [expect_int(int(v), src, f"{where}depths", 3, 1024)
                          for v in r["depths"].split(";")]
                tcs = [expect_int(int(v), src, f"{where}tcs", 0, 1 << 20)
                       for v in r["tcs"].split(";")]
                if len(depths) != len(tcs) or len(depths) > 8:
                    raise ValueError("depths and tcs need one value per cell each, at most 8")
                g.append(float(nn_degree([wm], [depths], [tcs])[0]))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(src, f"line {i}", f"expected numbers: {exc}") from None
    acc_arr = np.asarray(acc)
    if (acc_arr > 1).any():
        acc_arr = acc_arr / 100.0
    return np.asarray(g), acc_arr
