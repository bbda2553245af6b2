"""`enasim flash fit`: simulate sampled networks, fit the analytical models, report their error.

The networks are drawn from `FlashSpace` with a seed (the first `train` fit the models, the
next `test` check them), simulated through the sweep runner into `OUT/sims/` (so an
interrupted run resumes and loses no finished network; a stored simulation is reused only for
the same network, hwconfig content, engine and interconnect model: its point key), and the
models of
`enasim.analytical.fitted` are fitted on the simulated area / latency / energy. The report is
FLASH's Table 7 (per model: features, mean and max error on the test networks, fit time) and
Table 8 (the same targets with SVM and random-forest regressors from scikit-learn, the `nas`
extra, on the same features), plus predicted-vs-simulated scatter plots.

The outputs are written as one set (`enasim.fileio.result_set`); all but `timing.json` (fit
and simulation times) are byte-identical between identical runs.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from enasim.analytical.fitted import (
    TARGETS,
    HardwareModels,
    design,
    errors_pct,
    feature_sets,
    fit_linear,
    most_parameters,
    truth_label,
)
from enasim.analytical.flash_features import FeatureModel
from enasim.config import load
from enasim.config.loader import resolve_path
from enasim.config.schema import ENGINES, NOC_MODELS
from enasim.errors import ConfigError
from enasim.fileio import atomic_write, check_result_dir, result_set
from enasim.nas.spaces.densenet_flash import FlashSpace
from enasim.sweep import runner
from enasim.sweep.points import expand
from enasim.sweep.spec import SweepSpec, WorkloadRef
from enasim.sweep.store import Store

RESULT_FILES = ("models.json", "models_flash.json", "networks.csv", "report.json", "timing.json",
                "plots")
SIMS = "sims"  # the sweep store: kept from run to run


@dataclass
class FitReport:
    rows7: list[list]      # target, feature set, features, mean %, max %, fit ms
    rows8: list[list]      # target, method, mean %, max %, fit ms
    worst: list[list]      # target, network, simulated, predicted, error %
    networks: int
    failed: int
    sim_wall_s: float
    out: Path
    truth: str = ""  # the ground truth, as printed: "sim, compiled NoC" or "analytical"


def sample_networks(space: FlashSpace, n: int, seed: int) -> tuple[np.ndarray, ...]:
    """n distinct architectures of `space`, in a seeded order (wm, depths, tcs)."""
    rng = np.random.default_rng(seed)
    seen: set[tuple] = set()
    rows = []
    for _ in range(20):
        for row in np.column_stack(space.sample(rng, n)):
            if tuple(row) not in seen and len(rows) < n:
                seen.add(tuple(row))
                rows.append(row)
        if len(rows) == n:
            a, c = np.array(rows), space.cells
            return a[:, 0], a[:, 1:1 + c], a[:, 1 + c:]
    raise ConfigError("", "--train/--test", f"could not draw {n} distinct networks; the "
                      f"space has {space.count()}")


def simulate(hw_path: Path, space: FlashSpace, wm, d, t, out: Path, engine: str,
             noc: str | None, workers: int | None, progress: bool | None) -> dict[str, dict]:
    """Run the networks through the sweep runner (resumable); results by workload name, read
    from the store by point key: rows of other networks, chips or seeds stored under the same
    names (n0000, ...) by earlier fits into the same directory are not these networks'."""
    refs = []
    for k in range(len(wm)):
        spec = space.spec(wm[k], d[k], t[k])
        refs.append(WorkloadRef(f"n{k:04d}", f"densenet_flash:{spec.label()}",
                                f"densenet_flash:{spec.label()}", arch=spec))
    axes = (("noc.model", (noc,)),) if noc else ()
    sweep = SweepSpec("flash-fit", "enasim flash fit", hw_path, axes, tuple(refs), engine)
    runner.run(sweep, workers=workers, out=out, progress=progress)
    names = {p.key: p.workload.name for p in expand(sweep)}
    with Store(out, create=False) as store:
        return {names[r["key"]]: r for r in store.rows("done") if r["key"] in names}


