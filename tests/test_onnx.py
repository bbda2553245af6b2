"""ONNX import: models built in-process with onnx.helper give the same layers, MACs and params
as the equivalent YAML workload; anything unsupported or malformed exits 2 naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from enasim.cli import main  # noqa: E402
from enasim.errors import ConfigError  # noqa: E402
from enasim.workload import load_workload  # noqa: E402
from enasim.workload.yaml_format import load_network_yaml  # noqa: E402

RNG = np.random.default_rng(0)


class Graph:
    """A small ONNX graph under construction: nodes, random initializers, one (1, C, H, W)
    input."""

    def __init__(self, c: int, h: int, w: int, batch: int | str = 1):
        self.nodes, self.inits = [], []
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, c, h, w])

    def init(self, name: str, shape, values=None, dtype=np.float32) -> str:
        values = RNG.standard_normal(shape) if values is None else np.asarray(values)
        self.inits.append(numpy_helper.from_array(values.astype(dtype), name))
        return name

    def node(self, op: str, inputs, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [name], name=name, **attrs))
        return name

    def conv(self, x, name, c_in, c_out, k, stride=1, pad=0, group=1, bias=False):
        ins = [x, self.init(f"{name}.w", (c_out, c_in // group, k, k))]
        if bias:
            ins.append(self.init(f"{name}.b", (c_out,)))
        return self.node(
            "Conv",
            ins,
            name,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=group,
        )

    def bn(self, x, name, c):
        ins = [x] + [
            self.init(f"{name}.{p}", (c,), np.ones(c) if p == "var" else None)
            for p in ("scale", "bias", "mean", "var")
        ]
        return self.node("BatchNormalization", ins, name)

    def save(self, path, output: str, rank: int = 4) -> str:
        """Write the model; the output's shape is left to ONNX's inference (symbolic dims)."""
        out = helper.make_tensor_value_info(
            output, TensorProto.FLOAT, [f"d{i}" for i in range(rank)]
        )
        graph = helper.make_graph(self.nodes, "g", [self.input], [out], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.save(model, path)
        return str(path)


def residual(tmp_path):
    g = Graph(16, 8, 8)
    a = g.node("Relu", [g.bn(g.conv("x", "conv1", 16, 16, 3, pad=1), "bn1", 16)], "relu1")
    b = g.bn(g.conv(a, "conv2", 16, 16, 3, pad=1), "bn2", 16)
    g.node("Relu", [g.node("Add", [b, "x"], "add")], "relu2")
    return (
        g.save(tmp_path / "residual.onnx", "relu2"),
        """
name: residual
input: [16, 8, 8]
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: bn1, op: batchnorm}
  - {name: relu1, op: activation}
  - {name: conv2, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: bn2, op: batchnorm}
  - {name: add, op: add, inputs: [bn2, input]}
  - {name: relu2, op: activation}
""",
    )


def dense(tmp_path):
    g = Graph(8, 16, 16)
    c1 = g.conv("x", "conv1", 8, 4, 3, pad=1)
    cat1 = g.node("Concat", ["x", c1], "cat1", axis=1)
    c2 = g.conv(g.node("Relu", [g.bn(cat1, "bn2", 12)], "relu2"), "conv2", 12, 4, 3, pad=1)
    cat2 = g.node("Concat", [cat1, c2], "cat2", axis=1)
    g.node(
        "AveragePool",
        [g.conv(cat2, "trans", 16, 8, 1)],
        "pool",
        kernel_shape=[2, 2],
        strides=[2, 2],
    )
    return (
        g.save(tmp_path / "dense.onnx", "pool"),
        """
name: dense
input: [8, 16, 16]
layers:
  - {name: conv1, op: conv2d, out_channels: 4, kernel: 3, padding: 1}
  - {name: cat1, op: concat, inputs: [input, conv1]}
  - {name: bn2, op: batchnorm}
  - {name: relu2, op: activation}
  - {name: conv2, op: conv2d, out_channels: 4, kernel: 3, padding: 1}
  - {name: cat2, op: concat, inputs: [cat1, conv2]}
  - {name: trans, op: conv2d, out_channels: 8, kernel: 1}
  - {name: pool, op: pool, mode: avg, kernel: 2}
