"""What a new user meets first: hwconfig `extends:` and `--set`, paths that must exist, the
Python API (`enasim.run`, `enasim.load_results`), what summary.json records, file modes and
closed pipes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from conftest import REPO

import enasim
from enasim.cli import main
from enasim.config import load
from enasim.config.loader import as_dict, config_hash
from enasim.errors import ConfigError

TINY = """name: tiny
input: [3, 8, 8]
layers:
  - {name: conv1, op: conv2d, out_channels: 8, kernel: 3, padding: 1}
  - {name: relu1, op: activation}
  - {name: conv2, op: conv2d, out_channels: 8, kernel: 3, padding: 1}
  - {name: fc, op: linear, out_features: 10}
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _with(base: str, **fields) -> dict:
    """as_dict of a bundled config with dotted fields replaced."""
    data = as_dict(load(base))
    for dotted, value in fields.items():
        *sections, name = dotted.split("__")
        node = data
        for s in sections:
            node = node[s]
        node[name] = value
    return data


# --- extends --------------------------------------------------------------------------------

def test_extends_takes_every_other_field_from_the_base(tmp_path):
    (tmp_path / "mine.yaml").write_text("extends: flash_imc\nadc: {bits: 5}\n")
    mine = load(tmp_path / "mine.yaml")
    assert as_dict(mine) == _with("flash_imc", name="mine", adc__bits=5)


def test_extends_chains_relative_to_each_file(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "chip.yaml").write_text(
        "extends: neurosim_v13\nname: chip\nnoc: {model: ideal}\n"
        "timing: {accounting: overlapped}\n")
    (tmp_path / "variant.yaml").write_text(
        "extends: base/chip.yaml\nexecution: {mode: pipelined}\n")
    v = load(tmp_path / "variant.yaml")
    assert as_dict(v) == _with("neurosim_v13", name="variant", noc__model="ideal",
                               timing__accounting="overlapped", execution__mode="pipelined")


def test_circular_extends_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="circular: a.yaml -> b.yaml -> a.yaml") as exc:
        load(tmp_path / "a.yaml")
    assert exc.value.field == "extends"


def test_a_partial_hwconfig_without_extends_is_refused(tmp_path):
    """No hidden defaults: a file that leaves fields out must name a base."""
    path = tmp_path / "partial.yaml"
    path.write_text("adc: {bits: 5}\n")
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.field == "technology" and "extends: flash_imc" in exc.value.message
    path.write_text((REPO / "hwconfigs" / "flash_imc.yaml").read_text()
                    .replace("  port_bits: 128", "", 1).replace("    port_bits: 128", "", 1))
    with pytest.raises(ConfigError, match="missing") as exc:
        load(path)
    assert exc.value.field == "tile.input_buffer.port_bits"


def test_bad_extends_values(tmp_path):
    path = tmp_path / "x.yaml"
    for text, expected in (("extends: [flash_imc]\n", "bundled hwconfig name or a file path"),
                           ("extends: nowhere/chip.yaml\n", "no such file"),
                           ("extends: chipp\n", "no bundled hwconfig 'chipp'")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=expected) as exc:
            load(path)
        assert exc.value.field == "extends" and str(path) in str(exc.value)


# --- --hw paths -------------------------------------------------------------------------------