def fit_run(hw: str, train: int = 180, test: int = 540, seed: int = 0,
            out: str | Path = "results/flash-fit", engine: str = "sim",
            noc: str | None = None, workers: int | None = None,
            progress: bool | None = None, space: FlashSpace | None = None) -> FitReport:
    """The whole flow; writes OUT/models.json (the default feature set), OUT/models_flash.json,
    OUT/networks.csv, OUT/report.json, OUT/timing.json and OUT/plots/, as one set. `noc`
    (engine sim): the interconnect of the simulations, by default the hwconfig's
    `noc.model`; on a mesh the enasim models add `MESH_FEATURES`."""
    set_name, target, params = most_parameters()
    if train <= params:  # decided here, not after simulating train + test networks
        raise ConfigError("", "--train", f"expected at least {params + 1} networks: the "
                          f"{set_name} {target} model has {params} parameters, got {train}")
    if test < 1:
        raise ConfigError("", "--test", f"expected at least 1 network, got {test}")
    if engine not in ENGINES:
        raise ConfigError("", "--engine", f"expected one of {', '.join(ENGINES)}, got "
                          f"{engine!r}")
    if workers is not None and workers < 1:
        raise ConfigError("", "--workers", f"expected at least 1, got {workers}")
    if noc is not None and noc not in NOC_MODELS:
        raise ConfigError("", "--noc", f"expected one of {', '.join(NOC_MODELS)}, got {noc!r}")
    hw_path = resolve_path(hw)
    cfg = load(hw_path)
    noc = (noc or cfg.noc.model) if engine == "sim" else None
    sets = feature_sets(mesh=noc not in (None, "ideal"))
    space = space or FlashSpace()
    out = check_result_dir(out, RESULT_FILES + (SIMS,))
    features = FeatureModel(cfg, cells=space.cells, wm_max=space.wm[1],
                            depth_max=space.depth[1])  # refuses a chip it cannot model
    wm, d, t = sample_networks(space, train + test, seed)
    t0 = time.perf_counter()
    results = simulate(hw_path, space, wm, d, t, out / SIMS, engine, noc, workers, progress)
    sim_wall = time.perf_counter() - t0
    names = [f"n{k:04d}" for k in range(len(wm))]
    ok = np.array([n in results for n in names])
    is_train = np.arange(len(wm)) < train
    tr, te = ok & is_train, ok & ~is_train
    if tr.sum() <= params or te.sum() < 1:
        raise ConfigError("", "--train/--test", f"only {tr.sum()} training (at least "
                          f"{params + 1} needed) and {te.sum()} test networks simulated; see "
                          f"{out / SIMS / 'results.csv'}")
    feats = features(wm, d, t)
    y = {k: np.array([results[n][k] if n in results else np.nan for n in names])
         for k in TARGETS}
    rows7, rows8, worst, fitted = [], [], [], {}
    preds: dict[str, np.ndarray] = {}
    for target in TARGETS:
        for set_name, chosen in sets.items():
            m = fit_linear(target, _rows(feats, tr), y[target][tr], chosen[target])
            err = errors_pct(m.predict(_rows(feats, te)), y[target][te])
            m = replace(m, test_mean_error_pct=float(err.mean()),
                        test_max_error_pct=float(err.max()))
            fitted.setdefault(set_name, {})[target] = m
            rows7.append([target, set_name, len(m.features), float(err.mean()),
                          float(err.max()), m.fit_s * 1e3])
            if set_name == "enasim":
                preds[target] = m.predict(feats)
                idx = np.flatnonzero(te)[np.argsort(err)[::-1][:5]]
                for i in idx:
                    worst.append([target, space.spec(wm[i], d[i], t[i]).label(),
                                  float(y[target][i]), float(preds[target][i]),
                                  float(errors_pct(preds[target][i], y[target][i]))])
        rows8.extend(_ml_rows(target, feats, y[target], tr, te, sets["enasim"][target]))
    truth = {"engine": engine, "noc": noc}
    report = FitReport(rows7, rows8, worst, int(ok.sum()), int((~ok).sum()), sim_wall, out,
                       truth_label(engine, noc))
    with result_set(out, RESULT_FILES, keep=(SIMS,)) as stage:
        HardwareModels(cfg.name, fitted["enasim"], ground_truth=truth).save(
            stage / "models.json")
        HardwareModels(cfg.name, fitted["flash"], ground_truth=truth).save(
            stage / "models_flash.json")
        _write_networks(stage / "networks.csv", names, wm, d, t, is_train, ok, y, preds, space)
        atomic_write(stage / "report.json", _json({
            "hw": cfg.name, "engine": engine, "noc": noc, "ground_truth": report.truth,
            "seed": seed,
            "space": "paper" if space.shared_depth else "enasim",
            "train": int(tr.sum()), "test": int(te.sum()), "failed": report.failed,
            "table7": [dict(zip(("target", "features", "n_features", "mean_error_pct",
                                 "max_error_pct"), r[:5], strict=True)) for r in rows7],
            "table8": [dict(zip(("target", "method", "mean_error_pct", "max_error_pct"),
                                r[:4], strict=True)) for r in rows8],
            "worst": [dict(zip(("target", "network", "simulated", "predicted", "error_pct"), r,
                               strict=True)) for r in worst]}))
        atomic_write(stage / "timing.json", _json({
            "sim_wall_s": sim_wall,
            "table7": [{"target": r[0], "features": r[1], "fit_ms": r[5]} for r in rows7],
            "table8": [{"target": r[0], "method": r[1], "fit_ms": r[4]} for r in rows8]}))
        _plot(stage / "plots", y, preds, te)
    return report


