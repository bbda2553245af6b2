"""Workloads by name: supernet sub-nets (`fairnas:A`, `spos:<choices>`) and mobilenet_v2."""

from __future__ import annotations

import pytest
from conftest import ZOO_GROUPED, read_reference_csv
from test_enasa import FAIRNAS_MODELS

from enasim.cli import main
from enasim.errors import ConfigError
from enasim.nas.spaces.fairnas import FAIRNAS
from enasim.nas.spaces.spos import SPOS
from enasim.sweep.spec import load_spec
from enasim.workload import load_workload, zoo_names
from enasim.workload.ir import BatchNorm, Conv2d

# The SPOS authors' searched network (nas-workloads.md 2.1).
SPOS_SEARCHED = "21012020202300003233"


def _weight_layers(net):
    """Conv/FC layers with shapes (their inputs differ by the BN layers between them)."""
    return [(n.name, n.op, n.in_shapes, n.out_shape) for n in net.weight_layers]


@pytest.mark.parametrize("model", sorted(FAIRNAS_MODELS))
def test_fairnas_models_by_name_have_the_authors_macs_and_params(model):
    arch, macs, params = FAIRNAS_MODELS[model]
    net = load_workload(f"fairnas:{model}")
    assert (net.macs, net.params) == (macs, params)
    assert net.nodes == load_workload(f"fairnas:{arch}").nodes


@pytest.mark.parametrize(
    "row", read_reference_csv("nas", "spos_reference_archs.csv"), ids=lambda r: r["name"]
)
def test_spos_arch_by_name_is_the_built_subnet_with_its_batchnorms(row):
    arch = SPOS.check_arch(row["arch"])
    net, folded = load_workload(f"spos:{row['arch']}"), SPOS.build(arch)
    assert net.nodes == SPOS.build(arch, batchnorm=True).nodes
    assert _weight_layers(net) == _weight_layers(folded)
    assert net.macs == folded.macs == SPOS.macs(arch) == int(row["flops_macs"])
    # BN folded: conv/FC weights only; listed: plus 2 per BN channel, the stand-alone count.
    assert folded.params == int(row["params_conv_fc"])
    assert net.params == SPOS.params(arch) == int(row["params_total"])
    assert sum(isinstance(n.op, BatchNorm) for n in net.nodes) == sum(
        isinstance(n.op, Conv2d) for n in net.nodes
    )


def test_fairnas_batchnorm_changes_only_params():
    arch = FAIRNAS.check_arch(FAIRNAS_MODELS["B"][0])
    with_bn, folded = FAIRNAS.build(arch, batchnorm=True), FAIRNAS.build(arch)
    assert _weight_layers(with_bn) == _weight_layers(folded)
    assert with_bn.macs == folded.macs
    assert with_bn.params - folded.params == 2 * FAIRNAS.bn_channels(FAIRNAS, arch)


def test_mobilenet_v2_counts():
    """torchvision's mobilenet_v2: 3,504,872 parameters (conv + BN + FC with bias);
    300,774,272 MACs of conv and FC layers (BN, ReLU6, adds and pooling not counted)."""
    net = load_workload("mobilenet_v2")
    assert net.params == 3_504_872
    assert net.macs == 300_774_272
    convs = [n for n in net.nodes if isinstance(n.op, Conv2d)]
    depthwise = [n for n in convs if n.op.groups > 1]
    assert len(convs) == 52 and len(depthwise) == 17
    assert all(n.op.groups == n.in_shapes[0][0] == n.out_shape[0] for n in depthwise)
    assert sum(n.kind == "add" for n in net.nodes) == 10  # residuals: stride 1, same channels
    assert net.nodes[-1].out_shape == (1000, 1, 1)


def test_zoo_depthwise_set_is_exact():
    """conftest.ZOO_GROUPED (skipped or expected to be refused by zoo-wide run tests)."""
    grouped = {
        name
        for name in zoo_names()
        if any(getattr(n.op, "groups", 1) != 1 for n in load_workload(name).nodes)
    }
    assert grouped == ZOO_GROUPED


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("fairnas:Z", "fairnas:<19 digits 0-5>"),
        ("fairnas:404150055212211515", "fairnas:<19 digits 0-5>"),
        ("fairnas:4041500552122115156", "fairnas:<19 digits 0-5>"),
        ("spos:123", "spos:<20 digits 0-3>"),
        ("spos:21012020202300003234", "spos:<20 digits 0-3>"),
        ("spos:A", "spos:<20 digits 0-3>"),
        ("foo:1", "fairnas:A|B|C, fairnas:<19 digits 0-5>, spos:<20 digits 0-3>"),
    ],
)
def test_bad_subnet_names_are_one_line_config_errors(spec, expected, capsys):
    with pytest.raises(ConfigError, match="--workload") as exc:
        load_workload(spec)
    assert expected in str(exc.value)
    assert main(["workload", "show", spec]) == 2
    err = capsys.readouterr().err
    assert "--workload" in err and expected in err and len(err.strip().splitlines()) == 1


def test_unknown_name_lists_the_subnet_forms():
    with pytest.raises(ConfigError, match=r"--workload.*fairnas:A\|B\|C"):
        load_workload("fairnass")


def test_workload_show_prints_a_subnet(capsys):
    assert main(["workload", "show", "fairnas:A"]) == 0
    out = capsys.readouterr().out
    assert "388,122,848 MACs, 4,651,352 parameters" in out
    assert "L0.dw.bn" in out and "classifier.1" in out


@pytest.mark.parametrize("spec", ["fairnas:A", f"spos:{SPOS_SEARCHED}", "mobilenet_v2"])
def test_subnets_run_and_neurosim_floorplan_refuses_them_cleanly(spec, tmp_path, capsys):
    assert main(["run", "--workload", spec, "--noc", "ideal", "-o", str(tmp_path / "ok"),
                 "--quiet"]) == 0
    assert main(["map", "--hw", "neurosim_v13", "--workload", spec]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "has no grouped convolutions" in err and "mapping.scheme flash" in err


def test_sweep_takes_subnet_names(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("hw: flash_imc\nworkloads: [fairnas:C, mobilenet_v2]\n")
    refs = load_spec(spec).workloads
    assert [r.name for r in refs] == ["fairnas:C", "mobilenet_v2"]
    assert refs[0].build().params == FAIRNAS_MODELS["C"][2]
    spec.write_text("hw: flash_imc\nworkloads: [spos:1]\n")
    with pytest.raises(ConfigError, match=r"workloads\[0\].*spos:<20 digits 0-3>"):
        load_spec(spec)
