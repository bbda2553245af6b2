"""enasim.train: the IR as a trainable torch module (shapes, parameters, MACs, semantics equal
to enasim's functional ops), datasets and their fitting rule, seeded training, checkpoints and
`enasim train`. Training runs here are fractions of an epoch on networks at 8x8."""

from __future__ import annotations

import json
import random
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from enasim.cli import main  # noqa: E402
from enasim.errors import ConfigError  # noqa: E402
from enasim.functional import ops  # noqa: E402
from enasim.nas.spaces import blocks_cnn  # noqa: E402
from enasim.nas.spaces.densenet_flash import FlashSpace, build_densenet_flash, build_from_spec  # noqa: E402,E501
from enasim.train import DEFAULTS  # noqa: E402
from enasim.train.checkpoint import load_checkpoint, load_module, save_checkpoint  # noqa: E402
from enasim.train.data import (  # noqa: E402
    bilinear_matrix,
    fit_images,
    load_dataset,
    stratified_split,
)
from enasim.train.module import export_weights, to_torch  # noqa: E402
from enasim.train.trainer import evaluate, train  # noqa: E402
from enasim.workload import load_workload, zoo_names  # noqa: E402
from enasim.workload.ir import ACTIVATIONS, OPS  # noqa: E402
from enasim.workload.yaml_format import load_network_yaml  # noqa: E402

# Every op and activation of the IR; pools with padding beyond what torch's own pooling allows.
EVERY_OP = """\
name: every_op
input: [2, 9, 9]
layers:
  - {name: c1, op: conv2d, out_channels: 6, kernel: 3, padding: 1, bias: true}
  - {name: bn1, op: batchnorm}
  - {name: a0, op: activation, function: relu}
  - {name: a1, op: activation, function: relu6}
  - {name: a2, op: activation, function: sigmoid}
  - {name: a3, op: activation, function: tanh}
  - {name: a4, op: activation, function: hardsigmoid}
  - {name: a5, op: activation, function: hardswish}
  - {name: a6, op: activation, function: leaky_relu}
  - {name: p1, op: pool, mode: max, kernel: 3, stride: 2, padding: 2}
  - {name: c2, op: conv2d, out_channels: 6, kernel: 3, padding: 1}
  - {name: s1, op: select, channels: 4, inputs: c2}
  - {name: s2, op: select, channels: 4, inputs: p1}
  - {name: sum, op: add, inputs: [s1, s2]}
  - {name: cat, op: concat, inputs: [sum, p1]}
  - {name: p2, op: pool, mode: avg, kernel: 2, stride: 1, padding: 1}
  - {name: c3, op: conv2d, out_channels: 5, kernel: [1, 2], stride: 2}
  - {name: gmax, op: pool, mode: max, global: true, inputs: c3}
  - {name: gavg, op: pool, mode: avg, global: true, inputs: c3}
  - {name: both, op: concat, inputs: [gmax, gavg]}
  - {name: fc1, op: linear, out_features: 7, bias: true}
  - {name: fc2, op: linear, out_features: 12}
"""
GROUPED = """\
name: grouped
input: [4, 8, 8]
layers:
  - {name: dw, op: conv2d, out_channels: 8, kernel: 3, padding: 1, groups: 4, bias: true}
  - {name: pw, op: conv2d, out_channels: 6, kernel: 1, groups: 2}
  - {name: fc, op: linear, out_features: 10}
"""
# A small digits classifier at the dataset's size.
TINY = """\
name: tiny
input: [1, 8, 8]
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: bn1, op: batchnorm}
  - {name: relu1, op: activation}
  - {name: pool1, op: pool, mode: max, kernel: 2}
  - {name: fc, op: linear, out_features: 10, bias: true}
"""


