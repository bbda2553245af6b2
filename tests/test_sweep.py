"""Sweeps: grid expansion, identical tables on 1 / 2 workers and Dask, SIGKILL and resume,
failed points, spec errors, export and plot."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, kill_cli_mid_run

from enasim import sweep
from enasim.cli import main
from enasim.config import DEFAULT_HW
from enasim.errors import EnasimError
from enasim.nas.spaces.densenet_flash import SAMPLE_DEPTH, SAMPLE_WM, sample
from enasim.sweep import backends

TINY = {"name": "tiny", "input": [3, 32, 32], "layers": [
    {"name": "conv1", "op": "conv2d", "out_channels": 16, "kernel": 3, "padding": 1},
    {"name": "relu1", "op": "activation"},
    {"name": "conv2", "op": "conv2d", "out_channels": 16, "kernel": 3, "padding": 1},
    {"name": "sum", "op": "add", "inputs": ["conv1", "conv2"]},
    {"name": "pool", "op": "pool", "mode": "max", "kernel": 2},
    {"name": "fc", "op": "linear", "out_features": 10, "bias": True}]}
# 4 x 3 configs x 2 workloads = 24 points on the event engine over flash_imc's cycle-level
# mesh, about 0.2 s each.
GRID = {"name": "grid", "hw": "hw.yaml",
        "axes": {"adc.bits": [3, 4, 5, 6], "crossbar.cols": [64, 128, 256]},
        "workloads": ["tiny.yaml", "vgg8"], "engine": "sim"}
VOLATILE = ("wall_s", "finished_at")  # differ between runs of the same point


def write_spec(tmp_path, spec: dict, name: str = "spec.yaml"):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "hw.yaml").write_text(DEFAULT_HW.read_text())
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def table(out) -> list[dict]:
    with sweep.Store(out, create=False) as store:
        return [{k: v for k, v in row.items() if k not in VOLATILE} for row in store.rows()]


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """The 24-point grid run on one worker (in-process): (spec path, out dir, result)."""
    d = tmp_path_factory.mktemp("grid")
    spec = write_spec(d, GRID)
    result = sweep.run(spec, workers=1, out=d / "out1", progress=False)
    return spec, d / "out1", result


# --- grid expansion ---------------------------------------------------------------------------

def test_grid_expands_in_spec_order_with_stable_keys(tmp_path):
    spec = sweep.load_spec(write_spec(tmp_path, {
        **GRID, "axes": {"adc.bits": [3, 4], "crossbar.cols": [64, 128]},
        "workloads": ["vgg8", {"sampler": "densenet_flash", "count": 2, "seed": 7}],
        "repeats": 2, "seed": 10}))
    points = sweep.expand(spec)
    assert len(points) == 2 * 2 * 3 * 2
    assert [dict(p.overrides) for p in points[:12:6]] == [{"adc.bits": 3, "crossbar.cols": 64},
                                                          {"adc.bits": 3, "crossbar.cols": 128}]
    assert [(p.workload.name, p.repeat, p.seed) for p in points[:6]] == [
        ("vgg8", 0, 10), ("vgg8", 1, 11), ("densenet_flash-s7-0", 0, 10),
        ("densenet_flash-s7-0", 1, 11), ("densenet_flash-s7-1", 0, 10),
        ("densenet_flash-s7-1", 1, 11)]
    assert [p.index for p in points] == list(range(24))
    assert len({p.key for p in points}) == 24
    assert [p.key for p in sweep.expand(sweep.load_spec(tmp_path / "spec.yaml"))] == \
        [p.key for p in points]
    assert all(p.hw.adc.bits == dict(p.overrides)["adc.bits"] for p in points)
    assert len({p.config_hash for p in points}) == 4


def test_adding_axis_values_keeps_the_keys_of_existing_points(tmp_path):
    write_spec(tmp_path, GRID)
    small = sweep.spec_from_dict({**GRID, "axes": {"adc.bits": [4, 5]}}, base_dir=tmp_path)
    big = sweep.spec_from_dict({**GRID, "axes": {"adc.bits": [3, 4, 5, 6]}}, base_dir=tmp_path)
    base = sweep.spec_from_dict({**GRID, "axes": {}}, base_dir=tmp_path)
    keys = {p.key for p in sweep.expand(big)}
    assert {p.key for p in sweep.expand(small)} <= keys
    # The base config already has 4-bit ADCs: same config, same key, whatever its spelling.
    assert {p.key for p in sweep.expand(base)} <= keys


def test_sampler_is_seeded_and_stays_in_flash_ranges():
    a = [sample(random.Random(3)) for _ in range(2)]
    assert a[0] == a[1]
    rng = random.Random(5)
    specs = [sample(rng) for _ in range(50)]
    assert len({s.label() for s in specs}) == 50
    for s in specs:
        assert SAMPLE_WM[0] <= s.wm <= SAMPLE_WM[1]
        assert all(SAMPLE_DEPTH[0] <= d <= SAMPLE_DEPTH[1] for d in s.depths)
        assert all(0 <= t <= (d - 2) * w for t, d, w in zip(s.tcs, s.depths, s.widths,
                                                          strict=True))


# --- one table whatever runs it -----------------------------------------------------------------

def test_grid_run_stores_every_point_with_totals(grid_run):
    _, out, result = grid_run
    assert (result.total, result.skipped, result.done, result.failed) == (24, 0, 24, 0)
    rows = table(out)
    assert len(rows) == 24 and [r["point"] for r in rows] == list(range(24))
    for r in rows:
        assert r["status"] == "done" and r["error"] is None and r["attempt"] == 1
        assert r["area_mm2"] > 0 and r["latency_cycles"] > 0 and r["energy_uj"] > 0
        assert r["latency_ns"] == pytest.approx(r["latency_cycles"])  # 1 GHz clock
        assert 0 < r["utilization"] <= 1 and r["tops_per_w"] > 0
    assert {r["workload"] for r in rows} == {"tiny", "vgg8"}
    # More ADC bits cost energy on the same array and network.
    vgg = {(r["adc.bits"], r["crossbar.cols"]): r["energy_uj"] for r in rows
           if r["workload"] == "vgg8"}
    assert vgg[(3, 128)] < vgg[(4, 128)] < vgg[(5, 128)] < vgg[(6, 128)]


def test_the_run_totals_equal_enasim_run(grid_run, tmp_path):
    spec, out, _ = grid_run
    row = next(r for r in table(out) if r["workload"] == "vgg8" and r["adc.bits"] == 4
               and r["crossbar.cols"] == 128)
    assert main(["run", "--hw", str(spec.parent / "hw.yaml"), "-o", str(tmp_path),
                 "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for col in ("area_mm2", "latency_cycles", "latency_ns", "energy_uj", "tops_per_w",
                "utilization"):
        assert row[col] == summary[col]
    assert row["config_hash"] == summary["hwconfig"]["hash"]


def test_two_workers_give_the_same_table(grid_run, tmp_path):
    spec, out1, _ = grid_run
    result = sweep.run(spec, workers=2, out=tmp_path / "out2", progress=False)
    assert (result.done, result.failed) == (24, 0)
    assert table(tmp_path / "out2") == table(out1)


def test_dask_backend_gives_the_same_table(grid_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    spec, out1, _ = grid_run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = sweep.run(spec, backend="dask", scheduler=cluster.scheduler_address,
                           out=tmp_path / "dask", progress=False)
    assert (result.done, result.failed) == (24, 0)
    assert table(tmp_path / "dask") == table(out1)


def test_dask_local_scheduler_runs_a_cluster_for_the_sweep_and_closes_it(grid_run, tmp_path,
                                                                          capsys):
    pytest.importorskip("distributed", reason="dask.distributed not installed (enasim[dask])")
    import psutil  # a dependency of distributed

    spec, out1, _ = grid_run
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    assert main(["sweep", str(spec), "-o", str(tmp_path / "dask"), "--backend", "dask",
                 "--scheduler", "local", "--workers", "2", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "dask")
    assert table(tmp_path / "dask") == table(out1)
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


# --- resume -----------------------------------------------------------------------------------

def _done_rows(store_file) -> dict[str, tuple]:
    try:
        with sqlite3.connect(store_file) as conn:
            return {k: (f, a) for k, f, a in conn.execute(
                "SELECT key, finished_at, attempt FROM results WHERE status = 'done'")}
    except sqlite3.OperationalError:  # not created yet
        return {}


def test_sigkill_mid_sweep_then_rerun_loses_and_recomputes_nothing(grid_run, tmp_path, capsys):
    spec, out1, _ = grid_run
    out = tmp_path / "killed"
    kill_cli_mid_run(["sweep", str(spec), "-o", str(out), "--workers", "2", "--quiet"],
                     lambda: len(_done_rows(out / "results.sqlite")), 4, "sweep")
    before = _done_rows(out / "results.sqlite")
    assert 4 <= len(before) < 24, "the sweep was not killed mid-way"

    assert main(["sweep", str(spec), "-o", str(out), "--workers", "2", "--quiet"]) == 0
    capsys.readouterr()
    after = _done_rows(out / "results.sqlite")
    assert len(after) == 24
    assert {k: after[k] for k in before} == before  # same finish time, attempt 1: not rerun
    assert all(attempt == 1 for _, attempt in after.values())
    assert table(out) == table(out1)  # complete, no duplicate, same values
    with sqlite3.connect(out / "results.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM results").fetchone() \
            == (24, 24)


def test_rerun_skips_everything_and_no_resume_recomputes(grid_run, tmp_path):
    spec, _, _ = grid_run
    spec_small = sweep.spec_from_dict({**GRID, "axes": {"adc.bits": [4, 5]}},
                                      base_dir=spec.parent)
    out = tmp_path / "small"
    assert sweep.run(spec_small, workers=1, out=out, progress=False).done == 4
    again = sweep.run(spec_small, workers=1, out=out, progress=False)
    assert (again.skipped, again.done, again.failed) == (4, 0, 0)
    fresh = sweep.run(spec_small, workers=1, out=out, resume=False, progress=False)
    assert (fresh.skipped, fresh.done) == (0, 4)
    assert {r["attempt"] for r in table(out)} == {2}


# --- failed points ----------------------------------------------------------------------------

def test_invalid_override_fails_its_points_and_the_rest_complete(tmp_path):
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(
        {"name": "broken", "input": [3, 8, 8], "layers": [{"name": "x", "op": "conv3d"}]}))
    spec = write_spec(tmp_path, {**GRID, "axes": {"adc.bits": [4, 17]},
                                 "workloads": ["tiny.yaml", "broken.yaml"]})
    result = sweep.run(spec, workers=2, out=tmp_path / "out", progress=False)
    assert (result.total, result.done, result.failed) == (4, 1, 3)
    rows = {(r["adc.bits"], r["workload"]): r for r in table(tmp_path / "out")}
    assert rows[(4, "tiny")]["status"] == "done"
    bad = rows[(17, "tiny")]
    assert bad["status"] == "failed" and bad["config_hash"] is None
    assert bad["error"] == f"{spec}: field 'adc.bits': expected a value <= 16, got 17"
    assert bad["energy_uj"] is None
    # A workload that does not load fails in the worker, with the loader's message.
    assert rows[(4, "broken")]["status"] == "failed"
    assert "broken.yaml" in rows[(4, "broken")]["error"]
    assert "conv3d" in rows[(4, "broken")]["error"]

    # Failed points are kept as they are on a rerun, and retried on request.
    again = sweep.run(spec, workers=1, out=tmp_path / "out", progress=False)
    assert (again.skipped, again.done, again.failed) == (4, 0, 0)
    retry = sweep.run(spec, workers=1, out=tmp_path / "out", retry_failed=True, progress=False)
    assert (retry.skipped, retry.failed) == (1, 3)
    attempts = {(r["adc.bits"], r["workload"]): r["attempt"] for r in table(tmp_path / "out")}
    assert attempts == {(4, "tiny"): 1, (4, "broken"): 2, (17, "tiny"): 2, (17, "broken"): 2}


def test_unknown_override_path_fails_each_point_with_a_hint(tmp_path, capsys):
    spec = write_spec(tmp_path, {**GRID, "axes": {"adc.bitz": [4]}, "workloads": ["tiny.yaml"]})
    assert main(["sweep", str(spec), "-o", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "0 done and 1 failed" in text
    (row,) = table(tmp_path / "out")
    assert row["status"] == "failed"
    assert "field 'axes.adc.bitz': unknown key (did you mean 'bits'?)" in row["error"]

    spec = write_spec(tmp_path, {**GRID, "axes": {"adc.bits.x": [1]}, "workloads": ["tiny.yaml"]})
    sweep.run(spec, workers=1, out=tmp_path / "out2", progress=False)
    (row,) = table(tmp_path / "out2")
    assert "'adc.bits' is a value, not a section" in row["error"]


# --- spec errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, expected", [
    ({"axis": {}}, "axis", "did you mean 'axes'"),
    ({"axes": {"adc.bits": []}}, "axes.adc.bits", "non-empty list"),
    ({"axes": {"adc.bits": 4}}, "axes.adc.bits", "non-empty list"),
    ({"axes": {"adc.bits": [4, 4]}}, "axes.adc.bits[1]", "duplicate value 4"),
    ({"axes": {"energy_uj": [1]}}, "axes.energy_uj", "result column"),
    ({"engine": "simm"}, "engine", "expected one of sim, analytical"),
    ({"repeats": 0}, "repeats", ">= 1"),
    ({"hw": "no_such_chip"}, "hw", "no bundled hwconfig 'no_such_chip'"),
    ({"workloads": []}, "workloads", "non-empty list"),
    ({"workloads": ["vgg9"]}, "workloads[0]", "did you mean 'vgg8'"),
    ({"workloads": ["missing.yaml"]}, "workloads[0]", "workload file not found"),
    ({"workloads": ["vgg8", "vgg8"]}, "workloads[1]", "already comes from workloads[0]"),
    ({"workloads": [{"sampler": "resnet", "count": 2}]}, "workloads[0].sampler",
     "expected one of densenet_flash"),
    ({"workloads": [{"sampler": "densenet_flash"}]}, "workloads[0].count",
     "required key missing"),
    ({"axes": {"adc.area_um2": [100, 100.0]}}, "axes", "give the same hwconfig"),
])
def test_bad_spec_names_file_and_field(tmp_path, change, field, expected):
    spec = write_spec(tmp_path, {**GRID, **change})
    with pytest.raises(EnasimError) as err:
        sweep.expand(sweep.load_spec(spec))
    assert str(err.value).startswith(f"{spec}: field '{field}': ")
    assert expected in str(err.value)


def test_bad_spec_and_bad_flags_exit_2(tmp_path, capsys):
    spec = write_spec(tmp_path, {**GRID, "engine": "simm"})
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o")]) == 2
    assert "field 'engine'" in capsys.readouterr().err
    spec = write_spec(tmp_path, GRID)
    assert main(["sweep", "run", str(spec), "--workers", "0"]) == 2
    assert "field '--workers'" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "applies to the dask backend" in capsys.readouterr().err
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--no-resume",
                 "--retry-failed"]) == 2
    assert "field '--retry-failed': applies when resuming" in capsys.readouterr().err
    assert main(["sweep", "plot", str(tmp_path / "nothing"), "--x", "a", "--y", "b"]) == 2
    assert "no sweep results here" in capsys.readouterr().err


def test_dask_backend_needs_a_scheduler_address_or_local(tmp_path, capsys):
    pytest.importorskip("distributed", reason="dask.distributed not installed (enasim[dask])")
    spec = write_spec(tmp_path, GRID)
    out = tmp_path / "o"
    assert main(["sweep", str(spec), "-o", str(out), "--backend", "dask"]) == 2
    err = capsys.readouterr().err
    assert "field '--scheduler': the dask backend needs the scheduler address" in err
    assert "or 'local'" in err
    assert main(["sweep", str(spec), "-o", str(out), "--backend", "dask", "--scheduler",
                 "tcp://127.0.0.1:8786", "--workers", "2"]) == 2
    assert "field '--workers': applies to the local backend and to --scheduler local" in \
        capsys.readouterr().err
    assert not out.exists()  # checked before the store is created


def test_dask_backend_without_dask_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    spec = write_spec(tmp_path, GRID)
    for extra in ([], ["--scheduler", "local"], ["--scheduler", "tcp://127.0.0.1:8786"]):
        assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--backend", "dask",
                     *extra]) == 2
        assert capsys.readouterr().err == "enasim: error: field '--backend': 'dask' needs " \
            "dask.distributed: pip install 'enasim[dask]'\n"
    assert not (tmp_path / "o").exists()


# --- export and plot --------------------------------------------------------------------------

def test_export_csv_holds_the_store(grid_run, tmp_path, capsys):
    _, out, _ = grid_run
    target = tmp_path / "t.csv"
    assert main(["sweep", "export", str(out), "--csv", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    with target.open() as fh:
        rows = list(csv.DictReader(fh))
    with sweep.Store(out, create=False) as store:
        stored = store.rows()
        assert list(rows[0]) == store.columns()
    assert list(rows[0])[:11] == ["key", "point", "status", "workload", "workload_source",
                                  "repeat", "seed", "engine", "config_hash", "adc.bits",
                                  "crossbar.cols"]
    assert len(rows) == 24
    for got, want in zip(rows, stored, strict=True):
        assert got["key"] == want["key"] and int(got["adc.bits"]) == want["adc.bits"]
        assert float(got["energy_uj"]) == want["energy_uj"]
        assert int(got["latency_cycles"]) == want["latency_cycles"] and got["error"] == ""
    assert (out / "results.csv").read_text() == target.read_text()


def test_export_parquet_round_trips(grid_run, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    _, out, _ = grid_run
    assert main(["sweep", "export", str(out), "--parquet", str(tmp_path / "t.parquet")]) == 0
    with sweep.Store(out, create=False) as store:
        assert pq.read_table(tmp_path / "t.parquet").to_pylist() == store.rows()


def test_plot_writes_a_png_and_names_bad_columns(grid_run, capsys):
    _, out, _ = grid_run
    assert main(["sweep", "plot", str(out), "--x", "adc.bits", "--y", "energy_uj",
                 "--hue", "workload"]) == 0
    path = capsys.readouterr().out.strip()
    assert path == str(out / "plots" / "energy_uj-vs-adc.bits-by-workload.png")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert main(["sweep", "plot", str(out), "--x", "adc.bitz", "--y", "energy_uj"]) == 2
    err = capsys.readouterr().err
    assert "field '--x': no column 'adc.bitz'" in err and "results.sqlite" in err


def test_bundled_example_spec_expands(tmp_path):
    spec = sweep.load_spec(REPO / "sweeps" / "example.yaml")
    points = sweep.expand(spec)
    assert len(points) == 4 * 3 * 5 and all(p.error is None for p in points)
    assert spec.engine == "analytical"


def test_bundled_spec_runs_by_name_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bundled = REPO / "enasim" / "sweeps" / "example.yaml"
    assert sweep.load_spec("example").source == str(bundled)
    assert sweep.load_spec("example.yaml").source == str(bundled)
    assert main(["sweep", "example", "--workers", "1", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == "results/sweep-example"
    assert len(table(tmp_path / "results" / "sweep-example")) == 60
    # A file of that name in the working directory comes first.
    write_spec(tmp_path, {**GRID, "name": "mine"}, "example.yaml")
    assert sweep.load_spec("example.yaml").name == "mine"


def test_spec_path_with_a_directory_is_never_replaced_by_a_bundled_spec(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.chdir(tmp_path)
    for given in ("sweeps/example.yaml", "./example", "nowhere/example"):
        assert main(["sweep", given, "-o", "o"]) == 2
        assert capsys.readouterr().err == f"enasim: error: {Path(given)}: cannot read file: " \
            "No such file or directory\n"
    assert main(["sweep", "exampel", "-o", "o"]) == 2
    assert "exampel: no such sweep spec file, and no bundled spec of that name (did you mean " \
        "'example'?); bundled: example" in capsys.readouterr().err
    # The base hwconfig: a bare name may be bundled, a path must exist beside the spec.
    spec = write_spec(tmp_path, {**GRID, "hw": "configs/flash_imc.yaml"})
    with pytest.raises(EnasimError, match="field 'hw': no such file: .*configs/flash_imc"):
        sweep.load_spec(spec)
    assert not (tmp_path / "o").exists()


def test_relative_paths_in_a_spec_are_relative_to_the_spec_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    write_spec(tmp_path / "sub", GRID)  # hw.yaml and tiny.yaml beside the spec
    monkeypatch.chdir(tmp_path)
    spec = sweep.load_spec("sub/spec.yaml")
    assert spec.hw == tmp_path / "sub" / "hw.yaml"
    assert spec.workloads[0].name_or_path == str(tmp_path / "sub" / "tiny.yaml")
    write_spec(tmp_path / "sub", {**GRID, "hw": "flash_imc"}, "bundled_hw.yaml")
    assert sweep.load_spec("sub/bundled_hw.yaml").hw == DEFAULT_HW


def _numba_threads(_task) -> int:
    import numba

    return numba.get_num_threads()


def test_sweep_workers_run_with_one_numba_thread():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread on this machine: nothing to limit")
    numba.set_num_threads(2)  # what a forked worker would inherit
    assert set(backends.local(_numba_threads, [0, 1, 2, 3], workers=2, on_crash=None)) == {1}
    assert numba.get_num_threads() == 2  # the parent's setting is left alone


def test_dask_workers_run_with_one_numba_thread():
    pytest.importorskip("distributed", reason="dask.distributed not installed (enasim[dask])")
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread on this machine: nothing to limit")
    assert set(backends.dask(_numba_threads, [0, 1, 2], "local", 2, None)) == {1}


def test_progress_bar_counts_done_failed_remaining(tmp_path, capsys):
    spec = write_spec(tmp_path, {**GRID, "axes": {"adc.bits": [4, 17]},
                                 "workloads": ["tiny.yaml"]})
    sweep.run(spec, workers=1, out=tmp_path / "out", progress=True)
    err = capsys.readouterr().err
    assert "0 done, 0 failed, 2 remaining, ETA -:--" in err
    assert err.rstrip().endswith("1 done, 1 failed, 0 remaining, ETA 0:00")
    assert "[" + "#" * 30 + "]" in err


_RUN_POINT = sweep.runner.run_point


def _dies_on_adc_bits_4(point):
    """A sweep worker that kills its own process on the points with adc.bits 4."""
    if dict(point.overrides)["adc.bits"] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return _RUN_POINT(point)


def test_a_killed_worker_fails_its_point_and_the_sweep_goes_on(tmp_path, monkeypatch, capsys):
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the patched worker function reaches the workers by fork")
    spec = write_spec(tmp_path, {**GRID, "engine": "analytical", "workloads": ["tiny.yaml"],
                                 "axes": {"adc.bits": [3, 4, 5, 6]}})
    monkeypatch.setattr(sweep.runner, "run_point", _dies_on_adc_bits_4)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "-o", str(out), "--workers", "2", "--quiet"]) == 0
    with open(out / "results.csv") as f:
        rows = {int(r["adc.bits"]): r for r in csv.DictReader(f)}
    assert sorted(rows) == [3, 4, 5, 6]
    assert rows[4]["status"] == "failed" and "worker crashed" in rows[4]["error"]
    assert all(rows[b]["status"] == "done" for b in (3, 5, 6))


def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path, capsys):
    import sqlite3

    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "results.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    for argv in (["sweep", "export", str(tmp_path / "db"), "--csv", str(tmp_path / "x.csv")],
                 ["sweep", "example", "-o", str(tmp_path / "db"), "--workers", "1"]):
        assert main(argv) == 2
        assert "not a sweep result store" in capsys.readouterr().err
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["t"]


def test_a_database_holding_only_a_view_is_refused(tmp_path, capsys):
    import sqlite3

    (tmp_path / "db").mkdir()
    with sqlite3.connect(tmp_path / "db" / "results.sqlite") as conn:
        conn.execute("CREATE VIEW v AS SELECT 1")
    assert main(["sweep", "export", str(tmp_path / "db"), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "not a sweep result store" in capsys.readouterr().err
