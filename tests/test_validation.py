"""`enasim validate`: its checks' semantics, the groups that run fast, the command's exit codes,
and NeuroSim network files as workloads."""

from __future__ import annotations

import math
import subprocess

import pytest
from conftest import reference_file

from enasim.cli import main
from enasim.errors import ConfigError
from enasim.validation import GROUPS, Check, booksim, markdown, nas, neurosim, table_rows
from enasim.workload import load_workload
from enasim.workload.neurosim_csv import load_neurosim_csv


def test_check_semantics():
    assert Check("s", "q", 100.0, 109.0, 0.10).passed
    assert not Check("s", "q", 100.0, 111.0, 0.10).passed
    assert Check("s", "q", 100.0, 111.0, 0.10).error == pytest.approx(0.11)
    assert not Check("s", "q", 100.0, math.nan, 0.10).passed  # a failed simulation fails
    assert Check("s", "q", "1, 2", "1, 2", 0.0).passed
    assert not Check("s", "q", "1, 2", "1, 3", 0.0).passed
    assert Check("s", "q", 0.0, 0.0, 0.0).passed and not Check("s", "q", 0.0, 1.0, 0.0).passed
    info = Check("s", "q", 1.0, 5.0, None)
    assert info.passed is None and table_rows([info])[0][-2:] == ("info", "-")
    assert table_rows([Check("s", "q", 2.0, 2.5, 0.1)])[0][4:] == ("+25.00 %", "±10 %", "NO")


def test_nas_shapes_all_pass():
    checks = list(nas.checks())
    assert len(checks) >= 10 and all(c.passed for c in checks)


def test_booksim_zero_load_and_trace_a_are_exact():
    checks = [*booksim.zero_load(), *booksim.trace_a()]
    assert len(checks) == 7
    for c in checks:
        assert c.passed and c.tolerance == 0.0, c


def test_every_neurosim_reference_run_has_a_configuration():
    runs = neurosim.reference_runs()
    assert "vgg8_default" in runs
    assert {f"ns13_{r}" for r in runs} <= set(neurosim.RUNS)


def test_neurosim_counting_rules_exact():
    checks = {c.quantity: c for c in neurosim.run_checks("ns13_vgg8_default")}
    for q in ("tiles per layer", "speed-up per layer", "ADC cycles per layer"):
        assert checks[q].passed and checks[q].tolerance == 0.0


def test_validate_exit_codes_and_brief_markdown(monkeypatch, capsys):
    from enasim import validation

    monkeypatch.setitem(GROUPS, "nas", lambda: [Check("a", "ok", 1.0, 1.0, 0.0, headline=True),
                                                Check("a", "detail", 1.0, 1.0, 0.0)])
    monkeypatch.setattr(validation, "run_checks", _only_patched)
    assert main(["validate", "--only", "nas", "--brief", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("| source | quantity |") and "detail" not in out
    monkeypatch.setitem(GROUPS, "nas", lambda: [Check("a", "bad", 1.0, 2.0, 0.1)])
    assert main(["validate", "--only", "nas"]) == 1
    assert "0 of 1 checks passed; failed: a: bad" in capsys.readouterr().out


def _only_patched(only=(), progress=None):
    return [c for name in only for c in GROUPS[name]()]


def test_group_names_are_the_registry():
    from enasim.validation import ORDER, booksim, nas, neurosim  # noqa: F401  (registers them)

    assert set(GROUPS) == set(ORDER)


def test_markdown_table_shape():
    text = markdown([Check("s", "q", 1.0, 1.0, 0.0)])
    assert text.splitlines()[1] == "|---|---|---|---|---|---|---|"


def test_neurosim_network_file_is_the_zoo_vgg8(tmp_path):
    rows = ["32,32,3,3,3,128,0,1", "32,32,128,3,3,128,1,1", "16,16,128,3,3,256,0,1",
            "16,16,256,3,3,256,1,1", "8,8,256,3,3,512,0,1", "8,8,512,3,3,512,1,1",
            "1,1,8192,1,1,1024,0,1", "1,1,1024,1,1,10,0,1"]  # NeuroSim's NetWork_VGG8.csv
    path = tmp_path / "NetWork_VGG8.csv"
    path.write_text("\n".join(rows) + "\n")
    net, zoo = load_workload(path), load_workload("vgg8")
    assert net.name == "vgg8" and (net.macs, net.params) == (zoo.macs, zoo.params)
    assert [n.out_shape for n in net.weight_layers] == [n.out_shape for n in zoo.weight_layers]
    assert [n.kind for n in net.nodes] == [n.kind for n in zoo.nodes]


def test_neurosim_cnn6_reference_network_chains():
    """The CNN6 file NeuroSim ran (enasim/reference/cim) as an enasim network."""
    net = load_neurosim_csv(reference_file("cim", "NetWork_CNN6.csv"))
    assert [n.out_shape for n in net.weight_layers] == [
        (64, 32, 32), (64, 32, 32), (128, 16, 16), (128, 16, 16), (256, 8, 8), (10, 1, 1)]
    assert [n.kind for n in net.nodes].count("pool") == 3


@pytest.mark.parametrize(("text", "field"), [
    ("32,32,3,3,3\n", "row 1"),
    ("32,32,3,3,3,16,2,1\n", "row 1"),
    ("32,32,3,3,3,16,0,1\n16,16,16,3,3,16,0,1\n", "row 2"),
    ("4,4,3,3,3,16,0,1\n1,1,100,1,1,10,0,1\n", "row 2"),
    ("", ""),
])
def test_bad_neurosim_network_file(tmp_path, text, field):
    path = tmp_path / "NetWork_bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_neurosim_csv(path)
    assert err.value.field == field


def test_bad_network_file_exits_2(tmp_path):
    path = tmp_path / "NetWork_bad.csv"
    path.write_text("a,b\n")
    proc = subprocess.run(["enasim", "run", "--workload", str(path), "--engine", "analytical"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and "row 1" in proc.stderr
