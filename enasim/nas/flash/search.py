"""FLASH's searches on the fitted models: training-free NAS, hierarchical and one-level SHGO,
and exhaustive search (the check on reduced spaces).

Objective (maximised): theta(g) / (A x L x E), with A in mm^2, L in ms and E in mJ from the
fitted hardware models and theta the NN-Degree accuracy predictor; without a predictor, g
itself takes theta's place. Constraints: theta >= theta_M (g >= g_M without a predictor),
A <= A_M, L <= L_M, E <= E_M.

SHGO works on continuous variables; the objective is evaluated at the nearest architecture of
the space (depths rounded, t_c rounded to the grid then repaired up to FLASH's chain
t_1 >= t_min, t_(c+1) >= 2 t_c and down to the skip budget), so every evaluation is a real
network; evaluations are cached by architecture and counted once.

* **Hierarchical** (FLASH Algorithm 1, our reading, nas-workloads.md section 3.5): outer
  enumeration of w_m; per w_m a coarse SHGO whose objective sees d_c and t_c on a grid of step
  lambda; a fine SHGO on the unit grid in +-2 lambda around the coarse optimum (also when the
  coarse optimum breaks a constraint: SHGO then minimises the violation); then, from the best
  candidate, a descent on the integer grid (enasim's addition, `_moves`: to the best
  neighbour, infeasible points ranked by violation, until none is better).
* **One-level**: one SHGO over (w_m, d_c, t_c) on the unit grid, with the same descent.
* **Exhaustive**: every architecture of a (reduced) space, vectorised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from enasim.analytical.fitted import HardwareModels
from enasim.analytical.flash_features import LINK_KEYS, FeatureModel
from enasim.config.schema import HardwareConfig
from enasim.errors import ConfigError
from enasim.nas.spaces.densenet_flash import BASE_WIDTH, FlashSpace, in_space


@dataclass(frozen=True)
class Bounds:
    """Constraints; None = unconstrained. `quality` bounds theta (or g without a predictor)."""

    quality: float | None = None
    area_mm2: float | None = None
    latency_ms: float | None = None
    energy_mj: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.quality, self.area_mm2, self.latency_ms,
                                           self.energy_mj))


@dataclass
class Result:
    """What a search found."""

    method: str
    wm: int = 0
    depths: tuple[int, ...] = ()
    tcs: tuple[int, ...] = ()
    objective: float = float("nan")
    metrics: dict[str, float] = field(default_factory=dict)
    evaluations: int = 0
    seconds: float = 0.0
    feasible: bool = False
    closest: list[dict] = field(default_factory=list)  # when nothing is feasible
    simulated: dict[str, float] | None = None  # the event engine's numbers, when confirmed

    @property
    def arch(self) -> tuple:
        return (self.wm, self.depths, self.tcs)


class Evaluator:
    """Objective, metrics and feasibility of architectures, compiled over arrays of any
    length (one architecture costs microseconds, which SHGO's many single evaluations need),
    with a count."""

    def __init__(self, hw: HardwareConfig, models: HardwareModels, space: FlashSpace,
                 predictor: tuple[float, float, float] | None = None,
                 bounds: Bounds = Bounds()):
        self.space, self.models, self.predictor, self.bounds = space, models, predictor, bounds
        self.features = FeatureModel(hw, space.cells, space.wm[1], space.depth[1])
        names = self.features.names
        terms = [models.models[t] for t in ("area_mm2", "latency_ns", "energy_uj")]
        missing = sorted({f for m in terms for f in m.features} - set(names))
        if missing:
            raise ConfigError(models.source, "features", f"unknown features {missing}; known: "
                              f"{', '.join(names)}")
        # each model as rows of the feature matrix and coefficients, in the model's own order
        width = max(len(m.features) for m in terms)
        self._rows = np.zeros((3, width), np.int64)
        self._coef = np.zeros((3, width))
        for k, m in enumerate(terms):
            self._rows[k, :len(m.features)] = [names.index(f) for f in m.features]
            self._coef[k, :len(m.features)] = m.coef
        self._terms = np.array([len(m.features) for m in terms])
        self._intercept = np.array([m.intercept for m in terms])
        self._theta = np.array(predictor if predictor else (np.nan,) * 3, np.float64)
        self._bounds = np.array([np.nan if v is None else v for v in
                                 (bounds.quality, bounds.area_mm2, bounds.latency_ms,
                                  bounds.energy_mj)], np.float64)
        self._g, self._limits = names.index("g"), space.limits
        # the mesh features (models fitted on a cycle-level mesh) cost ~30 us an architecture
        self._links = any(f in LINK_KEYS for m in terms for f in m.features)
        self.evaluations = 0

    def __call__(self, wm, depths, tcs) -> dict[str, np.ndarray]:
        wm = np.atleast_1d(np.asarray(wm, np.int64))
        depths = np.atleast_2d(np.asarray(depths, np.int64))
        tcs = np.atleast_2d(np.asarray(tcs, np.int64))
        self.evaluations += len(wm)
        x = self.features.matrix(wm, depths, tcs, links=self._links)
        out = np.empty((len(METRICS), len(wm)))
        flags = np.empty((2, len(wm)), np.bool_)
        in_space(wm, depths, tcs, self._limits, flags[1])
        _evaluate(x, self._g, self._rows, self._coef, self._terms, self._intercept,
                  self._theta, self._bounds, flags, out)
        return {**dict(zip(METRICS, out, strict=True)), "feasible": flags[0],
                "in_space": flags[1]}

    def score(self, wm, depths, tcs) -> np.ndarray:
        """The penalised value searches minimise: -objective for feasible architectures, else
        1 + the summed relative violation (inf outside the space), so every feasible point
        beats every infeasible one and infeasible ones are ranked by how far off they are;
        equal violations (plateaus of the tile-count steps) are ranked by objective, through
        a term below 1e-6."""
        return self(wm, depths, tcs)["score"]


# what `Evaluator` returns per architecture, besides `feasible` and `in_space`
METRICS = ("g", "quality", "area_mm2", "latency_ms", "energy_mj", "objective", "violation",
           "score")


@njit(cache=True)
def _evaluate(x, g_row, rows, coef, terms, intercept, theta, bounds, flags, out) -> None:
    """Metrics (`METRICS`) of N architectures from their features x (F, N): the linear models
    (summed in their own order), theta(g) (g itself when theta is NaN), the objective, the
    violation of `bounds` (quality, area, latency, energy; NaN = none) and the score;
    flags[1] (in the space) in, flags[0] (feasible) out."""
    y = np.empty(3)
    for i in range(x.shape[1]):
        for k in range(3):
            v = intercept[k]
            for j in range(terms[k]):
                v = v + coef[k, j] * x[rows[k, j], i]
            y[k] = v
        g = x[g_row, i]
        q = g if np.isnan(theta[0]) else 1.0 / (theta[0] + np.exp(theta[1] / g + theta[2]))
        area, lat_ms, e_mj = y[0], y[1] * 1e-6, y[2] * 1e-3
        obj = q / (max(area, 1e-12) * max(lat_ms, 1e-12) * max(e_mj, 1e-12))
        ok, viol = flags[1, i], 0.0
        for j, v in enumerate((-q, area, lat_ms, e_mj)):
            lim = bounds[j]
            if not np.isnan(lim):
                over = v + lim if j == 0 else v - lim   # sign x (value - limit)
                ok = ok and over <= 0
                viol += max(0.0, over / abs(lim))
        flags[0, i] = ok
        if ok:
            score = -obj
        elif flags[1, i]:
            score = 1.0 + viol + 1e-6 / (1.0 + obj)
        else:
            score = np.inf
        out[0, i], out[1, i], out[2, i], out[3, i] = g, q, area, lat_ms
        out[4, i], out[5, i], out[6, i], out[7, i] = e_mj, obj, viol, score


def _result(method: str, ev: Evaluator, wm, d, t, m, start: float, evals: int,
            rank: str = "objective") -> Result:
    """The feasible architecture of arrays (wm, d, t) with metrics m that maximises m[rank];
    or, if none is feasible, the five closest to feasibility."""
    seconds = time.perf_counter() - start
    if m["feasible"].any():
        i = int(np.flatnonzero(m["feasible"])[np.argmax(m[rank][m["feasible"]])])
        return Result(method, int(wm[i]), tuple(map(int, d[i])), tuple(map(int, t[i])),
                      float(m["objective"][i]), _metrics(m, i), evals, seconds, True)
    viol = np.where(m["in_space"], m["violation"], np.inf)
    closest = [{"wm": int(wm[i]), "depths": list(map(int, d[i])), "tcs": list(map(int, t[i])),
                "violation": float(viol[i]), **_metrics(m, i)}
               for i in np.argsort(viol, kind="stable")[:5] if np.isfinite(viol[i])]
    return Result(method, evaluations=evals, seconds=seconds, closest=closest)


def _metrics(m: dict[str, np.ndarray], i: int) -> dict[str, float]:
    return {k: float(m[k][i]) for k in ("g", "quality", "area_mm2", "latency_ms", "energy_mj",
                                        "objective")}


def training_free(ev: Evaluator, samples: int = 20_000, seed: int = 0) -> Result:
    """FLASH's training-free NAS: the largest g among `samples` random architectures that
    meet the bounds (its objective is reported beside the others' for comparison)."""
    start = time.perf_counter()
    wm, d, t = ev.space.sample(np.random.default_rng(seed), samples)
    return _result("training-free", ev, wm, d, t, ev(wm, d, t), start, samples, rank="g")


def exhaustive(ev: Evaluator, chunk: int = 200_000) -> Result:
    """Every architecture of the space (use reduced spaces)."""
    start = time.perf_counter()
    wm, d, t = ev.space.enumerate()
    parts = [ev(wm[i:i + chunk], d[i:i + chunk], t[i:i + chunk])
             for i in range(0, len(wm), chunk)]
    m = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _result("exhaustive", ev, wm, d, t, m, start, len(wm))


class _Rounded:
    """The SHGO objective: x -> nearest architecture of the space, cached, scored by
    `Evaluator.score`."""

    def __init__(self, ev: Evaluator, wm: int | None, step_d: int = 1, step_t: int = 1):
        self.ev, self.wm, self.step_d, self.step_t = ev, wm, step_d, step_t
        self.cache: dict[tuple, float] = {}

    def arch(self, x) -> tuple[int, ...]:
        """(w_m, d_1.., t_1..) nearest to x (w_m?, the space's free depths, t_1..), in plain
        ints (cheaper than numpy for one)."""
        sp, c, nd, x = self.ev.space, self.ev.space.cells, self.ev.space.depth_vars, list(x)
        if self.wm is None:
            wm, x = min(max(round(x[0]), sp.wm[0]), sp.wm[1]), x[1:]
        else:
            wm = self.wm
        sd, grid = self.step_d, sp.t_step * self.step_t
        d = [min(max(round(v / sd) * sd, sp.depth[0]), sp.depth[1]) for v in x[:nd]] * (c // nd)
        t = [round(v / grid) * grid for v in x[nd:]]
        t[0] = max(t[0], -(-sp.t_min // sp.t_step) * sp.t_step)
        for k in range(1, c):
            t[k] = max(t[k], sp.t_ratio * t[k - 1])
        hi = [(d[k] - 2) * BASE_WIDTH * wm * 2**k // sp.t_step * sp.t_step for k in range(c)]
        return (wm, *d, *(min(a, b) for a, b in zip(t, hi, strict=True)))

    def __call__(self, x: np.ndarray) -> float:
        key = self.arch(x)
        hit = self.cache.get(key)
        if hit is None:
            c = self.ev.space.cells
            a = np.array(key)
            # finite outside the space: Powell's line searches turn inf into NaN
            hit = self.cache[key] = min(float(self.ev.score(a[:1], a[1:1 + c], a[1 + c:])[0]),
                                        1e9)
        return hit


def _shgo(f: _Rounded, lo: np.ndarray, hi: np.ndarray, n: int, iters: int) -> None:
    from scipy.optimize import shgo

    # the objective is piecewise constant on the grid: a derivative-free local step (Powell)
    # instead of SHGO's default SLSQP, whose finite differences see zero gradients
    shgo(f, list(zip(lo, hi, strict=True)), n=n, iters=iters, sampling_method="sobol",
         minimizer_kwargs={"method": "Powell"})


def _candidates(fs: list[_Rounded]) -> list[tuple]:
    """Every architecture the SHGO runs saw, best score first (feasible ones first)."""
    scores = {}
    for f in fs:
        scores.update(f.cache)
    return sorted(scores, key=scores.__getitem__)


def _grid(*axes) -> np.ndarray:
    """Every combination of the axes' values, one per row."""
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))


def _moves(cells: int, depths: int) -> list[np.ndarray]:
    """The descent's neighbourhoods, tried in order until one improves (d_c steps, t_c grid
    steps): -1..+1 in every free depth (`depths`: one per cell, or one moving every cell)
    with -s, 0, +s in every t_c for s = 16, 4 (long strides first, so the descent crosses
    wide t ranges in few rounds); -1..+1 in every depth and t_c; -1..+1 in the depths with
    -2..+2 in t_c (so it can trade skips between cells along a constraint). Rows are
    (d_1.., t_1..) steps."""
    unit = _grid(*[[-1, 0, 1]] * (depths + cells))
    wide = _grid(*[[-1, 0, 1]] * depths, *[range(-2, 3)] * cells)
    far = np.concatenate([np.concatenate([unit[:, :depths], unit[:, depths:] * s], 1)
                          for s in (16, 4)])
    return [np.concatenate([np.repeat(m[:, :depths], cells // depths, 1), m[:, depths:]], 1)
            for m in (far, unit, wide)]


def _finish(method: str, ev: Evaluator, fs: list[_Rounded], start: float,
            rounds: int = 100) -> Result:
    """The best of the SHGO candidates, then a descent on the integer grid from it: move to
    the best-scoring neighbour in the space (`_moves`, each neighbourhood evaluated at once),
    at most `rounds` times, until none is better, so a start outside the constraints walks into
    them. If the end point is still infeasible, the closest of everything seen and 2,000
    samples."""
    c, sp = ev.space.cells, ev.space
    evals = sum(len(f.cache) for f in fs)
    a = np.array(_candidates(fs)[0])
    seen = {tuple(a)}
    score = ev.score(a[None, 0], a[None, 1:1 + c], a[None, 1 + c:])[0]
    moves = _moves(c, sp.depth_vars)
    for _ in range(rounds):
        for steps in moves:
            nb = np.column_stack([np.full(len(steps), a[0]), a[1:1 + c] + steps[:, :c],
                                  a[1 + c:] + steps[:, c:] * sp.t_step])
            nb = nb[sp.feasible(nb[:, 0], nb[:, 1:1 + c], nb[:, 1 + c:])]
            nb = np.array([r for r in nb if tuple(r) not in seen])
            if not len(nb):
                continue
            seen.update(tuple(r) for r in nb)
            evals += len(nb)
            s = ev.score(nb[:, 0], nb[:, 1:1 + c], nb[:, 1 + c:])
            if s.min() < score:
                a, score = nb[int(np.argmin(s))], s.min()
                break
        else:
            break
    a = a[None]
    m = ev(a[:, 0], a[:, 1:1 + c], a[:, 1 + c:])
    if not m["feasible"].any():
        extra = np.column_stack(sp.sample(np.random.default_rng(0), 2000))
        a = np.concatenate([np.array(sorted(seen | {k for f in fs for k in f.cache})), extra])
        evals += len(extra)
        m = ev(a[:, 0], a[:, 1:1 + c], a[:, 1 + c:])
    return _result(method, ev, a[:, 0], a[:, 1:1 + c], a[:, 1 + c:], m, start, evals)


def hierarchical_shgo(ev: Evaluator, step: int = 4, n: int = 16, iters: int = 1) -> Result:
    """FLASH Algorithm 1 (see the module docstring); `step` is lambda (in depth units and in
    t-grid units scaled by the cell width / 16)."""
    start = time.perf_counter()
    sp, c, nd = ev.space, ev.space.cells, ev.space.depth_vars
    fs = []
    for wm in range(sp.wm[0], sp.wm[1] + 1):
        hi_t = sp.t_bounds(wm, np.full(c, sp.depth[1])).astype(float)
        lo = np.concatenate([np.full(nd, sp.depth[0]), np.zeros(c)]).astype(float)
        hi = np.concatenate([np.full(nd, sp.depth[1]), hi_t])
        step_t = max(1, step * 16 * wm // sp.t_step)
        coarse = _Rounded(ev, wm, step, step_t)
        _shgo(coarse, lo, hi, n, iters)
        fs.append(coarse)
        k = _candidates([coarse])[0]  # the fine search starts here, feasible or not
        centre = np.array([*k[1:1 + nd], *k[1 + c:]], float)
        span = np.concatenate([np.full(nd, 2.0 * step), np.full(c, 2.0 * step_t * sp.t_step)])
        fine = _Rounded(ev, wm)
        _shgo(fine, np.maximum(lo, centre - span), np.minimum(hi, centre + span), n, iters)
        fs.append(fine)
    return _finish("hierarchical SHGO", ev, fs, start)


def one_level_shgo(ev: Evaluator, n: int = 128, iters: int = 1) -> Result:
    """One SHGO over (w_m, d_c, t_c) on the unit grid."""
    start = time.perf_counter()
    sp, c, nd = ev.space, ev.space.cells, ev.space.depth_vars
    hi_t = sp.t_bounds(sp.wm[1], np.full(c, sp.depth[1])).astype(float)
    lo = np.concatenate([[sp.wm[0]], np.full(nd, sp.depth[0]), np.zeros(c)]).astype(float)
    hi = np.concatenate([[sp.wm[1]], np.full(nd, sp.depth[1]), hi_t])
    f = _Rounded(ev, None)
    _shgo(f, lo, hi, n, iters)
    return _finish("one-level SHGO", ev, [f], start)


SEARCHES = {"training-free": training_free, "hierarchical": hierarchical_shgo,
            "one-level": one_level_shgo, "exhaustive": exhaustive}
