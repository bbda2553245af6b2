"""Multi-objective Bayesian NAS (`enasim monas`): the block-CNN space, hypervolume and front,
TPE against random search, SQLite resumption after SIGKILL, determinism, CLI errors."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import sqlite3
import sys

import pytest
from conftest import hw_with, kill_cli_mid_run

from enasim.cli import main
from enasim.config import load
from enasim.errors import ConfigError
from enasim.mapping import map_network
from enasim.nas.monas.search import (
    HardwareCost,
    Settings,
    analyse,
    hypervolume,
    load_accuracy,
    pareto_front,
    run_search,
    synthetic_accuracy,
)
from enasim.nas.spaces.blocks_cnn import Block, BlocksCnnSpace, build, label, pools

needs_optuna = pytest.mark.skipif(importlib.util.find_spec("optuna") is None,
                                  reason="optuna not installed (enasim[nas])")
N = 40  # trials of the CLI runs


def constant_accuracy(config) -> float:
    """A user accuracy function for `--accuracy test_monas:constant_accuracy`."""
    return 0.5


@pytest.fixture(scope="module")
def flash():
    return load("flash_imc")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted `enasim monas run` of N trials: its output directory."""
    pytest.importorskip("optuna", reason="optuna not installed (enasim[nas])")
    out = tmp_path_factory.mktemp("monas") / "ref"
    assert main(_cmd(out, N)) == 0
    return out


def _cmd(out, trials, *extra) -> list[str]:
    return ["monas", "run", "--trials", str(trials), "-o", str(out), "--seed", "3", "--quiet",
            *extra]