def test_a_missing_path_is_never_replaced_by_the_bundled_file(tmp_path, capsys):
    """`--hw typo_dir/flash_imc.yaml` used to load the bundled flash_imc silently."""
    for cmd in (["config", "check", str(tmp_path / "typo_dir" / "flash_imc.yaml")],
                ["run", "--hw", "typo_dir/flash_imc.yaml", "--engine", "analytical"],
                ["map", "--hw", "typo_dir/flash_imc.yaml"]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert "no such file" in err and err.count("\n") == 1
    assert main(["config", "check", "flash_imcc"]) == 2
    assert "flash_imc, neurosim_v13" in capsys.readouterr().err


def test_a_local_file_wins_over_a_bundled_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flash_imc.yaml").write_text("extends: neurosim_v13\nname: local\n")
    assert main(["config", "check", "flash_imc.yaml"]) == 0
    assert "OK (local" in capsys.readouterr().out


# --- --set ------------------------------------------------------------------------------------

def test_set_on_every_command_that_loads_a_hwconfig(tmp_path, tiny, capsys):
    assert main(["config", "show", "flash_imc", "--set", "adc.bits=5",
                 "--set", "execution.mode=pipelined"]) == 0
    shown = capsys.readouterr().out
    assert "  bits: 5\n" in shown and "mode: pipelined" in shown
    want = config_hash(load("flash_imc", [("adc.bits", 5), ("execution.mode", "pipelined")]))
    assert want in shown
    assert main(["map", "--workload", str(tiny), "--set", "crossbar.rows=64",
                 "--set", "crossbar.rows_parallel=64"]) == 0
    assert "64x128 crossbars" in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["run", "--workload", str(tiny), "--set", "noc.model=ideal", "-o", str(out),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["noc_model"] == "ideal"
    assert summary["hwconfig"]["overrides"] == ["noc.model=ideal"]
    assert main(["infer", "--workload", str(tiny), "--set", "adc.range_mode=calibrated",
                 "-o", str(tmp_path / "inf"), "--quiet"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("item, field, expected", [
    ("adc.bitz=3", "adc.bitz", "did you mean 'bits'"),
    ("adc=3", "adc", "a section, not a value"),
    ("adc.bits.x=3", "adc.bits", "a value, not a section"),
    ("adc.bits=four", "adc.bits", "expected an integer"),
    ("adc.bits=0", "adc.bits", ">= 1"),
    ("adc.bits=[4]", "adc.bits", "a single value"),
    ("adc.bits", "", "SECTION.FIELD=VALUE"),
    ("=4", "", "SECTION.FIELD=VALUE"),
])
def test_set_errors_name_the_flag_and_the_field(capsys, item, field, expected):
    assert main(["config", "check", "flash_imc", "--set", item]) == 2
    err = capsys.readouterr().err
    assert err.startswith("enasim: error: --set: ") and expected in err
    assert (f"field '{field}'" in err) == bool(field)


def test_sweep_set_changes_the_base_of_every_point(tmp_path, tiny, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"hw: flash_imc\nengine: analytical\naxes: {{adc.bits: [4, 5]}}\n"
                    f"workloads: [{tiny.name}]\n")
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--workers", "1", "--quiet",
                 "--set", "crossbar.cols=64"]) == 0
    from enasim.sweep.store import Store

    with Store(tmp_path / "o", create=False) as store:
        rows = store.rows()
    hashes = {config_hash(load("flash_imc", [("crossbar.cols", 64), ("adc.bits", b)]))
              for b in (4, 5)}
    assert {r["config_hash"] for r in rows} == hashes
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o2"), "--set", "crossbar.colz=64"]) == 2
    assert "--set: field 'crossbar.colz'" in capsys.readouterr().err


# --- Python API -------------------------------------------------------------------------------

def test_api_run_equals_the_files_it_writes(tmp_path, tiny):
    fresh = enasim.run("flash_imc", tiny, overrides={"noc.model": "ideal"}, out=tmp_path / "r")
    back = enasim.load_results(tmp_path / "r")
    assert fresh.out_dir == back.out_dir == tmp_path / "r"
    for name in ("summary", "layers", "components", "noc", "links"):
        assert getattr(fresh, name) == getattr(back, name), name
    assert [row["name"] for row in back.layers] == ["conv1", "conv2", "fc"]
    assert sum(row["latency_cycles"] for row in back.layers) <= back.summary["latency_cycles"]
    assert back.summary["hwconfig"]["resolved"] == as_dict(
        load("flash_imc", [("noc.model", "ideal")]))


def test_api_without_out_writes_nothing(tmp_path, tiny, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = enasim.run("flash_imc", tiny, engine="analytical")
    assert r.out_dir is None and r.noc is None and list(tmp_path.iterdir()) == [tiny]
    assert r.summary["activity"] == {"mode": "assumed", "input_bit_density": 0.3}
    assert r.summary["latency_cycles"] == r.stats.latency_cycles


def test_load_results_of_a_directory_that_is_not_one(tmp_path):
    with pytest.raises(ConfigError, match="not a results directory"):
        enasim.load_results(tmp_path)
    (tmp_path / "summary.json").write_text("{")
    with pytest.raises(ConfigError, match="malformed JSON"):
        enasim.load_results(tmp_path)


def test_api_checks_the_seed(tiny):
    with pytest.raises(ConfigError, match="--seed"):
        enasim.run("flash_imc", tiny, engine="analytical", seed=-1)


def test_measured_activity_is_recorded(tmp_path, tiny):
    r = enasim.run("flash_imc", tiny, engine="analytical", activity="measured", images=2)
    assert r.summary["activity"] == {"mode": "measured", "weights": "random",
                                     "inputs": "random", "images": 2}


@pytest.mark.parametrize("flags, flag", [
    (["--engine", "analytical", "--noc", "process"], "--noc"),
    (["--engine", "analytical", "--trace-ces"], "--trace-ces"),
])
def test_flags_that_would_do_nothing_are_refused(tmp_path, capsys, flags, flag):
    assert main(["run", "-o", str(tmp_path / "o"), *flags]) == 2
    assert f"field '{flag}'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --- files and pipes --------------------------------------------------------------------------

def test_result_files_follow_the_umask(tmp_path, tiny):
    old = os.umask(0o022)
    try:
        enasim.run("flash_imc", tiny, engine="analytical", out=tmp_path / "r")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "r").iterdir()}
    assert modes and set(modes.values()) == {0o644}, modes


def test_a_closed_pipe_ends_quietly():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    shown = subprocess.run(f"{sys.executable} -m enasim.cli workload show resnet18 | head -1",
                           shell=True, capture_output=True, text=True, env=env, timeout=120,
                           executable="/bin/bash")
    assert shown.stdout.startswith("#") and shown.stdout.count("\n") == 1
    assert shown.stderr == ""


# --- review fixes ----------------------------------------------------------------------------

def test_an_empty_section_keeps_the_base(tmp_path):
    (tmp_path / "c.yaml").write_text("extends: flash_imc\nadc:\n  # bits: 5\n")
    assert load(tmp_path / "c.yaml").adc == load("flash_imc").adc


def test_errors_say_which_files_and_sets_were_combined(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text("extends: flash_imc\nadc: {bits: 99}\n")
    (tmp_path / "kid.yaml").write_text("extends: base.yaml\n")
    assert main(["config", "check", str(tmp_path / "kid.yaml")]) == 2
    assert "(extends: kid.yaml -> base.yaml -> flash_imc.yaml): field 'adc.bits'" in (
        capsys.readouterr().err)
    assert main(["config", "check", "flash_imc", "--set", "crossbar.cols=4"]) == 2
    err = capsys.readouterr().err
    assert "field 'adc.cols_per_adc'" in err and "(with --set crossbar.cols=4)" in err


def test_bundled_names_with_yml(capsys):
    assert main(["config", "check", "flash_imc.yml"]) == 0
    assert "flash_imc.yaml: OK" in capsys.readouterr().out


def test_set_into_a_section_that_the_file_gives_as_a_value(tmp_path):
    (tmp_path / "s.yaml").write_text("extends: flash_imc\nadc: 5\n")
    with pytest.raises(ConfigError, match="expected a mapping") as exc:
        load(tmp_path / "s.yaml", [("adc.bits", 4)])
    assert exc.value.field == "adc"


def test_api_takes_set_strings_and_refuses_progress_without_the_event_engine(tiny):
    r = enasim.run("flash_imc", tiny, engine="analytical", overrides=["adc.bits=5"])
    assert r.summary["hwconfig"]["overrides"] == ["adc.bits=5"]
    with pytest.raises(ConfigError, match="progress"):
        enasim.run("flash_imc", tiny, engine="analytical", progress=lambda done, total: None)


def test_load_results_refuses_an_incomplete_or_broken_directory(tmp_path, tiny):
    enasim.run("flash_imc", tiny, overrides={"noc.model": "ideal"}, out=tmp_path / "r")
    (tmp_path / "r" / "links.csv").unlink()
    with pytest.raises(ConfigError, match="links.csv.*incomplete"):
        enasim.load_results(tmp_path / "r")
    (tmp_path / "r" / "summary.json").write_text('{"engine": NaN}')
    with pytest.raises(ConfigError, match="summary.json"):
        enasim.load_results(tmp_path / "r")


def test_a_symlinked_results_directory_keeps_its_link(tmp_path, tiny):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    enasim.run("flash_imc", tiny, engine="analytical", out=tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "summary.json").is_file()


def test_a_users_hidden_files_beside_the_output_are_left_alone(tmp_path, tiny):
    keep = [tmp_path / ".r.backup", tmp_path / ".r.old", tmp_path / ".r.swp"]
    for path in keep:
        path.write_text("mine")
    enasim.run("flash_imc", tiny, engine="analytical", out=tmp_path / "r")
    enasim.run("flash_imc", tiny, engine="analytical", out=tmp_path / "r")
    assert all(path.read_text() == "mine" for path in keep)


def test_sweep_set_on_an_axis_is_refused(tmp_path, tiny, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"hw: flash_imc\nengine: analytical\naxes: {{adc.bits: [4, 5]}}\n"
                    f"workloads: [{tiny.name}]\n")
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--set", "adc.bits=6"]) == 2
    assert "--set: field 'adc.bits': is an axis" in capsys.readouterr().err
