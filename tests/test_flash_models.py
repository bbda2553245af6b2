"""FLASH's fitted hardware models and searches: features equal the mapping, the space count
equals enumeration, fits recover what they should, hierarchical SHGO finds the exhaustive
optimum, infeasible constraints give the closest candidates."""

from __future__ import annotations

import random

import numpy as np
import pytest

from enasim.analytical import run_analytical
from enasim.analytical.fitted import HardwareModels, errors_pct, fit_linear
from enasim.analytical.flash_features import FeatureModel
from enasim.cli import main
from enasim.config import load
from enasim.mapping import map_network
from enasim.nas.degree import nn_degree
from enasim.nas.flash import search as fs
from enasim.nas.flash.fit import fit_run, sample_networks
from enasim.nas.flash.predictor import theta
from enasim.nas.spaces.densenet_flash import FlashSpace, build_from_spec, sample
from enasim.plan import plan_layer

HW = load("flash_imc")
REDUCED = FlashSpace(wm=(1, 2), depth=(5, 7), t_step=16)


def test_features_equal_the_mapping_and_plan_of_each_network():
    rng = random.Random(11)
    specs = [sample(rng) for _ in range(12)]
    f = FeatureModel(HW)([s.wm for s in specs], [s.depths for s in specs],
                         [s.tcs for s in specs])
    for k, s in enumerate(specs):
        m = map_network(build_from_spec(s), HW)
        assert f["tiles"][k] == m.total_tiles
        assert f["arrays"][k] == sum(lm.tiling.arrays for lm in m.layers)
        steps = 0
        for lm in m.layers:
            p = plan_layer(lm, HW)
            steps += p.n_full * max(p.step_cycles(p.copies))
            steps += max(p.step_cycles(p.rem)) if p.rem else 0
        assert f["compute_cycles"][k] == steps
        stats = run_analytical(m)
        convs = [ls for ls in stats.layers if ls.name != "head.fc"]
        adc = sum(ls.energy_pj["adc"] for ls in convs)
        assert f["adc_pj"][k] == pytest.approx(adc, rel=1e-9)


@pytest.mark.parametrize("space", [REDUCED, FlashSpace(wm=(1, 1), depth=(5, 6)),
                                   FlashSpace(wm=(2, 3), depth=(4, 5), t_min=0, t_ratio=1,
                                              t_step=32)])
def test_space_count_equals_enumeration(space):
    wm, d, t = space.enumerate()
    assert len(wm) == space.count()
    assert space.feasible(wm, d, t).all()
    assert len({(a, *b, *c) for a, b, c in zip(wm, map(tuple, d), map(tuple, t),
                                                 strict=True)}) == len(wm)


def test_paper_space_shares_one_depth_and_has_the_papers_count():
    """FLASH's own space: one depth for every cell; the paper's formula gives 31,966,698,504
    architectures for w_m 1..3, d 5..30 and the t_c chain (the paper prints 6.39e10)."""
    paper = FlashSpace(shared_depth=True)
    assert paper.count() == 31_966_698_504 and paper.depth_vars == 1
    reduced = FlashSpace(wm=(1, 2), depth=(5, 7), t_step=16, shared_depth=True)
    wm, d, t = reduced.enumerate()
    assert len(wm) == reduced.count() and (d == d[:, :1]).all()
    w2, d2, t2 = REDUCED.enumerate()  # the per-cell space's architectures of equal depths
    same = (d2 == d2[:, :1]).all(1)
    assert sorted(map(tuple, np.column_stack([wm, d, t]))) == \
        sorted(map(tuple, np.column_stack([w2, d2, t2])[same]))
    arch = ([1], [[5, 6, 5]], [[16, 32, 64]])
    assert REDUCED.feasible(*arch).all() and not reduced.feasible(*arch).any()
    wm, d, t = paper.sample(np.random.default_rng(0), 500)
    assert (d == d[:, :1]).all() and paper.feasible(wm, d, t).all()