def _yaml(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _flash_samples(n, seed):
    space = FlashSpace(wm=(1, 1), depth=(3, 8))
    wm, depths, tcs = space.sample(np.random.default_rng(seed), n)
    return [build_from_spec(space.spec(wm[i], depths[i], tcs[i])) for i in range(n)]


def _networks():
    nets = [load_workload(name) for name in zoo_names()]
    nets += [load_workload("fairnas:A"), load_workload("spos:" + "0123" * 5)]
    nets += _flash_samples(2, seed=1)
    space = blocks_cnn.BlocksCnnSpace()
    nets.append(blocks_cnn.build(space.sample(random.Random(3))))
    return nets


def _trace(module, x):
    """Output shape of every node (hooks on each layer) and the MACs of conv2d and linear
    layers counted from the shapes the hooks see."""
    shapes, macs = {}, []

    def hook(node):
        def record(mod, inputs, out):
            shapes[node.name] = tuple(out.shape[1:])
            if isinstance(mod, torch.nn.Conv2d):
                c_out, h, w = out.shape[1:]
                kh, kw = mod.kernel_size
                macs.append(c_out * mod.in_channels // mod.groups * kh * kw * h * w)
            elif isinstance(mod, torch.nn.Linear):
                macs.append(mod.in_features * mod.out_features)

        return record

    handles = [
        m.register_forward_hook(hook(n))
        for n, m in zip(module.network.nodes[1:], module.layers, strict=True)
    ]
    with torch.no_grad():
        out = module(x)
    for h in handles:
        h.remove()
    return out, shapes, sum(macs)


@pytest.mark.parametrize("net", _networks(), ids=lambda n: n.name[:40])
def test_module_has_the_networks_shapes_params_and_macs(net):
    module = to_torch(net, seed=0).eval()
    out, shapes, macs = _trace(module, torch.zeros(1, *net.input_shape))
    assert shapes == {n.name: n.out_shape for n in net.nodes[1:]}
    assert sum(p.numel() for p in module.parameters() if p.requires_grad) == net.params
    assert macs == net.macs
    assert out.shape == (1, int(np.prod(net.nodes[-1].out_shape)))


def test_every_op_and_grouped_convs(tmp_path):
    for text in (EVERY_OP, GROUPED):
        net = load_network_yaml(_yaml(tmp_path, text))
        module = to_torch(net, 0).eval()
        _, shapes, macs = _trace(module, torch.zeros(2, *net.input_shape))
        assert shapes == {n.name: n.out_shape for n in net.nodes[1:]}
        assert sum(p.numel() for p in module.parameters()) == net.params
        assert macs == net.macs
    # grouped convs export PyTorch's layout: (C_out, C_in / groups, kh, kw)
    w = export_weights(module)
    assert w["dw"].shape == (8, 1, 3, 3) and w["pw"].shape == (6, 4, 1, 1)


def test_module_computes_what_the_functional_ops_compute(tmp_path):
    """Node by node, the module (train-mode batch norm: batch statistics) equals the numpy
    reference of enasim.functional.ops with the exported weights, in the layout
    ops.weight_shape gives."""
    net = load_network_yaml(_yaml(tmp_path, EVERY_OP))
    assert {n.op.kind for n in net.nodes[1:]} == set(OPS)
    assert {n.op.function for n in net.nodes if n.kind == "activation"} == set(ACTIVATIONS)
    module = to_torch(net, 3)
    weights = export_weights(module)
    biases = {
        n.name: m.bias.detach().numpy() for n, m in module.weight_layers() if m.bias is not None
    }
    assert {k: v.shape for k, v in weights.items()} == {
        n.name: ops.weight_shape(n) for n in net.weight_layers
    }
    x = np.random.default_rng(0).normal(size=(4, *net.input_shape)).astype(np.float32)
    got = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, name=n.name: got.__setitem__(name, o))
        for n, m in zip(net.nodes[1:], module.layers, strict=True)
    ]
    with torch.no_grad():
        module.train()(torch.from_numpy(x))
    for h in hooks:
        h.remove()
    ref = {"input": x.astype(np.float64)}
    for node in net.nodes[1:]:
        ins = [ref[s] for s in node.inputs]
        if node.has_weights:
            y = ops.unroll(node, ins[0]) @ ops.weight_matrix(node, weights[node.name])
            y = ops.fold(node, y + biases.get(node.name, 0.0), len(x))
        else:
            y = ops.digital(node, ins)
        ref[node.name] = y
        np.testing.assert_allclose(
            got[node.name].numpy(), y, rtol=1e-4, atol=1e-4, err_msg=node.name
        )


def test_initialisation_is_seeded_and_leaves_the_global_rng_alone(tmp_path):
    net = load_network_yaml(_yaml(tmp_path, TINY))
    before = torch.random.get_rng_state()
    a, b, c = (export_weights(to_torch(net, s)) for s in (5, 5, 6))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1"], c["conv1"])