""",
    )


def separable(tmp_path):
    """Depthwise 3x3/2 (a Pad folded into it) with ReLU6 as a Clip, then a 1x1 conv."""
    g = Graph(32, 16, 16, batch="N")
    pads = g.init("pads", (8,), [0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    pad = g.node("Pad", ["x", pads], "pad")
    dw = g.bn(g.conv(pad, "dw", 32, 32, 3, stride=2, group=32), "dw_bn", 32)
    lo, hi = g.init("lo", (), 0.0), g.init("hi", (), 6.0)
    act = g.node("Clip", [dw, lo, hi], "dw_relu6")
    g.node("HardSwish", [g.conv(act, "pw", 32, 64, 1, bias=True)], "pw_act")
    return (
        g.save(tmp_path / "separable.onnx", "pw_act"),
        """
name: separable
input: [32, 16, 16]
layers:
  - {name: dw, op: conv2d, out_channels: 32, kernel: 3, stride: 2, padding: 1, groups: 32}
  - {name: dw_bn, op: batchnorm}
  - {name: dw_relu6, op: activation, function: relu6}
  - {name: pw, op: conv2d, out_channels: 64, kernel: 1, bias: true}
  - {name: pw_act, op: activation, function: hardswish}
""",
    )


def head(tmp_path):
    """Conv, GlobalAveragePool, Flatten, Gemm; a second head through Reshape and MatMul."""
    g = Graph(3, 8, 8)
    c = g.node("Relu", [g.conv("x", "conv", 3, 32, 3, pad=1, bias=True)], "relu")
    gap = g.node(
        "GlobalAveragePool",
        [g.node("MaxPool", [c], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
        "gap",
    )
    flat = g.node("Flatten", [gap], "flatten", axis=1)
    fc = g.node("Gemm", [flat, g.init("fc.w", (10, 32)), g.init("fc.b", (10,))], "fc", transB=1)
    shape = g.init("shape", (2,), [1, -1], np.int64)
    r = g.node("Reshape", [gap, shape], "reshape")
    g.node("MatMul", [g.node("Dropout", [r], "drop"), g.init("fc2.w", (32, 5))], "fc2")
    g.node("Add", [fc, g.node("Identity", [fc], "same")], "out")
    return (
        g.save(tmp_path / "head.onnx", "out", rank=2),
        """
name: head
input: [3, 8, 8]
layers:
  - {name: conv, op: conv2d, out_channels: 32, kernel: 3, padding: 1, bias: true}
  - {name: relu, op: activation}
  - {name: maxpool, op: pool, mode: max, kernel: 3, stride: 2, padding: 1}
  - {name: gap, op: pool, mode: avg, global: true}
  - {name: fc, op: linear, out_features: 10, bias: true}
  - {name: fc2, op: linear, out_features: 5, inputs: gap}
  - {name: out, op: add, inputs: [fc, fc]}