def test_sampling_is_seeded_and_feasible():
    space = FlashSpace()
    a = space.sample(np.random.default_rng(4), 5000)
    b = space.sample(np.random.default_rng(4), 5000)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert space.feasible(*a).all()
    assert space.count() > 6.39e10  # FLASH's space is at least as large (ranges not public)
    wm, d, t = sample_networks(space, 300, 0)
    assert len({(w, *x, *y) for w, x, y in zip(wm, map(tuple, d), map(tuple, t),
                                                strict=True)}) == 300


def test_fit_linear_recovers_known_coefficients_and_judges_relative_error():
    rng = np.random.default_rng(0)
    feats = {"a": rng.uniform(1, 100, 50), "b": rng.uniform(1, 10, 50)}
    y = 3.0 + 0.5 * feats["a"] + 7.0 * feats["b"]
    m = fit_linear("t", feats, y, ("a", "b"))
    assert m.coef == pytest.approx((0.5, 7.0), rel=1e-9)
    assert m.intercept == pytest.approx(3.0, rel=1e-9)
    assert errors_pct(m.predict(feats), y).max() < 1e-9


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("flash-fit")
    report = fit_run("flash_imc", 60, 40, 3, out, engine="analytical", noc=None, workers=2,
                     progress=False)
    return out, report


def test_fit_run_writes_models_reports_and_resumes(fitted):
    out, r = fitted
    assert r.networks == 100 and r.failed == 0
    table = {(row[0], row[1]): row for row in r.rows7}
    assert table[("area_mm2", "enasim")][4] < 1e-6       # area is linear in the tiles
    assert table[("latency_ns", "enasim")][3] < 5.0
    assert table[("energy_uj", "enasim")][3] < 5.0
    for name in ("models.json", "models_flash.json", "networks.csv", "report.json",
                 "plots/pred_vs_sim_latency_ns.png"):
        assert (out / name).exists(), name
    models = HardwareModels.load(out / "models.json")
    assert set(models.models) == {"area_mm2", "latency_ns", "energy_uj"}
    again = fit_run("flash_imc", 60, 40, 3, out, engine="analytical", noc=None, workers=2,
                    progress=False)
    assert again.rows7 == r.rows7 or [row[:5] for row in again.rows7] == \
        [row[:5] for row in r.rows7]
    assert again.sim_wall_s < r.sim_wall_s  # nothing simulated twice


def test_hierarchical_shgo_finds_the_exhaustive_optimum_in_fewer_evaluations(fitted):
    models = HardwareModels.load(fitted[0] / "models.json")
    every = fs.Evaluator(HW, models, REDUCED, (1.05, 120.0, -3.0))(*REDUCED.enumerate())
    binding = fs.Bounds(quality=float(np.percentile(every["quality"], 90)),
                        latency_ms=float(np.median(every["latency_ms"])))  # the optimum moves
    loose = fs.Bounds(latency_ms=float(np.percentile(every["latency_ms"], 75)),
                      energy_mj=float(np.percentile(every["energy_mj"], 75)))  # the chip's scale
    for bounds in (fs.Bounds(), loose, binding):
        runs = {name: fs.SEARCHES[name](fs.Evaluator(HW, models, REDUCED, (1.05, 120.0, -3.0),
                                                     bounds))
                for name in ("exhaustive", "hierarchical", "one-level")}
        best = runs["exhaustive"]
        assert best.feasible and best.evaluations == REDUCED.count()
        assert runs["hierarchical"].arch == best.arch
        assert runs["hierarchical"].objective == pytest.approx(best.objective, rel=1e-12)
        assert runs["hierarchical"].evaluations < best.evaluations
        if bounds.any and bounds is not binding:  # binding: the descent's batches dominate
            assert runs["hierarchical"].evaluations < runs["one-level"].evaluations


