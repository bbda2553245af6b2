"""FLASH: vectorised NN-Degree and the accuracy predictor."""

import json

import numpy as np
import pytest
from conftest import read_reference_csv

from enasim.cli import main
from enasim.errors import ConfigError
from enasim.nas.degree import nn_degree
from enasim.nas.flash.predictor import fit_predictor, read_accuracy_csv, theta
from enasim.nas.spaces.densenet_flash import DenseNetSpec, sample


def test_nn_degree_batch_equals_the_reference_edge_reading():
    rows = read_reference_csv("nas", "nnmass_densenet_summary.csv")
    wm = [int(r["wm"]) for r in rows]
    depths = [[int(r["cell_depth"])] * 3 for r in rows]
    tcs = [[int(v) for v in r["tc"].split(";")] for r in rows]
    got = nn_degree(wm, depths, tcs)
    want = [float(r["derived_nn_degree_edges"]) for r in rows]
    assert got == pytest.approx(want, abs=1e-4)


def test_nn_degree_batch_equals_the_per_network_sum():
    import random

    rng = random.Random(5)
    specs = [sample(rng) for _ in range(200)]
    specs.append(DenseNetSpec(2, (5, 30, 7), (0, 10_000, 3)))  # t_c beyond every layer's pool
    got = nn_degree([s.wm for s in specs], [s.depths for s in specs], [s.tcs for s in specs])
    assert got == pytest.approx([s.nn_degree() for s in specs], rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_predictor_recovers_known_parameters_from_noisy_data(seed):
    rng = np.random.default_rng(seed)
    g = rng.uniform(40, 400, 30)
    acc = theta(g, 1.05, 120.0, -3.0) + rng.normal(0, 0.003, g.size)
    p = fit_predictor(g, acc)
    assert (p.a, p.b, p.c) == pytest.approx((1.05, 120.0, -3.0), rel=0.05)
    assert p.rmse == pytest.approx(0.003, rel=0.3)


def test_predictor_cli_reads_architectures_or_degrees(tmp_path, capsys):
    rng = np.random.default_rng(4)
    g = rng.uniform(40, 400, 25)
    acc = theta(g, 1.05, 120.0, -3.0)
    (tmp_path / "g.csv").write_text("g,accuracy\n" + "".join(
        f"{a},{b * 100}\n" for a, b in zip(g, acc, strict=True)))
    assert main(["flash", "predictor", "fit", str(tmp_path / "g.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["a"], out["b"], out["c"]) == pytest.approx((1.05, 120.0, -3.0), rel=1e-3)
    assert out["samples"] == 25
    (tmp_path / "arch.csv").write_text("wm,depths,tcs,accuracy\n1;x,8;8;8,10;20;40,0.9\n")
    assert main(["flash", "predictor", "fit", str(tmp_path / "arch.csv")]) == 2
    assert "line 2" in capsys.readouterr().err
    (tmp_path / "arch.csv").write_text("wm,depths,tcs,accuracy\n1,8;8;8,10;20;40,0.9\n")
    assert read_accuracy_csv(tmp_path / "arch.csv")[0] == pytest.approx([164.5])


@pytest.mark.parametrize("g, acc, field", [([100, 200], [0.5, 0.6], "pairs"),
                                           ([100, -1, 50], [0.5, 0.6, 0.7], "g"),
                                           ([100, 200, 300], [0.5, 1.2, 0.7], "accuracy")])
def test_predictor_rejects_bad_data(g, acc, field):
    with pytest.raises(ConfigError, match=field):
        fit_predictor(g, acc)
