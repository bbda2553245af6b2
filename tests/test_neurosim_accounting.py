"""NeuroSim V1.3's accounting (`timing.accounting: neurosim`, `noc.model: htree`) against
NeuroSim's own per-layer breakdown of VGG8, its config rules, and the overlapped mode it
leaves unchanged."""

from __future__ import annotations

import json

import pytest
from conftest import read_reference_csv

from enasim import api
from enasim.analytical import run_analytical
from enasim.cli import main
from enasim.config import from_dict
from enasim.errors import ConfigError, EnasimError
from enasim.mapping import map_network
from enasim.sim import Simulator
from enasim.validation import neurosim


@pytest.fixture(scope="module")
def ns_stats(neurosim_vgg8_mapping):
    return run_analytical(neurosim_vgg8_mapping)


@pytest.mark.parametrize("part", ["adc", "accum", "buffer", "ic"])
def test_every_layer_component_matches_neurosim_cycles(ns_stats, neurosim_hw, part):
    """Each component's cycles, layer by layer, as NeuroSim prints them (to a cycle)."""
    ref = read_reference_csv("cim", "neurosim_v13_vgg8_default_layers.csv")
    for ls, r in zip(ns_stats.layers, ref, strict=True):
        want = float(r[f"{part}_latency_ns"]) / neurosim_hw.clock_period_ns
        assert ls.counts[f"neurosim_{part}_cycles"] == pytest.approx(want, abs=1.0), ls.name


def test_layer_latency_is_the_serial_sum(ns_stats):
    for ls in ns_stats.layers:
        parts = sum(ls.counts[f"neurosim_{k}_cycles"]
                    for k in ("adc", "accum", "buffer", "ic", "other"))
        assert ls.latency_cycles == pytest.approx(parts, abs=4)
    assert ns_stats.latency_cycles == sum(ls.latency_cycles for ls in ns_stats.layers)
    assert ns_stats.accounting == "neurosim" and ns_stats.noc_model == "htree"


def test_vgg8_default_run_within_tolerance_everywhere():
    """Chip latency, area and dynamic energy, and every graded layer, within 10 %."""
    checks = list(neurosim.run_checks("ns13_vgg8_default"))
    failed = [c for c in checks if c.passed is False]
    assert not failed, failed
    graded = [c for c in checks if c.passed]
    assert len(graded) >= 20


def test_both_engines_give_the_accounting(neurosim_vgg8_mapping, ns_stats):
    sim = Simulator(neurosim_vgg8_mapping).run()
    assert sim.engine == "sim" and sim.accounting == "neurosim"
    assert sim.latency_cycles == ns_stats.latency_cycles
    assert sim.energy_pj == pytest.approx(ns_stats.energy_pj, rel=1e-12)
    assert sum(sim.area_um2.values()) == sum(ns_stats.area_um2.values())


def test_h_tree_energy_and_area_are_charged(ns_stats):
    assert ns_stats.energy_by_component_pj()["noc"] > 0.15 * ns_stats.energy_pj
    ref = {r["metric"]: float(r["value"])
           for r in read_reference_csv("cim", "neurosim_v13_vgg8_default_summary.csv")}
    assert ns_stats.area_um2["noc"] == pytest.approx(ref["ic_area_um2"], rel=0.01)


def test_overlapped_mode_unchanged(vgg8):
    """--accounting overlapped gives the overlapped model's numbers: 148,077 cycles, the closed
    form's (and the engine's with an ideal NoC) before the accounting existed."""
    r = api.run("neurosim_v13", vgg8, engine="analytical", accounting="overlapped")
    assert r.stats.accounting == "overlapped" and r.stats.latency_cycles == 148_077
    r = api.run("neurosim_v13", vgg8, noc="ideal", accounting="overlapped")
    assert r.stats.latency_cycles == 148_077 and r.summary["accounting"] == "overlapped"


@pytest.mark.parametrize(("section", "field", "value"), [
    ("mapping", "scheme", "flash"), ("noc", "model", "compiled")])