def _in_space_plain(sp: FlashSpace, wm, d, t) -> bool:
    """FlashSpace's constraints, read off its docstring one by one."""
    hi = [(dc - 2) * 16 * wm * 2**c // sp.t_step * sp.t_step for c, dc in enumerate(d)]
    return (sp.wm[0] <= wm <= sp.wm[1] and all(sp.depth[0] <= x <= sp.depth[1] for x in d)
            and all(x % sp.t_step == 0 for x in t) and t[0] >= sp.t_min
            and all(t[c + 1] >= sp.t_ratio * t[c] for c in range(len(t) - 1))
            and all(x <= h for x, h in zip(t, hi, strict=True)))


def _perturbed(sp: FlashSpace, n: int, seed: int):
    """Architectures of the space, a third of them nudged just outside one constraint."""
    rng = np.random.default_rng(seed)
    wm, d, t = sp.sample(rng, n)
    nudge = rng.integers(0, 3, n) == 0
    d = np.where(nudge[:, None], np.clip(d + rng.integers(-1, 2, d.shape), 2, 30), d)
    t = np.where(nudge[:, None], np.maximum(t + 16 * rng.integers(-1, 2, t.shape), 0), t)
    return wm, d, t


@pytest.mark.parametrize("space", [FlashSpace(), REDUCED, FlashSpace(t_min=0, t_ratio=1)])
def test_compiled_space_check_equals_the_constraints_read_plainly(space):
    wm, d, t = _perturbed(space, 3000, 5)
    got = space.feasible(wm, d, t)
    want = [_in_space_plain(space, *a) for a in zip(wm, d.tolist(), t.tolist(), strict=True)]
    assert got.tolist() == want and 0 < got.sum() < len(got)


def test_compiled_evaluator_equals_the_models_read_plainly(fitted):
    """Evaluator's compiled metrics == features -> LinearModel.predict, theta(g), bounds and
    score as the docstrings define them, in numpy."""
    models = HardwareModels.load(fitted[0] / "models.json")
    sp = FlashSpace()
    wm, d, t = _perturbed(sp, 4000, 6)
    f = FeatureModel(HW)(wm, d, t)
    assert np.array_equal(f["g"], nn_degree(wm, d, t))
    hwp = models.predict(f)
    area, lat, e = hwp["area_mm2"], hwp["latency_ns"] * 1e-6, hwp["energy_uj"] * 1e-3
    for pred in ((1.05, 120.0, -3.0), None):
        q = theta(f["g"], *pred) if pred else f["g"]
        lims = (np.median(q), np.median(area), np.median(lat), None)
        ev = fs.Evaluator(HW, models, sp, pred, fs.Bounds(*lims))
        m = ev(wm, d, t)
        assert ev.evaluations == len(wm)
        obj = q / (np.maximum(area, 1e-12) * np.maximum(lat, 1e-12) * np.maximum(e, 1e-12))
        over = [-(q - lims[0]) / lims[0], (area - lims[1]) / lims[1], (lat - lims[2]) / lims[2]]
        viol = sum(np.maximum(0.0, o) for o in over)
        ok = sp.feasible(wm, d, t) & (viol == 0)
        score = np.where(ok, -obj, np.where(sp.feasible(wm, d, t), 1 + viol + 1e-6 / (1 + obj),
                                            np.inf))
        for key, want in (("quality", q), ("area_mm2", area), ("latency_ms", lat),
                          ("energy_mj", e), ("objective", obj), ("violation", viol),
                          ("score", score)):
            assert m[key] == pytest.approx(want, rel=1e-12), key
        assert np.array_equal(m["feasible"], ok) and 0 < ok.sum() < len(ok)


def test_training_free_maximises_g_under_the_bounds(fitted):
    models = HardwareModels.load(fitted[0] / "models.json")
    ev = fs.Evaluator(HW, models, FlashSpace(), None, fs.Bounds(area_mm2=20.0))
    r = fs.training_free(ev, 2000, seed=1)
    assert r.feasible and r.metrics["area_mm2"] <= 20.0
    wm, d, t = FlashSpace().sample(np.random.default_rng(1), 2000)
    m = ev(wm, d, t)
    assert r.metrics["g"] == pytest.approx(m["g"][m["feasible"]].max())
    i = np.flatnonzero(m["feasible"])[np.argmax(m["g"][m["feasible"]])]
    assert r.objective == pytest.approx(m["objective"][i])  # reported on the common scale


def test_infeasible_constraints_give_the_closest_candidates(fitted, capsys):
    models = HardwareModels.load(fitted[0] / "models.json")
    ev = fs.Evaluator(HW, models, REDUCED, None, fs.Bounds(area_mm2=0.5))
    for name in ("hierarchical", "exhaustive", "training-free"):
        r = fs.SEARCHES[name](ev)
        assert not r.feasible and 1 <= len(r.closest) <= 5
        assert all(c["violation"] > 0 for c in r.closest)
        v = [c["violation"] for c in r.closest]
        assert v == sorted(v)
    assert main(["flash", "search", "--models", str(fitted[0] / "models.json"),
                 "--max-area-mm2", "0.5", "--methods", "hierarchical", "--wm", "1,2",
                 "--depth", "5,7", "--t-step", "16"]) == 0
    out = capsys.readouterr().out
    assert "no feasible architecture" in out and "closest" in out


def test_models_record_their_ground_truth_and_held_out_errors(fitted):
    out, r = fitted
    models = HardwareModels.load(out / "models.json")
    assert models.ground_truth == {"engine": "analytical", "noc": None}
    table = {(row[0], row[1]): row for row in r.rows7}
    for target, m in models.models.items():
        mean, worst = table[(target, "enasim")][3:5]
        assert (m.test_mean_error_pct, m.test_max_error_pct) == (mean, worst)
    flash = HardwareModels.load(out / "models_flash.json")
    assert flash.models["latency_ns"].test_max_error_pct == table[("latency_ns", "flash")][4]


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(ground_truth={"engine": "gpu", "noc": None}), "ground_truth.engine"),
    (lambda d: d.update(ground_truth={"engine": "sim", "noc": "torus"}), "ground_truth.noc"),
    (lambda d: d.update(ground_truth={"engine": "sim"}), "ground_truth"),
    (lambda d: d["models"]["energy_uj"].update(test_max_error_pct=-1),
     "models.energy_uj.test_max_error_pct"),
    (lambda d: d["models"]["area_mm2"].update(test_mean_error_pct="x"),
     "models.area_mm2.test_mean_error_pct")])