def _read(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _complete(db) -> dict[int, tuple]:
    """Stored complete trials: number -> (params, values), straight from the SQLite file."""
    try:
        with sqlite3.connect(db) as conn:
            states = dict(conn.execute("SELECT trial_id, number FROM trials "
                                       "WHERE state = 'COMPLETE'").fetchall())
            params: dict[int, list] = {}
            for tid, name, value in conn.execute("SELECT trial_id, param_name, param_value "
                                                 "FROM trial_params ORDER BY param_name"):
                params.setdefault(tid, []).append((name, value))
            values: dict[int, list] = {}
            for tid, obj, value in conn.execute("SELECT trial_id, objective, value "
                                                "FROM trial_values ORDER BY objective"):
                values.setdefault(tid, []).append((obj, value))
    except sqlite3.OperationalError:  # tables not created yet
        return {}
    return {num: (tuple(params.get(tid, ())), tuple(values.get(tid, ())))
            for tid, num in states.items()}


# --- the space --------------------------------------------------------------------------------


@pytest.mark.parametrize("max_blocks, channels, max_pools",
                         [(3, (8, 16), 1), (3, (8, 16), 2), (4, (8,), 0), (2, (4, 8, 16), 5),
                          (1, (8, 16), 1)])
def test_closed_form_size_equals_brute_force(max_blocks, channels, max_pools):
    space = BlocksCnnSpace(max_blocks, channels, max_pools)
    configs = list(space.enumerate())
    assert len(configs) == len(set(configs)) == space.size()
    assert len({label(c) for c in configs}) == space.networks()
    assert all(pools(c) <= max_pools and c[0] is not None for c in configs)


def test_default_space_size():
    space = BlocksCnnSpace()
    assert (space.size(), space.networks()) == (84_491_190, 44_415_630)


def test_sampling_is_seeded_and_valid():
    space = BlocksCnnSpace()
    a = [space.sample(random.Random(7)) for _ in range(3)]
    assert a == [space.sample(random.Random(7)) for _ in range(3)]
    rng = random.Random(1)
    samples = [space.sample(rng) for _ in range(300)]
    assert all(space.check(c) == c for c in samples)
    assert len({label(c) for c in samples}) > 250
    assert any(c.count(None) for c in samples[1:]) and any(None in c[:-1] for c in samples)


def test_labels_round_trip_and_bad_configs_are_named():
    space = BlocksCnnSpace()
    config = (Block("VGG", 64), None, Block("RES", 128), Block("MVGG", 32)) + (None,) * 4
    assert label(config) == "V64-R128-M32"
    assert space.decode("V64-R128-M32") == (Block("VGG", 64), Block("RES", 128),
                                            Block("MVGG", 32)) + (None,) * 5
    with pytest.raises(ConfigError, match="slot 0"):
        space.check((None, Block("VGG", 32)) + (None,) * 6)
    with pytest.raises(ConfigError, match="5 pooling"):
        space.check((Block("VGG", 32),) * 5 + (None,) * 3)
    with pytest.raises(ConfigError, match="label"):
        space.decode("X64")
    with pytest.raises(ConfigError, match="channels"):
        space.decode("V48")
    with pytest.raises(ConfigError, match="channels"):
        BlocksCnnSpace(channels=())
    with pytest.raises(ConfigError, match="max_blocks"):
        BlocksCnnSpace(max_blocks=0)


def test_cap_pools_turns_extra_vgg_into_mvgg():
    space = BlocksCnnSpace(max_pools=2)
    capped = space.cap_pools((Block("VGG", 32), None, Block("VGG", 64), Block("VGG", 128),
                              Block("RES", 32)) + (None,) * 3)
    assert label(capped) == "V32-V64-M128-R32"


def test_built_networks_have_the_block_shapes(flash):
    cin = 32
    net = build((Block("MVGG", cin), Block("RES", 64), Block("VGG", 128))
                + (None,) * 5)
    res = [n for n in net.weight_layers if n.name.startswith("b1.")]
    assert sum(n.weight_rows * n.weight_cols for n in res) \
        == 3 * 3 * cin * 64 + 3 * 3 * 64 * 64 + cin * 64
    assert net["b1.res.add"].inputs == ("b1.res.bn2", "b1.res.proj")
    assert net["b2.vgg.pool"].out_shape == (128, 16, 16)
    assert net["head.pool"].out_shape == (128, 1, 1)
    assert net["head.fc"].out_shape[0] == 10
    deep = build((Block("VGG", 32),) * 4 + (Block("MVGG", 64),) * 4)
    assert sum(n.kind == "pool" and not n.op.global_pool for n in deep.nodes) == 4
    assert deep["b7.mvgg.relu2"].out_shape == (64, 2, 2)
    mapping = map_network(deep, flash)
    assert mapping.total_arrays > 0


def test_synthetic_accuracy_is_deterministic_and_saturating():
    small = (Block("VGG", 32),) + (None,) * 7
    wide = (Block("VGG", 128),) + (None,) * 7
    deep = (Block("VGG", 128),) * 4 + (Block("RES", 128),) * 4
    accs = [synthetic_accuracy(c) for c in (small, wide, deep)]
    assert accs == [synthetic_accuracy(c) for c in (small, wide, deep)]
    assert 0.1 < accs[0] < accs[1] < accs[2] < 0.95


# --- hypervolume and front ------------------------------------------------------------------


def test_hypervolume_on_hand_computed_cases():
    # Two rectangles of 0.8 x 0.4 and 0.5 x 0.7 overlapping in 0.5 x 0.4.
    assert hypervolume([(0.2, 0.6), (0.5, 0.3)], (1, 1)) == pytest.approx(0.47)
    assert hypervolume([(0.2, 0.6), (0.5, 0.3), (0.6, 0.7), (1.2, 0.0)], (1, 1)) \
        == pytest.approx(0.47)  # a dominated point and one beyond the reference add nothing
    assert hypervolume([], (1, 1)) == 0.0
    assert hypervolume([(0.5, 0.5, 0.5)], (1, 1, 1)) == pytest.approx(0.125)
    # Boxes of 0.25 each, overlapping in 0.5^3.
    assert hypervolume([(0, 0.5, 0.5), (0.5, 0, 0.5)], (1, 1, 1)) == pytest.approx(0.375)
    rng = random.Random(0)
    pts = [(rng.random(), rng.random()) for _ in range(30)]
    as_3d = hypervolume([(x, y, 0.0) for x, y in pts], (1, 1, 1))
    assert as_3d == pytest.approx(hypervolume(pts, (1, 1)))


def test_pareto_front_keeps_the_non_dominated_networks():
    rows = [{"label": n, "accuracy": a, "latency_ns": lat}
            for n, a, lat in (("a", 0.9, 10.0), ("b", 0.8, 5.0), ("c", 0.8, 12.0),
                              ("d", 0.95, 20.0), ("a", 0.9, 10.0))]
    front = pareto_front(rows, ("accuracy", "latency_ns"), {"latency_ns": 20.0})
    assert [r["label"] for r in front] == ["a", "b", "d"]


# --- the search -----------------------------------------------------------------------------


@needs_optuna
def test_tpe_finds_a_better_front_than_random_search(flash):
    cost = HardwareCost(flash)
    hv = {}
    for sampler in ("tpe", "random"):
        hv[sampler] = []
        for seed in range(4):
            settings = Settings(sampler=sampler, seed=seed)
            rows = run_search(settings, flash, 60, cost=cost).rows
            hv[sampler].append(analyse(rows, settings, cost)["hypervolume"])
    assert sum(hv["tpe"]) > sum(hv["random"]) + 0.01, hv


@needs_optuna
def test_objectives_pareto_and_weighted(flash):
    cost = HardwareCost(flash)
    for objective in ("pareto", "weighted"):
        settings = Settings(objective=objective, weights=(2.0, 1.0, 0.5))
        rows = run_search(settings, flash, 15, cost=cost).rows
        result = analyse(rows, settings, cost)
        assert result["metrics"] == ["accuracy", "latency_ns", "energy_uj"]
        assert 0 < result["hypervolume"] < 1 and result["front"]
    score = float(rows[0]["objectives"])
    r = rows[0]
    assert score == pytest.approx(r["accuracy"] ** 2 / (r["latency_ns"] * r["energy_uj"] ** 0.5))


def test_sim_evaluator_matches_analytical_without_contention():
    hw = hw_with(noc={"model": "ideal"})
    config = (Block("RES", 8), Block("VGG", 16))
    sim, ana = HardwareCost(hw, "sim")(config), HardwareCost(hw, "analytical")(config)
    assert sim["latency_ns"] == ana["latency_ns"]
    assert sim["energy_uj"] == pytest.approx(ana["energy_uj"], rel=1e-6)


@needs_optuna
def test_networks_the_chip_cannot_take_are_failed_trials(tmp_path):
    hw = hw_with(noc={"mesh_rows": 5, "mesh_cols": 5})
    settings = Settings(sampler="random")
    first = run_search(settings, hw, 12, tmp_path / "study.sqlite")
    assert first.failed and first.rows and len(first.rows) + len(first.failed) == 12
    assert "tiles but the chip has 25" in first.failed[0]["error"]
    assert sorted([r["number"] for r in first.rows] + [f["number"] for f in first.failed]) \
        == list(range(12))
    again = run_search(settings, hw, 12, tmp_path / "study.sqlite")
    assert (again.rows, again.failed) == (first.rows, first.failed)


def test_run_writes_every_output(reference_run):
    out = reference_run
    rows = _read(out / "trials.csv")
    assert len(rows) == N and [int(r["number"]) for r in rows] == list(range(N))
    assert set(rows[0]) >= {"number", "label", "blocks", "accuracy", "latency_ns", "energy_uj",
                            "area_mm2", "objectives", "on_front"}
    front = _read(out / "pareto.csv")
    assert {r["number"] for r in front} == {r["number"] for r in rows if r["on_front"] == "1"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["space"]["configurations"] == 84_491_190
    assert summary["trials"]["complete"] == N and summary["trials"]["front"] == len(front)
    assert 0 < summary["hypervolume"] < 1
    per = summary["front_stats"]["per_position"]
    assert len(per) == 8 and all(sum(p[t] for t in ("VGG", "MVGG", "RES", "empty"))
                                 == len(front) for p in per)
    assert (out / "plots" / "objectives.png").stat().st_size > 0
    assert (out / "plots" / "front_blocks.png").stat().st_size > 0


def test_same_seed_gives_identical_trials(reference_run, tmp_path):
    assert main(_cmd(tmp_path / "again", N)) == 0
    assert (tmp_path / "again" / "trials.csv").read_text() \
        == (reference_run / "trials.csv").read_text()


def test_sigkill_then_rerun_completes_without_losing_or_redoing_trials(reference_run, tmp_path):
    out = tmp_path / "killed"
    kill_cli_mid_run(_cmd(out, N), lambda: len(_complete(out / "study.sqlite")), 5,
                     "the search")
    before = _complete(out / "study.sqlite")
    assert 5 <= len(before) < N, "the search was not killed mid-way"
    assert not (out / "trials.csv").exists()

    assert main(_cmd(out, N)) == 0
    after = _complete(out / "study.sqlite")
    assert sorted(after) == list(range(N))
    assert {k: after[k] for k in before} == before
    # The resumed search draws what an uninterrupted one does.
    assert (out / "trials.csv").read_text() == (reference_run / "trials.csv").read_text()


def test_larger_trials_continues_the_study(reference_run, tmp_path, capsys):
    out = tmp_path / "grow"
    assert main(_cmd(out, 15)) == 0
    first = _complete(out / "study.sqlite")
    assert main(_cmd(out, 25)) == 0
    after = _complete(out / "study.sqlite")
    assert len(after) == 25 and {k: after[k] for k in first} == first
    drop = ("on_front",)
    strip = [{k: v for k, v in r.items() if k not in drop} for r in _read(out / "trials.csv")]
    ref = [{k: v for k, v in r.items() if k not in drop}
           for r in _read(reference_run / "trials.csv")]
    assert strip == ref[:25]
    # Another objective or chip on the same study is refused.
    assert main(_cmd(out, 30, "--objective", "acc/energy")) == 2
    assert "objective 'acc/latency' there, 'acc/energy' here" in capsys.readouterr().err
    assert main(_cmd(out, 30, "--hw", "neurosim_v13")) == 2
    assert "hwconfig_hash" in capsys.readouterr().err


# --- accuracy evaluators and bad input --------------------------------------------------------


@needs_optuna
def test_accuracy_from_csv_and_function(tmp_path, capsys):
    # Random search visits the same networks whatever the accuracies are.
    random_search = ("--sampler", "random")
    assert main(_cmd(tmp_path / "synthetic", 10, *random_search)) == 0
    labels = [r["label"] for r in _read(tmp_path / "synthetic" / "trials.csv")]
    table = tmp_path / "acc.csv"
    given = {name: 0.5 + i / 1000 for i, name in enumerate(labels)}
    table.write_text("label,accuracy\n" + "".join(f"{k},{v}\n" for k, v in given.items()))
    assert main(_cmd(tmp_path / "csv", 10, "--accuracy", str(table), *random_search)) == 0
    got = {r["label"]: float(r["accuracy"]) for r in _read(tmp_path / "csv" / "trials.csv")}
    assert got == given

    table.write_text(f"label,accuracy\n{labels[0]},0.7\n")
    capsys.readouterr()
    assert main(_cmd(tmp_path / "missing", 10, "--accuracy", str(table), *random_search)) == 2
    missing = next(name for name in labels if name != labels[0])
    assert f"no accuracy for network '{missing}'" in capsys.readouterr().err

    fn = load_accuracy("test_monas:constant_accuracy")
    assert fn((Block("VGG", 32),)) == 0.5
    assert main(_cmd(tmp_path / "fn", 3, "--accuracy", "test_monas:constant_accuracy")) == 0
    assert {r["accuracy"] for r in _read(tmp_path / "fn" / "trials.csv")} == {"0.5"}


@pytest.mark.parametrize("flags, expected", [
    (["--objective", "acc/area"], "--objective"),
    (["--trials", "0"], "--trials"),
    (["--channels", ""], "--channels"),
    (["--channels", "32,0"], "--channels"),
    (["--channels", "32,x"], "--channels"),
    (["--max-blocks", "0"], "--max-blocks"),
    (["--hw", "no_such_chip.yaml"], "--hw"),
    (["--sampler", "grid"], "--sampler"),
    (["--evaluator", "fast"], "--evaluator"),
    (["--objective", "weighted", "--weights", "1,2"], "--weights"),
    (["--weights", "1,2,0"], "field '--weights': applies with --objective weighted, not "
                             "'acc/latency'"),
    (["--accuracy", "nonsense"], "--accuracy"),
    (["--accuracy", "missing.csv"], "--accuracy"),
])
def test_bad_input_names_the_flag_and_exits_2(tmp_path, capsys, flags, expected):
    cmd = ["monas", "run", "-o", str(tmp_path / "out"), "--trials", "2", *flags]
    assert main(cmd) == 2
    err = capsys.readouterr().err
    assert expected in err, err


def test_without_optuna_the_search_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    assert main(["monas", "run", "-o", str(tmp_path / "out"), "--trials", "2"]) == 2
    assert "pip install 'enasim[nas]'" in capsys.readouterr().err