# --- data ---------------------------------------------------------------------------------


def test_digits_split_is_stratified_seeded_and_80_20():
    ds = load_dataset("digits", (1, 8, 8), seed=0)
    assert len(ds.y_train) + len(ds.y_test) == 1797 and ds.classes == 10
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    assert (np.bincount(ds.y_test) == np.floor(counts * 0.2 + 0.5)).all()
    assert ds.x_train.dtype == np.float32 and ds.x_train.max() == 1.0 and ds.x_train.min() == 0
    again, other = load_dataset("digits", (1, 8, 8), 0), load_dataset("digits", (1, 8, 8), 1)
    assert np.array_equal(ds.x_test, again.x_test)
    assert not np.array_equal(ds.x_test, other.x_test)
    labels = np.repeat([0, 1, 2], [1, 2, 10])
    train_idx, test_idx = stratified_split(labels, 0)
    assert sorted([*train_idx, *test_idx]) == list(range(13))
    assert np.bincount(labels[test_idx]).tolist() == [0, 1, 2]  # 1 image: all to training


def test_fitting_pads_centred_replicates_grey_and_scales_values():
    img = np.arange(1, 10, dtype=np.uint8).reshape(1, 3, 3) * 20
    x, fitting = fit_images([img], 255, (3, 8, 8))
    assert x.shape == (1, 3, 8, 8)
    # (8 - 3) // 2 = 2 rows above and columns left, the odd remainder (3) below and right
    for c in range(3):
        np.testing.assert_array_equal(x[0, c, 2:5, 2:5], img[0] / np.float32(255))
    assert x[0, :, :2].sum() == 0 and x[0, :, 5:].sum() == 0 and x[0, :, :, 5:].sum() == 0
    assert fitting["channels"] == "grey replicated to 3" and fitting["padded_images"] == 1
    # larger than the input: shrunk keeping its aspect ratio (16x8 -> 8x4), then padded
    big = np.ones((1, 16, 8), np.float32)
    x, fitting = fit_images([big], 1.0, (1, 8, 8))
    np.testing.assert_allclose(x[0, 0, :, 2:6], 1.0, rtol=1e-6)
    assert not x[0, 0, :, :2].any() and not x[0, 0, :, 6:].any()
    assert fitting["resized_images"] == 1
    # resize: scaled up to fit, here from 4x4 to 8x8
    x, _ = fit_images([np.ones((1, 4, 4))], 1.0, (1, 8, 8), fit="resize")
    np.testing.assert_allclose(x, 1.0)


def test_bilinear_matrix_closed_form_and_torch_antialias():
    # up by 2: [a, 3a/4 + b/4, a/4 + 3b/4, b]
    np.testing.assert_allclose(bilinear_matrix(2, 4) @ [4.0, 8.0], [4, 5, 7, 8])
    # down by 2: a triangle twice as wide, weights 1, 3, 3, 1 (/ 8) on the pixels around the
    # output's centre, cut at the edge and renormalised (3, 3, 1) / 7
    np.testing.assert_allclose(bilinear_matrix(4, 2) @ [0.0, 4, 8, 12], [20 / 7, 64 / 7], rtol=1e-6)
    img = np.random.default_rng(0).random((1, 1, 12, 10)).astype(np.float32)
    for h, w in ((5, 4), (30, 17)):
        ours = bilinear_matrix(12, h) @ img[0, 0] @ bilinear_matrix(10, w).T
        ref = torch.nn.functional.interpolate(
            torch.from_numpy(img), (h, w), mode="bilinear", align_corners=False, antialias=True
        )
        np.testing.assert_allclose(ours, ref[0, 0].numpy(), atol=1e-5)