def test_bad_ground_truth_or_held_out_error_is_named(fitted, tmp_path, edit, field):
    import json

    from enasim.errors import ConfigError

    data = json.loads((fitted[0] / "models.json").read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        HardwareModels.load(path)


def test_searches_on_the_paper_space_keep_one_depth(fitted, tmp_path, capsys):
    import json

    models = HardwareModels.load(fitted[0] / "models.json")
    space = FlashSpace(wm=(1, 2), depth=(5, 8), t_step=8, shared_depth=True)
    ev = fs.Evaluator(HW, models, space, None, fs.Bounds())
    results = {name: search(ev) for name, search in fs.SEARCHES.items()}
    for r in results.values():
        assert r.feasible and len(set(r.depths)) == 1, r.method
    assert results["hierarchical"].arch == results["exhaustive"].arch
    assert main(["flash", "search", "--models", str(fitted[0] / "models.json"), "--space",
                 "paper", "--methods", "one-level", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["space_size"] == 31_966_698_504
    assert len(set(out["results"][0]["depths"])) == 1
    assert main(["flash", "fit", "--train", "20", "--test", "4", "--engine", "analytical",
                 "--space", "paper", "-o", str(tmp_path / "fit")]) == 0
    assert json.loads((tmp_path / "fit" / "report.json").read_text())["space"] == "paper"
    rows = (tmp_path / "fit" / "networks.csv").read_text().splitlines()[1:]
    assert rows and all(len(set(r.split(",")[3].split(";"))) == 1 for r in rows)


def _search_simulate(models_path, capsys, *extra):
    import json

    assert main(["flash", "search", "--models", str(models_path), "--methods", "hierarchical",
                 "--wm", "1,2", "--depth", "5,7", "--t-step", "16", "--simulate", "--json",
                 *extra]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)["results"][0]
    return result, [ln for ln in captured.err.splitlines() if ln]


def test_search_simulate_warns_beyond_the_held_out_max_error(fitted, tmp_path, capsys):
    """`--simulate` checks each simulated metric against the model's held-out max error, on
    the ground truth the models were fitted on (here the closed-form model)."""
    import json

    data = json.loads((fitted[0] / "models.json").read_text())
    for bound, expect in ((1e9, 0), (0.0, 2)):  # latency and energy predictions are not exact
        for m in data["models"].values():
            m["test_max_error_pct"] = bound
        path = tmp_path / f"models-{bound:g}.json"
        path.write_text(json.dumps(data))
        result, err = _search_simulate(path, capsys)
        sim, pred = result["simulated"], result["metrics"]
        off = [k for k in ("latency_ms", "energy_mj") if sim[k] != pred[k]]
        assert len(off) == 2 and result.get("warnings", []) == [
            w.removeprefix("enasim: warning: hierarchical SHGO: ") for w in err]
        assert len(err) >= expect
        if expect:
            for k in off:
                assert any(f"simulated {k}" in w and "held-out max error (0 %)" in w
                           for w in err)
            assert all(w.startswith("enasim: warning: hierarchical SHGO: ") for w in err)
            # area is exact in the tiles: its ~1e-13 % of rounding is not worth a warning
            assert abs(sim["area_mm2"] - pred["area_mm2"]) <= 1e-9 * sim["area_mm2"]
            assert not any("simulated area_mm2" in w for w in err)
    # another ground truth than the fit's is named; an old file without one is not checked
    _, err = _search_simulate(tmp_path / "models-1e+09.json", capsys, "--noc", "ideal")
    assert err == ["enasim: warning: hierarchical SHGO: the models were fitted on analytical "
                   "ground truth; simulated on sim, ideal NoC"]
    del data["ground_truth"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    _, err = _search_simulate(tmp_path / "old.json", capsys)
    assert len(err) == 1 and "records no ground truth or held-out errors" in err[0]


@pytest.mark.parametrize("args, field", [
    (["--wm", "x"], "--wm"), (["--methods", "bogus"], "--methods"),
    (["--predictor", "1,2"], "--predictor"), (["--depth", "9,5"], "depth")])
def test_search_bad_input_exits_2(fitted, capsys, args, field):
    assert main(["flash", "search", "--models", str(fitted[0] / "models.json"), *args]) == 2
    assert field in capsys.readouterr().err


def test_missing_models_file_exits_2(tmp_path, capsys):
    assert main(["flash", "search", "--models", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err


@pytest.mark.parametrize("args, field, expected", [
    (["--train", "10", "--test", "10"], "--train", "expected at least 20 networks: the flash"),
    (["--train", "30", "--test", "0"], "--test", "expected a value >= 1, got 0"),
    (["--workers", "0"], "--workers", "expected a value >= 1, got 0")])
def test_fit_arguments_are_checked_before_simulating(tmp_path, capsys, monkeypatch, args,
                                                     field, expected):
    from enasim.nas.flash import fit as flash_fit

    def no_simulation(*a, **k):
        raise AssertionError("simulated before checking the arguments")

    monkeypatch.setattr(flash_fit, "simulate", no_simulation)
    monkeypatch.setattr(flash_fit.runner, "run", no_simulation)
    assert main(["flash", "fit", *args, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"enasim: error: field '{field}': {expected}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, field, needs", [
    (["--noc", "process"], "--noc", "applies with --simulate"),
    (["--methods", "hierarchical", "--samples", "10"], "--samples",
     "applies to the training-free method"),
    (["--methods", "one-level", "--seed", "1"], "--seed", "applies to the training-free method"),
])
def test_search_options_the_run_would_ignore_exit_2(tmp_path, capsys, args, field, needs):
    assert main(["flash", "search", "--models", str(tmp_path / "none.json"), *args]) == 2
    assert f"field '{field}': {needs}" in capsys.readouterr().err


def test_fit_noc_needs_the_sim_engine(tmp_path, capsys):
    assert main(["flash", "fit", "--engine", "analytical", "--noc", "ideal", "-o",
                 str(tmp_path / "out")]) == 2
    assert "field '--noc': applies with --engine sim" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
