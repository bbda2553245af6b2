"""PyTorch import: vgg8 and resnet18 written in PyTorch give exactly the zoo's layers, MACs and
params through `from_torch`; common export idioms import; unsupported ops and bad arguments
raise one-line errors; `torch_weights` quantises as `onnx_weights` does."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch extra is not installed")
pytest.importorskip("onnx", reason="the onnx extra is not installed")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import enasim  # noqa: E402
from enasim.cli import main  # noqa: E402
from enasim.errors import ConfigError  # noqa: E402
from enasim.functional.ops import weight_shape  # noqa: E402
from enasim.workload import from_torch, load_workload, torch_weights  # noqa: E402
from enasim.workload.onnx_format import onnx_weights  # noqa: E402

torch.manual_seed(0)


class VGG8(nn.Module):
    """NeuroSim's VGG8 (enasim/workloads/vgg8.yaml): six 3x3 convs, 2x2 max-pools after
    conv2/4/6, two FC layers, no bias; flattened with `x.view(x.size(0), -1)`."""

    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for i, c in enumerate((128, 128, 256, 256, 512, 512)):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.ReLU(inplace=True)]
            if i % 2:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.fc7 = nn.Linear(512 * 4 * 4, 1024, bias=False)
        self.fc8 = nn.Linear(1024, 10, bias=False)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.fc8(F.relu(self.fc7(x)))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    """torchvision's resnet18 (enasim/workloads/resnet18.yaml), written out."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, c_in = [], 64
        for c, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c, 1)))
            c_in = c
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _save(model, x, path, **options):
    """`model` saved as an ONNX file as a user would (the TorchScript exporter, opset 17)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and folding notices
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, **options)


def _structure(net):
    """Every layer's op, inputs (by position), input and output shapes."""
    pos = {n.name: i for i, n in enumerate(net.nodes)}
    return [(n.op, [pos[i] for i in n.inputs], n.in_shapes, n.out_shape) for n in net.nodes]


@pytest.mark.parametrize(
    ("model", "zoo", "size"), [(VGG8, "vgg8", 32), (ResNet18, "resnet18", 224)]
)
def test_zoo_networks_from_pytorch(model, zoo, size):
    """The PyTorch definitions give the zoo's layers, MACs and params exactly; the params are
    also PyTorch's own count (BN: weight and bias, 2 per channel)."""
    m = model()
    got, want = from_torch(m, torch.randn(1, 3, size, size)), load_workload(zoo)
    assert (got.macs, got.params) == (want.macs, want.params)
    assert got.params == sum(p.numel() for p in m.parameters())
    assert _structure(got) == _structure(want)
    assert [weight_shape(n) for n in got.weight_layers] == [
        weight_shape(n) for n in want.weight_layers
    ]
    assert got.name == model.__name__


def test_resnet18_counts():
    net = from_torch(ResNet18(), torch.randn(1, 3, 224, 224))
    assert net.params == 11_689_512 and round(net.macs / 1e9, 3) == 1.814


class Separable(nn.Module):
    """A MobileNet block: depthwise 3x3/2, BN, ReLU6, pointwise 1x1 with bias, BN, Hardswish;
    dropout and a classifier after a global average pool."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(32, 32, 3, 2, 1, groups=32, bias=False)
        self.dw_bn = nn.BatchNorm2d(32)
        self.pw = nn.Conv2d(32, 64, 1)
        self.pw_bn = nn.BatchNorm2d(64)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu6(self.dw_bn(self.dw(x)))
        x = F.hardswish(self.pw_bn(self.pw(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(self.drop(x.reshape(x.size(0), -1)))


def test_depthwise_separable_block():
    m = Separable()
    net = from_torch(m, torch.randn(1, 32, 16, 16), name="sep")
    assert net.name == "sep"
    convs = [n for n in net.nodes if n.kind == "conv2d"]
    assert [(n.op.groups, n.op.bias, n.out_shape) for n in convs] == [
        (32, False, (32, 8, 8)),
        (1, True, (64, 8, 8)),
    ]
    assert [n.op.function for n in net.nodes if n.kind == "activation"] == ["relu6", "hardswish"]
    assert net.macs == 32 * 9 * 8 * 8 + 64 * 32 * 8 * 8 + 64 * 10
    assert net.params == 32 * 9 + 64 * 32 + 64 + 2 * 32 + 2 * 64 + 64 * 10 + 10
    assert net.params == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("depthwise", ["packed", "digital"])
def test_depthwise_separable_block_runs_with_its_weights(depthwise, tmp_path):
    """Its grouped weights (C_out, 1, 3, 3) feed a measured run on either depthwise mapping;
    the run counts every MAC of the network."""
    m = Separable()
    net = from_torch(m, torch.randn(1, 32, 16, 16))
    w = torch_weights(m, net, 8)
    dw = next(n for n in net.nodes if n.kind == "conv2d" and n.op.groups == 32)
    assert w[dw.name].shape == (32, 1, 3, 3) and np.abs(w[dw.name]).max() == 127
    np.savez(tmp_path / "w.npz", **w)
    r = enasim.run("flash_imc", net, overrides={"mapping.depthwise": depthwise},
                   engine="analytical", activity="measured", weights=tmp_path / "w.npz")
    assert sum(ls.macs for ls in r.stats.layers) == net.macs
    assert (dw.name in {ls.name for ls in r.stats.layers}) == (depthwise == "packed")


class DenseConcat(nn.Module):
    """torch.cat of feature maps along channels, as a DenseNet layer does."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        return torch.cat([x, self.conv(x)], 1)


