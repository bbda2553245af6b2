"""FLASH's models on the cycle-level mesh: the contention feature equals the engine's traffic,
`flash fit` fits on the hwconfig's mesh by default and names that ground truth, searches pay
for the mesh features only when a model uses them."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

from enasim.analytical.fitted import FEATURE_SETS, MESH_FEATURES, HardwareModels
from enasim.analytical.flash_features import FeatureModel, _busiest_link
from enasim.config import load
from enasim.config.loader import as_dict, from_dict
from enasim.mapping import map_network
from enasim.nas.flash import search as fs
from enasim.nas.flash.fit import fit_run
from enasim.nas.spaces.densenet_flash import FlashSpace, build_from_spec, sample
from enasim.noc.interconnect import pairs, xy_link_flits

HW = load("flash_imc")


def _variant(**sections) -> object:
    data = as_dict(HW)
    for section, fields in sections.items():
        data[section].update(fields)
    return from_dict(data, "flash_imc_variant")


def _engine_link_flits(spec, hw) -> tuple[int, int]:
    """Every weight layer's busiest link while its inputs arrive, from the engine's own traffic
    (the mapping's transfers as tile pairs, routed X then Y), summed; and the flits sent."""
    m = map_network(build_from_spec(spec), hw)
    by_layer: dict[str, list] = {}
    for tr in m.transfers:
        by_layer.setdefault(tr.dst, []).append(pairs(m, tr))
    total, sent = 0, 0
    for ps in by_layer.values():
        sent += sum(len(p.src) * p.flits for p in ps)
        links = xy_link_flits(m.mesh_rows, m.mesh_cols, np.concatenate([p.src for p in ps]),
                              np.concatenate([p.dst for p in ps]),
                              np.concatenate([np.full(len(p.src), p.flits) for p in ps]))
        total += int(links[:, :4].max())
    return total, sent


@pytest.mark.parametrize("hw", [
    HW,
    _variant(mapping={"placement": "snake"}),
    _variant(noc={"mesh_rows": 60, "mesh_cols": 61}),
    _variant(noc={"flit_bits": 64}, precision={"output_bits": 4}),
], ids=["row_major", "snake", "fixed_mesh", "wide_flits"])
def test_link_flits_equal_the_engines_traffic(hw):
    rng = random.Random(5)
    specs = [sample(rng) for _ in range(10)]
    specs += [FlashSpace().spec(1, (2, 3, 2), (0, 16, 0)), FlashSpace().spec(3, (30,) * 3,
                                                                             (5000,) * 3)]
    f = FeatureModel(hw)([s.wm for s in specs], [s.depths for s in specs],
                         [s.tcs for s in specs])
    for k, s in enumerate(specs):
        assert (f["link_flits"][k], f["noc_flits"][k]) == _engine_link_flits(s, hw), s.label()
        assert f["leak_noc"][k] == f["tiles"][k] * f["link_flits"][k]


def test_busiest_link_closed_form_cases():
    scratch = [np.zeros(8, np.int64) for _ in range(3)]

    def busiest(d0, q, producers, cols, snake=False):
        lo = np.array([a for a, _, _ in producers], np.int64)
        hi = np.array([a + n for a, n, _ in producers], np.int64)
        f = np.array([x for _, _, x in producers], np.int64)
        return _busiest_link(d0, q, lo, hi, f, len(f), cols, snake, *scratch)

    # one tile to its neighbour: every flit on the one link
    assert busiest(1, 1, [(0, 1, 9)], 4) == 9
    # a 4-wide mesh: tiles 0-5 (rows 0-1) to tile 6 (row 1, x 2): 4 tiles' flits from the north
    # (row 0), tiles 4 and 5 from the west
    assert busiest(6, 1, [(0, 6, 3)], 4) == 4 * 3
    assert busiest(6, 1, [(0, 4, 1), (4, 2, 5)], 4) == 2 * 5
    # two consumers below a producer row: at x 0, 1 the link down column 0 carries all four
    # producers' flits to tile 4; with producers at x 0, 1 only and consumers at x 2, 3, the
    # row link x 1 -> 2 carries both producers' flits to both consumers, twice a column's
    assert busiest(4, 2, [(0, 4, 1)], 4) == 4
    assert busiest(6, 2, [(0, 2, 1)], 4) == 2 * 2
    # snake: row 1 runs right to left, so tiles 4, 5 sit at x 3, 2 and tile 6 at x 1
    assert busiest(6, 1, [(0, 4, 1), (4, 2, 5)], 4, snake=True) == 2 * 5


def test_links_false_leaves_the_mesh_features_out_and_the_rest_equal():
    space = FlashSpace()
    wm, d, t = space.sample(np.random.default_rng(2), 50)
    fm = FeatureModel(HW)
    full, fast = fm.matrix(wm, d, t), fm.matrix(wm, d, t, links=False)
    rows = [fm.names.index(n) for n in ("link_flits", "leak_noc", "noc_flits")]
    assert np.isnan(fast[rows]).all() and not np.isnan(full[rows]).any()
    keep = np.setdiff1d(np.arange(len(fm.names)), rows)
    assert np.array_equal(full[keep], fast[keep])


SMALL = FlashSpace(wm=(1, 1), depth=(3, 5), t_step=8)  # networks of < 0.1 s on the mesh


@pytest.fixture(scope="module")
def mesh_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("flash-mesh-fit")
    return out, fit_run("flash_imc", 24, 6, 1, out, workers=2, progress=False, space=SMALL)


def test_fit_defaults_to_the_hwconfigs_mesh_and_names_it(mesh_fit):
    out, r = mesh_fit
    assert r.truth == "sim, compiled NoC"
    report = json.loads((out / "report.json").read_text())
    assert report["noc"] == "compiled" and report["ground_truth"] == "sim, compiled NoC"
    models = HardwareModels.load(out / "models.json")
    assert models.ground_truth == {"engine": "sim", "noc": "compiled"}
    for target, extra in MESH_FEATURES.items():
        assert models.models[target].features == FEATURE_SETS["enasim"][target] + extra
    with (out / "networks.csv").open() as f:
        nets = list(csv.DictReader(f))
    assert [n["network"] for n in nets] == [f"n{k:04d}" for k in range(30)]
    assert all(float(n["sim_latency_ns"]) > 0 and float(n["pred_latency_ns"]) > 0 for n in nets)
    flash = HardwareModels.load(out / "models_flash.json")  # FLASH's own set as published
    assert flash.models["latency_ns"].features == FEATURE_SETS["flash"]["latency_ns"]
    # the same store, the NoC model spelt out: every network reused
    again = fit_run("flash_imc", 24, 6, 1, out, noc="compiled", workers=2, progress=False,
                    space=SMALL)
    assert again.rows7 == r.rows7 or [row[:5] for row in again.rows7] == \
        [row[:5] for row in r.rows7]


def test_ideal_fit_keeps_the_set_without_contention(tmp_path):
    r = fit_run("flash_imc", 24, 6, 1, tmp_path / "ideal", noc="ideal", workers=1,
                progress=False, space=SMALL)
    assert r.truth == "sim, ideal NoC"
    models = HardwareModels.load(tmp_path / "ideal" / "models.json")
    assert models.models["latency_ns"].features == FEATURE_SETS["enasim"]["latency_ns"]


def test_search_predicts_with_the_mesh_models_as_the_models_do(mesh_fit):
    models = HardwareModels.load(mesh_fit[0] / "models.json")
    wm, d, t = SMALL.enumerate()
    got = fs.Evaluator(HW, models, SMALL)(wm, d, t)
    want = models.predict(FeatureModel(HW, SMALL.cells, SMALL.wm[1], SMALL.depth[1])(wm, d, t))
    assert np.allclose(got["latency_ms"], want["latency_ns"] * 1e-6, rtol=1e-12)
    assert np.allclose(got["energy_mj"], want["energy_uj"] * 1e-3, rtol=1e-12)
