"""Network IR, the YAML format and the zoo."""

from __future__ import annotations

import pytest
from conftest import REPO, read_reference_csv

from enasim.workload import load_workload, zoo_names
from enasim.workload.ir import Add, Concat, Conv2d, Linear, NetworkBuilder, Pool, Select
from enasim.workload.yaml_format import load_network_yaml, network_to_yaml


def test_zoo_names():
    assert {"vgg8", "resnet18", "densenet_flash"} <= set(zoo_names())


def test_vgg8_is_neurosims_network(vgg8):
    """Layer rows IFM_H, IFM_W, IFM_C, K, OFM_C, pool-after of NeuroSim's NetWork_VGG8.csv."""
    ref = read_reference_csv("cim", "neurosim_v13_vgg8_default_layers.csv")
    layers = vgg8.weight_layers
    for node, r in zip(layers, ref, strict=True):
        c, h, w = node.in_shapes[0]
        k = node.kernel[0]
        if node.kind == "linear":  # NeuroSim writes FC layers as 1x1xC_in
            c, h, w = node.weight_rows, 1, 1
        assert (h, w, c, k, node.out_shape[0]) == (
            int(r["ifm_h"]), int(r["ifm_w"]), int(r["ifm_c"]), int(r["k_h"]), int(r["ofm_c"]))
        pooled = any(vgg8[s].kind == "pool" for s in _downstream_digital(vgg8, node.name))
        assert pooled == (r["followed_by_maxpool"] == "1")
    assert vgg8.params == 12_973_440  # 8-bit weights in 800 arrays of NeuroSim's note


def _downstream_digital(net, name):
    """Names of digital layers reached from `name` before the next weight layer."""
    out, todo = [], list(net.consumers(name))
    while todo:
        n = todo.pop()
        if not net[n].has_weights:
            out.append(n)
            todo.extend(net.consumers(n))
    return out


def test_resnet18_matches_torchvision():
    net = load_workload("resnet18")
    assert net.params == 11_689_512
    assert net.macs == 1_814_073_344
    assert len(net.weight_layers) == 21  # 17 3x3/7x7 convs + 3 projections + FC
    assert net["fc"].in_shapes[0] == (512, 1, 1)


@pytest.mark.parametrize("name", ["vgg8", "resnet18", "densenet_flash"])
def test_yaml_round_trip(name, tmp_path):
    net = load_workload(name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(network_to_yaml(net))
    again = load_network_yaml(path)
    assert [(n.name, n.op, n.inputs, n.out_shape) for n in again.nodes] == [
        (n.name, n.op, n.inputs, n.out_shape) for n in net.nodes]


def test_bundled_yaml_files_are_the_zoo():
    for path in (REPO / "workloads").glob("*.yaml"):
        assert load_workload(path.stem).nodes == load_network_yaml(path).nodes


def test_shapes_macs_params_by_hand():
    b = NetworkBuilder("t", (3, 10, 10))
    b.add("c1", Conv2d(8, (3, 3), stride=2, padding=1, bias=True))  # -> 8x5x5
    b.add("c2", Conv2d(8, (3, 3), padding=1), "c1")
    b.add("cat", Concat(), ["c1", "c2"])  # 16x5x5
    b.add("sel", Select(4), "cat")
    b.add("sum", Add(), ["c1", "c2"])
    b.add("pool", Pool("avg", global_pool=True), "sum")
    b.add("fc", Linear(10, bias=True))
    net = b.build()
    assert net["c1"].out_shape == (8, 5, 5)
    assert net["cat"].out_shape == (16, 5, 5)
    assert net["sel"].out_shape == (4, 5, 5)
    assert net["pool"].out_shape == (8, 1, 1)
    assert net["c1"].macs == 8 * 3 * 9 * 25
    assert net["c1"].params == 8 * 3 * 9 + 8
    assert net["fc"].params == 8 * 10 + 10
    assert net.macs == 8 * 3 * 9 * 25 + 8 * 8 * 9 * 25 + 80
    assert net.consumers("c1") == ["c2", "cat", "sum"]