def test_concat():
    net = from_torch(DenseConcat(), torch.randn(1, 8, 6, 6))
    assert [n.kind for n in net.nodes] == ["input", "conv2d", "concat"]
    assert net.nodes[-1].out_shape == (12, 6, 6) and net.nodes[-1].inputs == (
        "input",
        net.nodes[1].name,
    )


def test_symbolic_batch_shape_chain(tmp_path):
    """Exported with a symbolic batch, `x.view(x.size(0), -1)` is a Shape, Gather, Unsqueeze,
    Concat, Reshape chain; the file gives the same network as `from_torch`."""
    m = VGG8()
    path = tmp_path / "vgg8.onnx"
    _save(m, torch.randn(1, 3, 32, 32), path, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    import onnx

    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"} <= ops
    got = load_workload(path)
    assert _structure(got) == _structure(load_workload("vgg8"))
    assert _structure(got) == _structure(from_torch(m, torch.randn(1, 3, 32, 32)))


def test_weights_round_trip(tmp_path):
    """torch_weights equals onnx_weights of the same model saved as a file, and symmetric
    per-layer max-abs quantisation of the model's own parameters."""
    m = Separable()
    m.dw = nn.Conv2d(32, 32, 3, 2, 1, bias=False)  # a full conv: these weights need no groups
    m.eval()  # for the export to a file
    x = torch.randn(1, 32, 16, 16)
    net = from_torch(m, x)
    q = torch_weights(m, net, 6)
    path = tmp_path / "sep.onnx"
    _save(m, x, path, training=torch.onnx.TrainingMode.PRESERVE)
    from_file = onnx_weights(path, net, 6)
    assert list(q) == list(from_file) == [n.name for n in net.weight_layers]
    for layer, w in zip(net.weight_layers, (m.dw.weight, m.pw.weight, m.fc.weight), strict=True):
        w = w.detach().double().numpy()
        want = np.rint(w * (31 / np.abs(w).max())).astype(np.int64)
        assert np.array_equal(q[layer.name], want)
        assert np.array_equal(from_file[layer.name], want)
        assert np.abs(q[layer.name]).max() == 31


def test_mode_restored_and_model_unchanged():
    m = ResNet18().train()
    m.layer2.eval()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    from_torch(m, torch.randn(1, 3, 64, 64))
    assert m.training and m.layer1.training and not m.layer2.training
    assert not m.layer2[0].bn1.training and m.layer3[1].bn2.training
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


class Sorts(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.sort(self.conv(x), dim=1).values


def test_unsupported_op_names_node_and_op():
    with pytest.raises(ConfigError) as info:
        from_torch(Sorts(), torch.randn(1, 3, 8, 8))
    message = str(info.value)
    assert message.startswith("torch model Sorts: field 'node ")
    assert "(/TopK)': op type 'TopK' is not supported; supported: Conv, Gemm" in message
    assert len(message.splitlines()) == 1


def test_unsupported_op_from_an_exported_file_exits_2(tmp_path, capsys):
    path = tmp_path / "sorts.onnx"
    _save(Sorts().eval(), torch.randn(1, 3, 8, 8), path)
    assert main(["workload", "show", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "'TopK' is not supported" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (torch.randn(3, 8, 8), "a tensor of shape [3, 8, 8]"),
        (torch.randn(2, 3, 8, 8), "a tensor of shape [2, 3, 8, 8]"),
        ((torch.randn(1, 3, 8, 8),), "tuple"),
    ],
)
def test_example_input_must_be_one_image(example, expected):
    with pytest.raises(ConfigError, match=r"field 'example_input': expected one \(1, C, H, W\)"):
        from_torch(DenseConcat(), example)
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[")):
        from_torch(DenseConcat(), example)


def test_not_a_module_and_failing_forward():
    with pytest.raises(
        ConfigError, match="field 'model': expected a torch.nn.Module, got function"
    ):
        from_torch(lambda x: x, torch.randn(1, 3, 8, 8))
    m = DenseConcat().train()
    with pytest.raises(ConfigError, match="torch.onnx.export failed: RuntimeError: "):
        from_torch(m, torch.randn(1, 5, 8, 8))  # 5 channels into an 8-channel conv
    assert m.training


@pytest.mark.parametrize("missing", ["torch", "onnx"])
def test_without_torch_or_onnx(missing, monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # `import <missing>` raises ImportError
    with pytest.raises(ConfigError) as info:
        from_torch(object(), None)
    assert f'({missing} is missing): pip install "enasim[torch]"' in str(info.value)


def test_runs_through_the_api():
    import enasim

    net = from_torch(VGG8(), torch.randn(1, 3, 32, 32))
    r = enasim.run("flash_imc", net, engine="analytical")
    want = enasim.run("flash_imc", "vgg8", engine="analytical")
    assert r.summary["latency_ns"] == want.summary["latency_ns"]
    assert r.summary["energy_uj"] == want.summary["energy_uj"]