def test_npz_and_folder_datasets(tmp_path):
    from PIL import Image

    images = np.random.default_rng(0).integers(0, 256, (10, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(10) % 2)
    ds = load_dataset(tmp_path / "d.npz", (1, 6, 6), seed=0)
    assert ds.classes == 2 and len(ds.y_test) == 2
    allx = np.concatenate([ds.x_train, ds.x_test])
    np.testing.assert_allclose(np.sort(allx.ravel()), np.sort(images.ravel() / 255), atol=1e-7)
    for cls, mode in (("b_cat", "RGBA"), ("a_dog", "L")):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            shape = (5, 7, 4) if mode == "RGBA" else (9, 9)
            Image.fromarray(np.full(shape, 51 * (i + 1), np.uint8), mode).save(
                tmp_path / "imgs" / cls / f"{i}.png"
            )
    ds = load_dataset(tmp_path / "imgs", (3, 8, 8), seed=0)
    assert ds.classes == 2 and len(ds.y_train) + len(ds.y_test) == 6
    # a_dog (class 0): grey 9x9 shrunk to 8x8, constant; b_cat: RGBA 5x7 (H x W), alpha
    # dropped, padded by 1 row above, 2 below and 1 column right
    values = {round(float(x.max()) * 255) for x in [*ds.x_train, *ds.x_test]}
    assert values == {51, 102, 153}
    for x, y in zip([*ds.x_train, *ds.x_test], [*ds.y_train, *ds.y_test], strict=True):
        if y == 0:
            assert np.ptp(x) < 1e-6
        else:
            assert np.ptp(x[:, 1:6, :7]) == 0 and x[:, 1:6, :7].min() > 0
            assert x[:, 0].max() == x[:, 6:].max() == x[:, :, 7].max() == 0
    assert ds.fitting["source_shapes"] == "2 shapes, 1x9x9 ... 3x5x7"


@pytest.mark.parametrize(
    "arrays, field, text",
    [
        ({"images": np.zeros((4, 8, 8))}, "labels", "missing array 'labels'"),
        ({"images": np.zeros((4, 8)), "labels": np.zeros(4, int)}, "images", "(N, C, H, W)"),
        ({"images": np.zeros((4, 8, 8)), "labels": np.zeros(3, int)}, "labels", "one per image"),
        ({"images": np.zeros((4, 8, 8)), "labels": np.zeros(4)}, "labels", "integers"),
        ({"images": np.zeros((4, 8, 8)), "labels": -np.ones(4, int)}, "labels", ">= 0"),
        ({"images": np.full((4, 8, 8), 2.0), "labels": np.zeros(4, int)}, "images", "[0, 1]"),
        ({"images": np.full((4, 8, 8), 300), "labels": np.zeros(4, int)}, "images", "[0, 255]"),
        ({"images": np.zeros((4, 2, 8, 8)), "labels": np.zeros(4, int)}, "images", "2 channels"),
    ],
)
def test_bad_npz_names_file_and_field(tmp_path, arrays, field, text):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ConfigError) as exc:
        load_dataset(tmp_path / "bad.npz", (3, 8, 8))
    assert exc.value.source == str(tmp_path / "bad.npz") and exc.value.field == field
    assert text in exc.value.message and "\n" not in str(exc.value)


def test_bad_folders_and_missing_sklearn(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: expected one subfolder of images per class"):
        load_dataset(tmp_path / "empty", (1, 8, 8))
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "a" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=r"x\.png: cannot read image"):
        load_dataset(tmp_path / "imgs", (1, 8, 8))
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ConfigError, match="digits: the digits dataset needs scikit-learn: pip"):
        load_dataset("digits", (1, 8, 8))


def test_missing_dataset_and_too_few_outputs(tmp_path):
    with pytest.raises(ConfigError, match="nothing.npz: cannot read file: No such file"):
        load_dataset(tmp_path / "nothing.npz", (1, 8, 8))
    net = load_network_yaml(_yaml(tmp_path, TINY.replace("out_features: 10", "out_features: 8")))
    with pytest.raises(ConfigError, match="10 classes, but network 'tiny' outputs only 8"):
        train(net, load_dataset("digits", net.input_shape), 0.1)


# --- training and checkpoints -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    net = load_network_yaml(_yaml(tmp, TINY))
    ds = load_dataset("digits", net.input_shape, seed=0)
    return net, ds, train(net, ds, epochs=1, seed=0)