""",
    )


@pytest.mark.parametrize("model", [residual, dense, separable, head])
def test_same_network_as_yaml(model, tmp_path):
    path, text = model(tmp_path)
    yaml_path = tmp_path / "net.yaml"
    yaml_path.write_text(text)
    want, got = load_network_yaml(yaml_path), load_workload(path)
    assert [(n.name, n.op, n.inputs, n.in_shapes, n.out_shape) for n in got.nodes] == [
        (n.name, n.op, n.inputs, n.in_shapes, n.out_shape) for n in want.nodes
    ]
    assert (got.macs, got.params) == (want.macs, want.params)
    assert got.macs > 0 and got.params > 0


def shape_chain(tmp_path, batch, order):
    """A classifier head flattened by a Reshape whose target is computed from the feature
    map's shape (Shape, Slice, Squeeze, Unsqueeze, Gather, Concat), as PyTorch exports
    `x.view(x.size(0), -1)`; `order` puts the batch first or last in the target."""
    g = Graph(3, 8, 8, batch=batch)
    gap = g.node("GlobalAveragePool", [g.conv("x", "conv", 3, 16, 3, pad=1)], "gap")
    shape = g.node("Shape", [gap], "shape")
    one = [g.init(f"one{i}", (1,), [i], np.int64) for i in (0, 1)]
    n = g.node("Slice", [shape, one[0], one[1]], "n")  # [N]
    n = g.node("Unsqueeze", [g.node("Squeeze", [n, one[0]], "n0"), one[0]], "n1")
    c = g.node("Gather", [shape, one[1]], "c")  # [16]
    minus = g.init("minus", (1,), [-1], np.int64)
    target = g.node("Concat", [n, minus] if order == "first" else [minus, n], "target", axis=0)
    flat = g.node("Reshape", [gap, target], "flat")
    fc = g.node("Gemm", [flat, g.init("fc.w", (10, 16))], "fc", transB=1)
    g.node("Identity", [c], "c_again")  # a shape value aliased, then unused
    return g.save(tmp_path / f"chain_{batch}_{order}.onnx", fc, rank=2)


@pytest.mark.parametrize("batch", [1, "N"])
def test_reshape_target_from_shapes(batch, tmp_path):
    net = load_workload(shape_chain(tmp_path, batch, "first"))
    assert [(n.name, n.kind, n.out_shape) for n in net.nodes] == [
        ("input", "input", (3, 8, 8)),
        ("conv", "conv2d", (16, 8, 8)),
        ("gap", "pool", (16, 1, 1)),
        ("fc", "linear", (10, 1, 1)),
    ]
    assert net.macs == 16 * 27 * 8 * 8 + 10 * 16


def test_reshape_target_with_the_batch_elsewhere_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"node \d+ \(flat\).*got shape \[-1, N\]"):
        load_workload(shape_chain(tmp_path, "N", "last"))


def test_shape_ops_of_a_feature_map_are_refused(tmp_path):
    g = Graph(3, 8, 8)
    g.node("Slice", ["x", g.init("s", (1,), [0], np.int64), g.init("e", (1,), [1], np.int64)], "y")
    with pytest.raises(ConfigError, match=r"node 0 \(y\)': a Slice of a feature map"):
        load_workload(g.save(tmp_path / "slice.onnx", "y"))


def test_residual_closed_form(tmp_path):
    net = load_workload(residual(tmp_path)[0])
    assert net.macs == 2 * 16 * 16 * 9 * 8 * 8  # two 3x3 convs, 16->16, 8x8 outputs
    assert net.params == 2 * 16 * 16 * 9 + 2 * 2 * 16  # conv weights + BN scale and shift


def test_cli_show_and_run(tmp_path, capsys):
    path = residual(tmp_path)[0]
    assert main(["workload", "show", path]) == 0
    assert "conv2" in capsys.readouterr().out
    assert main(["workload", "show", separable(tmp_path)[0]]) == 0
    capsys.readouterr()
    assert (
        main(["run", "--engine", "analytical", "--workload", path, "--out", str(tmp_path / "out")])
        == 0
    )


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    return err


def test_unsupported_op_names_node(tmp_path, capsys):
    g = Graph(3, 8, 8)
    c = g.conv("x", "conv", 3, 4, 3)
    g.node("Softmax", [c], "probs", axis=1)
    path = g.save(tmp_path / "soft.onnx", "probs")
    err = _error(capsys, ["workload", "show", path])
    assert "soft.onnx" in err and "node 1 (probs)" in err and "'Softmax'" in err
    assert "supported: Conv, Gemm" in err


@pytest.mark.parametrize("case", ["dilated", "asymmetric", "clip", "bias_add"])
def test_refused_attributes(case, tmp_path):
    g = Graph(3, 8, 8)
    if case == "dilated":
        g.nodes.append(
            helper.make_node(
                "Conv", ["x", g.init("w", (4, 3, 3, 3))], ["y"], name="c", dilations=[2, 2]
            )
        )
    elif case == "asymmetric":
        g.nodes.append(
            helper.make_node(
                "Conv", ["x", g.init("w", (4, 3, 3, 3))], ["y"], name="c", pads=[0, 0, 1, 1]
            )
        )
    elif case == "clip":
        g.node("Clip", ["x", g.init("lo", (), -1.0)], "y")
    else:
        g.node("Add", ["x", g.init("b", (3, 1, 1))], "y")
    with pytest.raises(ConfigError, match=r"node 0 \((c|y)\)"):
        load_workload(g.save(tmp_path / f"{case}.onnx", "y"))


def test_truncated_and_not_onnx(tmp_path, capsys):
    path = residual(tmp_path)[0]
    data = Path(path).read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    assert "not a valid ONNX model" in _error(
        capsys, ["workload", "show", str(tmp_path / "cut.onnx")]
    )
    (tmp_path / "text.onnx").write_text("name: x\nlayers: []\n")
    assert "not a valid ONNX model" in _error(
        capsys, ["workload", "show", str(tmp_path / "text.onnx")]
    )
    assert "cannot read file" in _error(
        capsys, ["workload", "show", str(tmp_path / "missing.onnx")]
    )


def test_shape_mismatch_is_refused(tmp_path):
    """A value_info claiming another shape than the IR infers names the node."""
    g = Graph(3, 8, 8)
    g.conv("x", "conv", 3, 4, 3)
    path = tmp_path / "bad.onnx"
    g.save(path, "conv")
    model = onnx.load(path)
    model.graph.output[0].CopyFrom(
        helper.make_tensor_value_info("conv", TensorProto.FLOAT, [1, 4, 8, 8])
    )
    onnx.save(model, path)
    with pytest.raises(ConfigError, match=r"node 0 \(conv\)"):
        load_workload(path)


def test_without_onnx_installed(tmp_path, capsys, monkeypatch):
    path = residual(tmp_path)[0]
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    err = _error(capsys, ["workload", "show", path])
    assert 'pip install "enasim[onnx]"' in err


def test_sweep_takes_an_onnx_workload(tmp_path):
    """A sweep spec's workload entry may be an .onnx file; its points run and store rows."""
    from enasim import sweep
    from enasim.config import DEFAULT_HW

    residual(tmp_path)
    (tmp_path / "hw.yaml").write_text(DEFAULT_HW.read_text())
    spec = sweep.spec_from_dict(
        {
            "hw": "hw.yaml",
            "axes": {"adc.bits": [4, 5]},
            "workloads": ["residual.onnx"],
            "engine": "analytical",
        },
        base_dir=tmp_path,
    )
    assert [w.name for w in spec.workloads] == ["residual"]
    assert spec.workloads[0].build().macs == 2 * 16 * 16 * 9 * 8 * 8
    sweep.run(spec, workers=1, out=tmp_path / "out", progress=False)
    with sweep.Store(tmp_path / "out", create=False) as store:
        rows = store.rows()
    assert [(r["workload"], r["status"]) for r in rows] == [("residual", "done")] * 2


