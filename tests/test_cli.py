"""`enasim` end to end: run, map, config, workload; files and determinism."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import REPO, ZOO_GROUPED

from enasim.cli import main
from enasim.config import config_hash, load


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["run", "-o", str(out), "--quiet"]) == 0
    return out


def test_run_writes_the_contracted_fields(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("area_mm2", "latency_cycles", "latency_ns", "energy_uj",
                "energy_uj_by_component", "tops_per_w", "enasim_version", "seed"):
        assert key in summary
    assert summary["hwconfig"]["hash"] == config_hash(load(REPO / "hwconfigs/flash_imc.yaml"))
    assert summary["workload"]["name"] == "vgg8"
    assert summary["energy_uj"] == pytest.approx(sum(summary["energy_uj_by_component"].values()))
    assert summary["latency_ns"] == pytest.approx(summary["latency_cycles"]
                                                  * summary["clock_period_ns"])
    with (run_dir / "layers.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    for col in ("layer", "name", "tiles", "crossbars", "speedup", "adc_cycles",
                "latency_cycles", "energy_pj"):
        assert col in rows[0]
    assert sum(int(r["latency_cycles"]) for r in rows) == summary["latency_cycles"]
    with (run_dir / "components.csv").open() as fh:
        comps = list(csv.DictReader(fh))
    assert sum(float(c["energy_pj"]) for c in comps) / 1e6 == pytest.approx(summary["energy_uj"])
    assert sum(float(c["area_um2"]) for c in comps) / 1e6 == pytest.approx(summary["area_mm2"])


def test_run_is_byte_identical(run_dir, tmp_path):
    assert main(["run", "-o", str(tmp_path), "--quiet"]) == 0
    for name in ("summary.json", "layers.csv", "components.csv"):
        assert (tmp_path / name).read_bytes() == (run_dir / name).read_bytes()


def test_run_prints_table_and_totals(tmp_path, capsys):
    assert main(["run", "--hw", "neurosim_v13", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in ("conv1", "fc8", "area", "mm^2", "latency", "energy", "uJ", "TOPS/W"):
        assert text in out


def test_config_show_round_trips(tmp_path, capsys):
    for name in ("flash_imc", "neurosim_v13"):
        assert main(["config", "show", str(REPO / "hwconfigs" / f"{name}.yaml")]) == 0
        shown = tmp_path / f"{name}.yaml"
        shown.write_text(capsys.readouterr().out)
        assert config_hash(load(shown)) == config_hash(load(REPO / "hwconfigs" / f"{name}.yaml"))


def test_config_check_ok(capsys):
    assert main(["config", "check", str(REPO / "hwconfigs" / "neurosim_v13.yaml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_map_prints_tiles(capsys):
    assert main(["map", "--hw", "neurosim_v13", "--workload", "vgg8"]) == 0
    out = capsys.readouterr().out
    assert "47 tiles, 4048 crossbars on a 7x7 mesh" in out


def test_workload_show(capsys):
    assert main(["workload", "show", "vgg8"]) == 0
    assert "615,917,568 MACs" in capsys.readouterr().out


def test_every_bundled_hwconfig_runs_every_zoo_workload(tmp_path):
    from enasim.workload import zoo_names

    for hw in ("flash_imc", "neurosim_v13"):
        for wl in zoo_names():
            if hw == "neurosim_v13" and wl == "densenet_flash":
                continue  # NeuroSim's floorplan needs wider layers (C_out x 4 >= 256)
            if hw == "neurosim_v13" and wl in ZOO_GROUPED:  # no grouped convs in NeuroSim
                assert main(["run", "--hw", hw, "--workload", wl, "-o", str(tmp_path / wl),
                             "--quiet"]) == 2
                continue
            assert main(["run", "--hw", hw, "--workload", wl, "-o", str(tmp_path / wl),
                         "--noc", "ideal", "--quiet"]
                        + (["--accounting", "overlapped"] if hw == "neurosim_v13" else [])) == 0
            if hw == "neurosim_v13":  # its own accounting, over NeuroSim's H-tree
                assert main(["run", "--hw", hw, "--workload", wl, "-o",
                             str(tmp_path / f"{wl}-ns"), "--quiet"]) == 0


def test_run_default_engine_is_sim_and_writes_a_timeline(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["engine"] == "sim"
    trace = json.loads((run_dir / "timeline.json").read_text())
    assert trace["displayTimeUnit"] == "ns" and trace["traceEvents"]


def test_analytical_and_sim_agree_through_the_cli(tmp_path):
    assert main(["run", "--engine", "analytical", "-o", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["run", "--noc", "ideal", "-o", str(tmp_path / "s"), "--quiet"]) == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert a["latency_cycles"] == s["latency_cycles"]
    assert a["energy_uj"] == pytest.approx(s["energy_uj"])
    assert not (tmp_path / "a" / "timeline.json").exists()


def test_plots_are_written_and_redrawn(tmp_path, capsys):
    assert main(["run", "--plots", "--trace-ces", "-o", str(tmp_path), "--quiet"]) == 0
    names = {"latency_breakdown.png", "energy_per_layer.png", "energy_breakdown.png",
             "crossbar_utilisation.png", "link_utilisation.png"}
    assert {p.name for p in (tmp_path / "plots").iterdir()} == names
    for name in names:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "plots" / "energy_breakdown.png").unlink()
    assert main(["plot", str(tmp_path)]) == 0
    assert (tmp_path / "plots" / "energy_breakdown.png").is_file()


def test_plot_of_a_directory_without_results_is_an_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a results directory" in capsys.readouterr().err


def test_pipelined_needs_the_event_engine(tmp_path, capsys):
    cfg = tmp_path / "pipe.yaml"
    cfg.write_text("extends: flash_imc\nexecution: {mode: pipelined}\n")
    assert main(["run", "--hw", str(cfg), "--engine", "analytical", "-o", str(tmp_path / "o")]) == 2
    assert "layer_by_layer" in capsys.readouterr().err
    assert main(["run", "--hw", str(cfg), "-o", str(tmp_path / "o"), "--quiet"]) == 0