def test_training_learns_and_repeats_digit_for_digit(tiny_run):
    net, ds, r = tiny_run
    assert r.accuracy > 0.85  # a 16-filter CNN after one epoch of digits
    assert r.settings["steps"] == -(-len(ds.y_train) // DEFAULTS["batch_size"])
    assert len(r.train_loss) == 1 and r.train_loss[0] < 2.0
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    again = train(net, ds, epochs=1, seed=0)
    assert (again.accuracy, again.train_loss) == (r.accuracy, r.train_loss)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (
        threads,
        det,
    )  # restored
    other = train(net, ds, epochs=1, seed=1)
    assert other.train_loss != r.train_loss


def test_fractional_epochs_and_extra_outputs(tmp_path):
    # 12 outputs, 10 classes: the first 10 are the logits
    net = load_network_yaml(
        _yaml(tmp_path, EVERY_OP.replace("input: [2, 9, 9]", "input: [1, 8, 8]"))
    )
    ds = load_dataset("digits", net.input_shape, seed=0)
    r = train(net, ds, epochs=0.25, seed=0, optimizer="adam", batch_size=64)
    assert r.settings["steps"] == round(0.25 * -(-len(ds.y_train) // 64)) == 6
    assert len(r.train_loss) == 1 and 0 <= r.accuracy <= 1 and r.settings["lr"] == 0.003
    with pytest.raises(ConfigError, match="--epochs"):
        train(net, ds, epochs=0)


def test_checkpoint_round_trip_and_wrong_network(tiny_run, tmp_path):
    net, ds, r = tiny_run
    save_checkpoint(tmp_path / "c.pt", net, r, ds)
    loaded, weights, meta = load_checkpoint(tmp_path / "c.pt", net)
    assert [n.out_shape for n in loaded.nodes] == [n.out_shape for n in net.nodes]
    assert loaded.name == net.name and meta["accuracy"] == r.accuracy
    assert meta["dataset"] == "digits" and meta["seed"] == 0
    assert all(np.array_equal(weights[k], v) for k, v in export_weights(r.module).items())
    _, module, _ = load_module(tmp_path / "c.pt")
    assert evaluate(module, ds.x_test, ds.y_test, 10) == r.accuracy
    other = load_network_yaml(_yaml(tmp_path, TINY.replace("16", "8")))
    with pytest.raises(ConfigError, match="trained for network 'tiny' .*not for 'tiny'"):
        load_checkpoint(tmp_path / "c.pt", other)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a checkpoint enasim train wrote"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="format"):
        load_checkpoint(tmp_path / "other.pt")


# --- command line ---------------------------------------------------------------------------


def test_cli_writes_checkpoint_and_metrics(tmp_path, capsys):
    path = _yaml(tmp_path, TINY)
    args = [
        "train",
        "--workload",
        str(path),
        "--epochs",
        "0.25",
        "--seed",
        "2",
        "-o",
        str(tmp_path / "out"),
    ]
    assert main(args) == 0
    assert "test top-1 accuracy" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["checkpoint.pt", "metrics.json"]
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (m["train_images"], m["test_images"], m["seed"], m["steps"]) == (1438, 359, 2, 11)
    assert m["fitting"]["values"] == "divided by 16" and len(m["train_loss"]) == 1
    _, _, meta = load_checkpoint(tmp_path / "out" / "checkpoint.pt")
    assert meta["accuracy"] == m["accuracy"]
    assert main(args) == 0  # replaces its own results


@pytest.mark.parametrize(
    "args, text",
    [
        (["--dataset", "nowhere"], "nowhere: field '--dataset': expected 'digits', an .npz"),
        (["--dataset", "nowhere.npz"], "nowhere.npz: cannot read file: No such file"),
        (["--epochs", "nan"], "field '--epochs'"),
        (["--lr", "-1"], "field '--lr'"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, args, text):
    code = main(
        ["train", "--workload", str(_yaml(tmp_path, TINY)), "-o", str(tmp_path / "o"), *args]
    )
    err = capsys.readouterr().err
    assert code == 2 and text in err and err.count("\n") == 1


def test_cli_without_torch_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    assert main(["train", "--workload", str(_yaml(tmp_path, TINY))]) == 2
    assert 'pip install "enasim[train]"' in capsys.readouterr().err


@pytest.mark.slow
def test_flash_wm1_reaches_90_percent_on_digits_in_3_epochs():
    """The issue's target network: FLASH's reference architecture (w_m = 1) at digits' 8x8."""
    net = build_densenet_flash(wm=1, image_size=8)
    r = train(net, load_dataset("digits", net.input_shape, seed=0), epochs=3, seed=0)
    assert r.accuracy >= 0.9