def _json(data: dict) -> str:
    return json.dumps(data, indent=1) + "\n"


def _rows(feats: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in feats.items()}


def _ml_rows(target: str, feats, y, tr, te, names: tuple[str, ...]) -> list[list]:
    """SVM (RBF, standardised features and target) and random forest on the enasim set."""
    try:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVR
    except ImportError:
        return []
    X = design(feats, names)
    rows = []
    methods = {"svm": lambda: make_pipeline(StandardScaler(), SVR(C=100.0, epsilon=0.01)),
               "random_forest": lambda: RandomForestRegressor(200, random_state=0, n_jobs=1)}
    scale = float(np.mean(y[tr]))
    for name, make in methods.items():
        t0 = time.perf_counter()
        model = make().fit(X[tr], y[tr] / scale)
        fit_ms = (time.perf_counter() - t0) * 1e3
        err = errors_pct(model.predict(X[te]) * scale, y[te])
        rows.append([target, name, float(err.mean()), float(err.max()), fit_ms])
    return rows


def _write_networks(path: Path, names, wm, d, t, is_train, ok, y, preds, space) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["network", "label", "wm", "depths", "tcs", "split", "simulated",
                *(f"sim_{k}" for k in TARGETS), *(f"pred_{k}" for k in TARGETS)])
    for k, n in enumerate(names):
        w.writerow([n, space.spec(wm[k], d[k], t[k]).label(), int(wm[k]),
                    ";".join(map(str, d[k])), ";".join(map(str, t[k])),
                    "train" if is_train[k] else "test", int(ok[k]),
                    *(f"{y[x][k]:.9g}" for x in TARGETS), *(f"{preds[x][k]:.9g}" for x in TARGETS)])
    atomic_write(path, buf.getvalue())


def _plot(out: Path, y, preds, te) -> None:
    import matplotlib.pyplot as plt

    from enasim.report.plots import save_png  # (switches pyplot to the Agg backend)

    out.mkdir(parents=True, exist_ok=True)
    for target in TARGETS:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        sim, pred = y[target][te], preds[target][te]
        ax.scatter(sim, pred, s=6, alpha=0.6)
        lo, hi = float(min(sim.min(), pred.min())), float(max(sim.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"simulated {target}")
        ax.set_ylabel(f"predicted {target}")
        err = errors_pct(pred, sim)
        ax.set_title(f"{target}: mean {err.mean():.2f} %, max {err.max():.2f} %", fontsize=9)
        fig.tight_layout()
        save_png(fig, out / f"pred_vs_sim_{target}.png")
