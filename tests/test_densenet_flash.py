"""FLASH DenseNet generator against the official NN-Mass code's shapes (enasim/reference/nas)."""

from __future__ import annotations

import pytest
from conftest import read_reference_csv

from enasim.errors import ConfigError
from enasim.nas.spaces.densenet_flash import DenseNetSpec, build_densenet_flash


def _spec(row) -> DenseNetSpec:
    tcs = tuple(int(t) for t in row["tc"].split(";"))
    return DenseNetSpec(int(row["wm"]), (int(row["cell_depth"]),) * len(tcs), tcs)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(";")]


def test_every_reference_layer_matches_in_order():
    rows = read_reference_csv("nas", "nnmass_densenet_layers.csv")
    configs = sorted({r["config"] for r in rows})
    assert len(configs) == 7
    for config in configs:
        ref = [r for r in rows if r["config"] == config]
        net = build_densenet_flash(int(ref[0]["wm"]), int(ref[0]["cell_depth"]),
                                   tuple(_ints(ref[0]["tc"])))
        layers = net.weight_layers
        assert len(layers) == len(ref), config
        for node, r in zip(layers, ref, strict=True):
            assert node.macs == int(r["macs"]), (config, node.name)
            assert node.weight_rows == int(r["c_in"]) * int(r["k"]) ** 2, (config, node.name)
            assert node.weight_cols == int(r["c_out"]), (config, node.name)
            if node.kind == "conv2d":
                assert node.in_shapes[0][1] == int(r["h_in"]), (config, node.name)
                assert node.out_shape[1] == int(r["h_out"]), (config, node.name)
                assert node.stride == int(r["stride"]), (config, node.name)
                cell, layer = node.name.split(".")[:2]
                assert (cell, layer) == (f"c{r['cell']}", f"l{r['layer_in_cell']}")
            else:
                assert r["module"] == "fc_layer"


def test_summary_params_macs_and_topology_metrics():
    rows = read_reference_csv("nas", "nnmass_densenet_summary.csv")
    assert rows
    for r in rows:
        spec = _spec(r)
        net = build_densenet_flash(spec.wm, spec.depths, spec.tcs)
        assert net.params == int(r["params"]), r["config"]
        assert net.macs == int(r["macs"]), r["config"]
        assert list(spec.widths) == _ints(r["widths"])
        for c in range(3):
            assert list(spec.skip_channels(c)) == _ints(r[f"layer_tc_cell{c}"])
            assert spec.density(c) == pytest.approx(float(r["density"].split(";")[c]), abs=1e-6)
        assert spec.nn_mass() == pytest.approx(float(r["nn_mass"]), abs=1e-4)
        # enasim adopts the edge reading of NN-Degree (notes §3.4).
        assert spec.nn_degree() == pytest.approx(float(r["derived_nn_degree_edges"]), abs=1e-4)


def test_more_skip_channels_raise_nn_degree_and_cost():
    lo = build_densenet_flash(tcs=(0, 0, 0))
    hi = build_densenet_flash(tcs=(16, 32, 64))
    assert DenseNetSpec(tcs=(16, 32, 64)).nn_degree() > DenseNetSpec(tcs=(0, 0, 0)).nn_degree()
    assert hi.macs > lo.macs and hi.params > lo.params
    # Without skips the network is a plain chain: no concat or select layers.
    assert not [n for n in lo.nodes if n.kind in ("concat", "select")]


def test_per_cell_depths():
    net = build_densenet_flash(depths=(5, 6, 7), tcs=(8, 8, 8))
    convs = [n for n in net.weight_layers if n.kind == "conv2d"]
    assert [sum(n.name.startswith(f"c{c}.") for n in convs) for c in range(3)] == [5, 6, 7]
    assert net.name == "densenet_flash_d5-6-7_wm1_tc8-8-8"


@pytest.mark.parametrize("kwargs, field", [
    ({"wm": 0}, "wm"),
    ({"depths": (8, 8)}, "depths"),
    ({"depths": 1}, "depths[0]"),
    ({"tcs": (10, -1, 40)}, "tcs[1]"),
    ({"num_classes": 0}, "num_classes"),
    ({"image_size": 36}, "image_size"),
])
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as exc:
        build_densenet_flash(**kwargs)
    assert exc.value.field == field