def test_neurosim_accounting_needs_its_floorplan_and_htree(section, field, value):
    data = {"extends": "neurosim_v13", section: {field: value}}
    if field == "scheme":
        data.update(ce={"pes_per_ce": 4}, tile={"ces_per_tile": 4})
    with pytest.raises(ConfigError) as err:
        from_dict(data, "t.yaml")
    assert err.value.field == f"{section}.{field}"


def test_htree_needs_neurosim_accounting():
    with pytest.raises(ConfigError) as err:
        from_dict({"extends": "flash_imc", "noc": {"model": "htree"}}, "t.yaml")
    assert err.value.field == "noc.model"


def test_event_engine_refuses_a_mesh_under_neurosim_accounting(neurosim_vgg8_mapping):
    with pytest.raises(EnasimError, match="--accounting overlapped"):
        Simulator(neurosim_vgg8_mapping, noc_model="compiled")


@pytest.mark.parametrize(("argv", "message"), [
    (["--accounting", "overlapped"], "add --noc compiled, process or ideal"),
    (["--accounting", "neurosim", "--noc", "ideal"], "H-tree"),
    (["--noc", "compiled"], "--accounting overlapped"),
])
def test_cli_accounting_errors(tmp_path, capsys, argv, message):
    args = ["run", "--hw", "neurosim_v13", *argv, "-o", str(tmp_path / "r"), "--quiet"]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_summary_names_the_accounting(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--hw", "neurosim_v13", "-o", str(out)]) == 0
    assert "NeuroSim's serial accounting over its H-tree" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["accounting"], summary["noc_model"]) == ("neurosim", "htree")


def test_flash_chip_under_neurosim_accounting_is_refused_without_its_floorplan(vgg8):
    with pytest.raises(ConfigError, match="mapping.scheme"):
        api.run("flash_imc", vgg8, engine="analytical", accounting="neurosim")


def test_mapping_unchanged_by_accounting(vgg8, neurosim_hw):
    m = map_network(vgg8, neurosim_hw)
    assert [lm.tiles for lm in m.layers] == [1, 1, 2, 2, 4, 4, 32, 1]


def test_a_network_of_novel_mapping_layers_only(tmp_path):
    """No conventional-mapping tile: the tile buffers take the novel tiles' core counts."""
    path = tmp_path / "NetWork_one.csv"
    path.write_text("32,32,64,3,3,64,0,1\n")
    r = api.run("neurosim_v13", path, engine="analytical")
    assert [lm.tiling.style for lm in r.mapping.layers] == ["novel"]
    assert r.stats.latency_cycles > r.stats.layers[0].adc_cycles > 0
    assert r.summary["mesh"] is None and r.summary["noc_model"] == "htree"


def test_pipeline_accounting_reports_neurosims_period_and_throughput(vgg8):
    ref = {r["metric"]: float(r["value"])
           for r in read_reference_csv("cim", "neurosim_v13_vgg8_pipeline_summary.csv")}
    r = api.run("neurosim_v13", vgg8, engine="analytical",
                overrides={"execution.mode": "pipelined", "mapping.duplication": "balance"})
    s = r.summary
    assert s["period_cycles"] == s["latency_cycles"] == max(
        ls.latency_cycles for ls in r.stats.layers)
    assert s["first_image_latency_cycles"] == sum(ls.latency_cycles for ls in r.stats.layers)
    assert s["throughput_images_per_s"] == pytest.approx(ref["fps"], rel=1e-3)


def test_overlapped_accounting_with_other_edits(vgg8):
    """--accounting applies before the hwconfig's own rules are checked, so an edit that only
    the overlapped timing allows (pipelined without balance) goes through."""
    r = api.run("neurosim_v13", vgg8, noc="ideal", accounting="overlapped",
                overrides={"execution.mode": "pipelined"})
    assert r.summary["mode"] == "pipelined" and r.stats.accounting == "overlapped"


def test_several_images_are_refused_before_any_work(vgg8):
    with pytest.raises(ConfigError) as err:
        api.run("neurosim_v13", vgg8, engine="analytical", images=2)
    assert err.value.field == "--images"