def test_initializers_as_integer_weights(tmp_path):
    """Symmetric per-layer max-abs scaling: each layer spans +-(2^(b-1)-1), PyTorch layout
    (MatMul's (in, out) weight transposed), each value within half a step of the real one."""
    from enasim.workload.onnx_format import onnx_weights

    path = head(tmp_path)[0]
    net = load_workload(path)
    model = onnx.load(path)
    real = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    q = onnx_weights(path, net, 8)
    assert sorted(q) == ["conv", "fc", "fc2"]
    for name, w in (("conv", real["conv.w"]), ("fc", real["fc.w"]), ("fc2", real["fc2.w"].T)):
        scale = np.abs(w).max() / 127
        assert q[name].dtype == np.int64 and q[name].shape == w.shape
        assert np.abs(q[name]).max() == 127
        assert np.all(np.abs(q[name] * scale - w) <= scale / 2 + 1e-12)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ConfigError, match="no weight layer 'conv1'"):
        onnx_weights(path, load_workload(residual(other)[0]), 8)


def test_infer_and_measured_run_take_onnx_weights(tmp_path, capsys):
    import json

    path = residual(tmp_path)[0]
    assert (
        main(
            ["infer", "--workload", path, "--weights", path, "-o", str(tmp_path / "inf"), "--quiet"]
        )
        == 0
    )
    assert json.loads((tmp_path / "inf" / "summary.json").read_text())["weights"] == path
    assert (
        main(
            [
                "run",
                "--engine",
                "analytical",
                "--workload",
                path,
                "--activity",
                "measured",
                "--weights",
                path,
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
