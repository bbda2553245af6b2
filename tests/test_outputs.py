"""Outputs: paths checked before any work, result sets replaced whole (never a mix of two runs),
leftovers of killed runs removed, flash fit's stored simulations reused only for identical work
and its deterministic files byte-identical between identical runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import enasim
from enasim import fileio
from enasim.cli import main
from enasim.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DEAD_PID = 99_999_999  # above Linux's pid_max: no such process

# Commands writing a directory: argv with the output directory as OUT.
DIR_COMMANDS = {
    "run": ["run", "--engine", "analytical", "-o", "OUT"],
    "infer": ["infer", "--images", "1", "-o", "OUT"],
    "enasa run": ["enasa", "run", "--generations", "0", "--population", "2", "--group", "2",
                  "-o", "OUT"],
    "monas run": ["monas", "run", "--trials", "1", "-o", "OUT"],
    "flash fit": ["flash", "fit", "--train", "20", "--test", "1", "--engine", "analytical",
                  "-o", "OUT"],
    "sweep": ["sweep", str(REPO / "sweeps" / "example.yaml"), "-o", "OUT"],
}
# Commands writing one file: argv with the output file as OUT (a .csv, for the trace format).
FILE_COMMANDS = {
    "trace export": ["trace", "export", "-o", "OUT"],
    "sweep export": ["sweep", "export", "nowhere", "--csv", "OUT"],
    "noc --packets-out": ["noc", "--mesh", "2x2", "--packets-out", "OUT"],
}


def _refused(argv: list[str], out: Path, capsys) -> str:
    argv = [str(out) if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("enasim: error: ") and err.count("\n") == 1, err
    assert str(out) in err
    return err


@pytest.mark.parametrize("command", sorted(DIR_COMMANDS))
@pytest.mark.parametrize("where", ["file", "under a file", "/proc"])
def test_an_output_directory_that_cannot_be_written_is_refused_first(command, where, tmp_path,
                                                                     capsys):
    (tmp_path / "file.txt").write_text("x")
    out = {"file": tmp_path / "file.txt", "under a file": tmp_path / "file.txt" / "sub",
           "/proc": Path("/proc/enasim-out")}[where]
    err = _refused(DIR_COMMANDS[command], out, capsys)
    assert "--out" in err
    assert (tmp_path / "file.txt").read_text() == "x"


@pytest.mark.parametrize("command", sorted(FILE_COMMANDS))
@pytest.mark.parametrize("where", ["directory", "under a file", "/proc"])
def test_an_output_file_that_cannot_be_written_is_refused_first(command, where, tmp_path,
                                                                capsys):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "d.csv").mkdir()
    out = {"directory": tmp_path / "d.csv", "under a file": tmp_path / "file.txt" / "t.csv",
           "/proc": Path("/proc/enasim-out.csv")}[where]
    _refused(FILE_COMMANDS[command], out, capsys)


@pytest.mark.parametrize("where", ["file", "under a file", "/proc"])
def test_plot_into_a_place_that_cannot_be_written_is_refused(where, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    results = tmp_path / "r"
    assert main(["run", "--engine", "analytical", "-o", str(results), "--quiet"]) == 0
    capsys.readouterr()
    (results / "plots").write_text("in the way")
    target = {"file": results, "under a file": tmp_path / "file.txt",
              "/proc": Path("/proc/enasim-out")}[where]
    assert main(["plot", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("enasim: error: ") and err.count("\n") == 1, err


def test_a_directory_holding_other_files_is_not_replaced(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    err = _refused(DIR_COMMANDS["run"], tmp_path, capsys)
    assert "notes.txt" in err and "--out" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_oserror_while_writing_names_the_path(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ConfigError, match="file.txt/out.json: cannot write"):
        fileio.atomic_write(tmp_path / "file.txt" / "out.json", "{}")


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _siblings(d: Path) -> list[str]:
    return sorted(p.name for p in d.parent.iterdir() if p.name != d.name)


KILL_ON_SECOND_WRITE = """
import os, signal, sys
import enasim.report.files as files
from enasim.cli import main
real, calls = files.atomic_write, []
def write(path, data):
    calls.append(path)
    if len(calls) == 2:  # summary.json is staged: die as a SIGKILL would, mid-set
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, data)
files.atomic_write = write
main(sys.argv[1:])
"""


def test_a_run_killed_mid_write_leaves_the_previous_set_and_no_leftovers(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "-o", str(out), "--quiet"]) == 0  # event engine: timeline, links
    before = _snapshot(out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", KILL_ON_SECOND_WRITE, "run", "--engine",
                           "analytical", "-o", str(out), "--quiet"], env=env)
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(out) == before  # not the new summary.json beside the old timeline
    assert _siblings(out)  # the killed run's staging directory
    assert main(["run", "--engine", "analytical", "-o", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["engine"] == "analytical"
    assert sorted(p.name for p in out.iterdir()) == ["components.csv", "layers.csv",
                                                     "summary.json"]
    assert _siblings(out) == []


def test_the_api_draws_plots_into_the_same_set(tmp_path, monkeypatch):
    out = tmp_path / "r"
    enasim.run(engine="analytical", out=out)
    before = _snapshot(out)
    import enasim.report.plots as plots

    def broken(_):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(plots, "figures", broken)
    with pytest.raises(RuntimeError):
        enasim.run(engine="analytical", out=out, seed=1, plots=True)
    assert _snapshot(out) == before and _siblings(out) == []
    monkeypatch.undo()
    enasim.run(engine="analytical", out=out, seed=1, plots=True)
    assert json.loads((out / "summary.json").read_text())["seed"] == 1
    assert (out / "plots" / "energy_breakdown.png").is_file() and _siblings(out) == []


def test_without_an_atomic_exchange_sets_are_swapped_by_two_renames(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "_exchange", lambda a, b: False)
    out = tmp_path / "set"
    for text in ("one", "two"):
        with fileio.result_set(out, ["a.txt"]) as stage:
            fileio.atomic_write(stage / "a.txt", text)
        assert (out / "a.txt").read_text() == text and _siblings(out) == []


def test_a_set_renamed_aside_by_a_killed_swap_is_put_back(tmp_path):
    out = tmp_path / "set"
    aside = tmp_path / f".set.old{DEAD_PID}.aside"
    aside.mkdir()
    (aside / "a.txt").write_text("previous")
    (tmp_path / f".set.new{DEAD_PID}.abcdefgh").mkdir()
    fileio.check_result_dir(out, ["a.txt"])
    assert (out / "a.txt").read_text() == "previous" and _siblings(out) == []


def test_atomic_write_removes_temp_files_of_killed_writers_only(tmp_path):
    dead = tmp_path / f".summary.json.{DEAD_PID}.abcdefgh"
    live = tmp_path / f".summary.json.{os.getpid()}.abcdefgh"  # a writer still at work
    mine = [tmp_path / ".summary.json.k2j3_x9a", tmp_path / ".summary.json.swp"]  # not ours
    for p in [dead, live, *mine]:
        p.write_text("partial")
    fileio.atomic_write(tmp_path / "summary.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, "summary.json", *(p.name for p in mine)])


def test_enasa_keeps_its_checkpoint_across_sets(tmp_path, capsys):
    out = tmp_path / "e"
    args = ["enasa", "run", "--generations", "1", "--population", "4", "--no-baselines",
            "--noc", "ideal", "-o", str(out), "--quiet"]
    assert main(args) == 0
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.json", "components.csv", "iterations.csv", "layers.csv", "links.csv",
        "noc.csv", "plots", "summary.json", "timeline.json"]
    assert _siblings(out) == []


DETERMINISTIC = ["models.json", "models_flash.json", "networks.csv", "report.json",
                 "plots/pred_vs_sim_area_mm2.png", "plots/pred_vs_sim_energy_uj.png",
                 "plots/pred_vs_sim_latency_ns.png"]


def test_flash_fit_reuses_only_identical_simulations_and_is_reproducible(tmp_path):
    from enasim.nas.flash.fit import fit_run

    def fit(seed: int, out: Path, hw: str = "flash_imc"):
        return fit_run(hw, 20, 6, seed, out, engine="analytical", noc=None, workers=1,
                       progress=False)

    fit(0, tmp_path / "a")
    fit(1, tmp_path / "a")  # same directory: seed 0's networks are stored as n0000, ...
    fit(1, tmp_path / "b")
    for name in DETERMINISTIC:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["seed"] == 1 and "sim_wall_s" not in report
    assert all("fit_ms" not in row for row in report["table7"] + report["table8"])
    timing = json.loads((tmp_path / "b" / "timing.json").read_text())
    assert timing["sim_wall_s"] > 0 and len(timing["table7"]) == len(report["table7"])
    other = tmp_path / "hw.yaml"
    other.write_text("extends: flash_imc\nadc: {bits: 5}\n")
    fit(1, tmp_path / "a", hw=str(other))  # another chip: its own simulations
    fit(1, tmp_path / "c", hw=str(other))
    for name in DETERMINISTIC:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "c" / name).read_bytes(), name
