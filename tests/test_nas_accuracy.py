"""Trained accuracy in the NAS flows: `monas run --accuracy train[:DATASET][,epochs=E]` and
`enasim flash samples` (issue 25 item 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("optuna")

import enasim.train.trainer as trainer  # noqa: E402
from enasim.cli import main  # noqa: E402
from enasim.config import load  # noqa: E402
from enasim.errors import ConfigError  # noqa: E402
from enasim.nas.accuracy import (  # noqa: E402
    TrainSpec,
    dataset_id,
    fitted_size,
    parse_train_spec,
    trial_seed,
)
from enasim.nas.flash.predictor import fit_predictor, read_accuracy_csv  # noqa: E402
from enasim.nas.flash.samples import run_samples  # noqa: E402
from enasim.nas.monas.search import Settings, run_search  # noqa: E402
from enasim.nas.spaces.blocks_cnn import BlocksCnnSpace  # noqa: E402

SPEC = "train:digits,epochs=0.05"
SPACE = BlocksCnnSpace(3, (8, 16))  # tiny networks: a trial trains in well under a second


@pytest.fixture
def count_training(monkeypatch):
    """Count calls of enasim.train.trainer.train (what TrainedAccuracy calls to train)."""
    calls = []
    real = trainer.train

    def counted(net, *args, **kwargs):
        calls.append(net.name)
        return real(net, *args, **kwargs)

    monkeypatch.setattr(trainer, "train", counted)
    return calls


def test_spec_parser_good(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 0, 1]))
    assert parse_train_spec("train") == TrainSpec("digits", 1.0)
    assert parse_train_spec("train,epochs=0.5") == TrainSpec("digits", 0.5)
    assert parse_train_spec("train:digits,epochs=2") == TrainSpec("digits", 2.0)
    assert parse_train_spec(f"train:{npz}") == TrainSpec(str(npz), 1.0)
    assert parse_train_spec(f"train:{tmp_path},epochs=3") == TrainSpec(str(tmp_path), 3.0)
    # the identity of a file is its content: another file with the same bytes is the same data
    twin = tmp_path / "twin.npz"
    twin.write_bytes(npz.read_bytes())
    assert dataset_id(str(npz)) == dataset_id(str(twin)) != dataset_id("digits")


@pytest.mark.parametrize(
    "spec",
    [
        "train:",
        "train:nofile.npz",
        "train,epochs=0",
        "train,epochs=x",
        "train,epochs=",
        "train,lr=1",
        "train:digits,epochs=-1",
        "training",
    ],
)
def test_spec_parser_bad(spec, tmp_path, capsys):
    if spec != "training":  # not a train spec: taken for module:function by load_accuracy
        with pytest.raises(ConfigError):
            parse_train_spec(spec)
    out = tmp_path / "out"
    code = main(["monas", "run", "--trials", "1", "--accuracy", spec, "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--accuracy" in err, err
    assert not out.exists() or spec == "training"


def test_seeds_and_sizes():
    assert trial_seed(0, "a" * 64) == trial_seed(0, "a" * 64) != trial_seed(1, "a" * 64)
    assert trial_seed(0, "a" * 64) != trial_seed(0, "b" * 64)
    assert [fitted_size(8, k) for k in range(6)] == [8, 8, 8, 8, 16, 32]


def _accuracies(out, count_training=None):
    settings = Settings(accuracy=SPEC, space=SPACE, seed=3)
    res = run_search(settings, load("flash_imc"), 2, out / "study.sqlite")
    return [(r["label"], r["accuracy"]) for r in res.rows]


def test_monas_train_deterministic_and_cached(tmp_path, count_training):
    first = _accuracies(tmp_path / "a")
    assert len(count_training) == len({label for label, _ in first}) >= 1
    assert all(0 <= acc <= 1 for _, acc in first)
    assert _accuracies(tmp_path / "b") == first  # another directory: trained again, equal
    trained = len(count_training)
    # a repeated study in the first directory (its study gone) trains nothing
    for f in (tmp_path / "a").glob("study.sqlite*"):
        f.unlink()
    assert _accuracies(tmp_path / "a") == first
    assert len(count_training) == trained
    entries = [json.loads(p.read_text()) for p in (tmp_path / "a/accuracy").glob("*.json")]
    assert {(e["network"], e["result"]["accuracy"]) for e in entries} == set(first)
    assert all(e["key"]["epochs"] == 0.05 and e["key"]["dataset"] == "digits" for e in entries)


def test_monas_cache_keyed_by_epochs(tmp_path, count_training):
    """The same networks at other epochs are trained, not read from the cache."""
    _accuracies(tmp_path)
    trained = len(count_training)
    for f in tmp_path.glob("study.sqlite*"):
        f.unlink()
    settings = Settings(accuracy="train:digits,epochs=0.1", space=SPACE, seed=3)
    run_search(settings, load("flash_imc"), 2, tmp_path / "study.sqlite")
    assert len(count_training) == 2 * trained


def test_flash_samples_csv_fits(tmp_path, capsys):
    out = tmp_path / "s"
    code = main(
        [
            "flash",
            "samples",
            "4",
            "--epochs",
            "0.05",
            "--wm",
            "1,1",
            "--depth",
            "5,6",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    samples = run_samples(4, out, epochs=0.05, wm=(1, 1), depth=(5, 6))
    assert all(s.cached for s in samples)
    g, acc = read_accuracy_csv(out / "samples.csv")
    assert np.allclose(g, [s.g for s in samples])
    assert list(acc) == [s.accuracy for s in samples]
    assert (out / "samples.csv").read_text().splitlines()[0] == "wm,depths,tcs,accuracy"
    p = fit_predictor(g, acc)
    assert p.samples == 4 and p.rmse >= 0
    capsys.readouterr()
    assert main(["flash", "predictor", "fit", str(out / "samples.csv")]) == 0
    assert "fitted on 4 networks" in capsys.readouterr().out
    # other settings in the same directory: refused
    assert (
        main(
            [
                "flash",
                "samples",
                "4",
                "--epochs",
                "0.1",
                "--wm",
                "1,1",
                "--depth",
                "5,6",
                "-o",
                str(out),
            ]
        )
        == 2
    )
    assert "other settings" in capsys.readouterr().err


def test_flash_samples_resume(tmp_path, count_training):
    class Stop(Exception):
        pass

    def stop_after_two(i, sample):
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        run_samples(3, tmp_path, epochs=0.05, wm=(1, 1), depth=(5, 6), progress=stop_after_two)
    assert len(count_training) == 2
    assert len((tmp_path / "samples.csv").read_text().splitlines()) == 3  # header + 2
    partial = (tmp_path / "samples.csv").read_text().splitlines()
    done = run_samples(3, tmp_path, epochs=0.05, wm=(1, 1), depth=(5, 6))
    assert len(count_training) == 3  # only the third network was trained
    assert [s.cached for s in done] == [True, True, False]
    assert (tmp_path / "samples.csv").read_text().splitlines()[:3] == partial
