"""Sizes, costs and seeds: work that would not finish or fit is refused up front, naming the
field and the estimate; every seed takes 0 <= seed < 2**32."""

from __future__ import annotations

import pytest

from enasim import sweep
from enasim.cli import main
from enasim.errors import ConfigError


def _fails(argv, capsys, *expected: str) -> str:
    """Run the CLI in-process: exit 2 and one stderr line containing `expected`."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("enasim: error: "), err
    for text in expected:
        assert text in err, err
    return err


SEED_COMMANDS = [["run", "--quiet"], ["infer", "--quiet"], ["noc"], ["enasa", "run"],
                 ["monas", "run"], ["flash", "fit"], ["flash", "search", "--models", "m.json"]]


@pytest.mark.parametrize("cmd", SEED_COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("seed", ["-1", "4294967296", "1.5", "nan"])
def test_every_seed_flag_takes_the_same_range(cmd, seed, capsys):
    _fails([*cmd, "--seed", seed], capsys, "field '--seed'", "0 <= seed < 2**32")


def test_argparse_errors_are_one_line(capsys):
    _fails(["noc", "--vcs", "many"], capsys, "field '--vcs'", "enasim noc --help")
    _fails(["trace", "export"], capsys, "-o/--out")


@pytest.mark.parametrize("argv, field, estimate", [
    (["--mesh", "2000x2000"], "--mesh", "118 GiB"),
    (["--vc-buf", "1000000000"], "--mesh", "1000000000 flits"),
    (["--link-delay", "100000000000"], "--mesh", "link delay 100000000000"),
    (["--measure-cycles", "1000000000000"], "--measure-cycles", "1.6e+13 router-cycles"),
    (["--warmup-cycles", "99999999999"], "--warmup-cycles", "router-cycles"),
    (["--latency-threshold", "nan"], "--latency-threshold", "finite"),
    (["--latency-threshold", "-5"], "--latency-threshold", "> 0"),
])
def test_noc_refuses_runs_that_would_not_fit_or_finish(argv, field, estimate, capsys):
    _fails(["noc", *argv], capsys, f"field '{field}'", estimate)


def test_noc_trace_cycles_are_bounded(tmp_path, capsys):
    far = tmp_path / "far.csv"
    far.write_text("cycle,src,dst,flits\n0,0,1,1\n9223372036854775000,0,3,2\n")
    _fails(["noc", "--trace", str(far)], capsys, "line 3: cycle", "<= 1099511627776")
    late = tmp_path / "late.csv"
    late.write_text("cycle,src,dst,flits\n0,0,1,1\n1000000000,0,3,2\n")
    _fails(["noc", "--mesh", "200x200", "--trace", str(late)], capsys, "field '--trace'",
           "4e+13 router-cycles")


def _spec(**changes):
    return {"hw": "flash_imc", "workloads": ["vgg8"], "engine": "analytical", **changes}


@pytest.mark.parametrize("changes, field, expected", [
    ({"repeats": 10**8}, "repeats", "<= 100000"),
    ({"seed": -1}, "seed", "0 <= seed < 2**32"),
    ({"seed": 2**32 - 2, "repeats": 3}, "seed", "seed + repeats <= 2**32"),
    ({"workloads": [{"sampler": "densenet_flash", "count": 10**9}]}, "workloads[0].count",
     "<= 100000"),
    ({"workloads": [{"sampler": "densenet_flash", "count": 2, "seed": 2**32}]},
     "workloads[0].seed", "0 <= seed"),
    ({"repeats": 1000, "axes": {"adc.bits": list(range(1, 17)),
                                "crossbar.cols": [2**k for k in range(1, 11)]}}, "", "160,000"),
])
def test_sweep_spec_bounds(changes, field, expected):
    with pytest.raises(ConfigError) as exc:
        sweep.spec_from_dict(_spec(**changes))
    assert exc.value.field == field
    assert expected in exc.value.message


@pytest.mark.parametrize("argv, field, expected", [
    (["monas", "run", "--max-blocks", "1000000"], "--max-blocks", "<= 64"),
    (["enasa", "run", "--group", "1000000"], "--group", "at most --population (50)"),
    (["infer", "--images", "100000000", "--quiet"], "--images", "6.16e+16 MACs"),
    (["run", "--activity", "measured", "--images", "100000000", "--quiet"], "--images",
     "3.07e+11 input values"),
])
def test_counts_that_would_not_finish_are_refused(argv, field, expected, capsys, tmp_path):
    _fails([*argv, "-o", str(tmp_path / "out")], capsys, f"field '{field}'", expected)
    assert not (tmp_path / "out").exists()


def _workload(tmp_path, shape, channels):
    path = tmp_path / "big.yaml"
    path.write_text(f"name: big\ninput: {list(shape)}\nlayers:\n  - {{name: c, op: conv2d, "
                    f"out_channels: {channels}, kernel: 3, padding: 1}}\n")
    return str(path)


def test_a_workload_too_large_to_map_is_refused_with_its_estimate(tmp_path, capsys):
    _fails(["map", "--workload", _workload(tmp_path, (10**9, 4, 4), 10**9)], capsys,
           "2.2e+15 crossbars", "4,194,304")


def test_the_event_engine_refuses_runs_of_too_many_steps(tmp_path, capsys):
    wl = _workload(tmp_path, (3, 100000, 100000), 16)
    _fails(["run", "--workload", wl, "-o", str(tmp_path / "o")], capsys, "6.25e+08 steps",
           "--engine analytical")


@pytest.mark.parametrize("argv, field, expected", [
    (["sweep", "example", "--workers", "100000"], "--workers", "<= 256"),
    (["flash", "fit", "--workers", "1000"], "--workers", "<= 256"),
    (["flash", "fit", "--train", "1000000"], "--train", "<= 100000"),
    (["flash", "fit", "--test", "0"], "--test", ">= 1"),
    (["flash", "search", "--models", "m.json", "--samples", "100000000"], "--samples",
     "<= 10000000"),
    (["enasa", "run", "--generations", "99999999"], "--generations", "<= 10000"),
    (["enasa", "run", "--population", "1000000"], "--population", "<= 100000"),
    (["enasa", "run", "--images", "1000000"], "--images", "<= 10000"),
    (["monas", "run", "--trials", "100000000"], "--trials", "<= 1000000"),
])
def test_count_flags_have_upper_bounds(argv, field, expected, capsys):
    _fails(argv, capsys, f"field '{field}'", expected)
