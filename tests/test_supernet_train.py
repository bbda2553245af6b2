"""SPOS / FairNAS supernet training (`enasim enasa train`) and `enasa run --fitness
supernet:CKPT`: the supernet's paths are the sub-nets `Supernet.build` describes, the two
sampling rules, seeded training, fitness with inherited weights end to end, bad checkpoints.
Supernets here are narrow (x0.25) at 16x16 and train for a step or two."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from enasim.cli import main  # noqa: E402
from enasim.errors import ConfigError  # noqa: E402
from enasim.nas.enasa import supernet_train as st  # noqa: E402
from enasim.nas.spaces import fairnas, spos  # noqa: E402
from enasim.nas.spaces.supernet import scale_channels  # noqa: E402
from enasim.train.data import load_dataset  # noqa: E402
from enasim.train.module import NetworkModule  # noqa: E402

SMALL = {"width_mult": 0.25, "image_size": 16, "classes": 10}


def _net(space):
    return st.scaled_supernet(space, SMALL["width_mult"], SMALL["image_size"], SMALL["classes"])


def _archs(net, n=2, seed=1):
    rng = random.Random(seed)
    return [tuple(rng.randrange(net.num_choices) for _ in range(net.num_layers)) for _ in range(n)]


@pytest.fixture(scope="module")
def digits16():
    return load_dataset("digits", (3, 16, 16), 0, "resize")


def test_width_one_is_the_reference_supernet_and_the_width_rule():
    for space, ref in (("spos", spos.SPOS), ("fairnas", fairnas.FAIRNAS)):
        assert st.BUILDERS[space]().all_ops == ref.all_ops
    # nearest multiple of 8, at least 8, never below 90 % (MobileNet's _make_divisible)
    assert [scale_channels(c, 0.25) for c in (16, 40, 64, 80, 96, 160, 1024)] == [
        8,
        16,
        16,
        24,
        24,
        40,
        256,
    ]
    assert all(
        scale_channels(c, w) % 8 == 0 and scale_channels(c, w) >= 8
        for c in range(1, 700, 7)
        for w in (0.1, 0.3, 0.5, 1.7)
    )


@pytest.mark.parametrize("space", ["spos", "fairnas"])
def test_supernet_path_has_the_subnets_shapes_and_parameters(space):
    """The path of `arch` in the supernet has exactly the parameters of the stand-alone
    sub-net `build(arch, batchnorm=True)` (conv/FC weights = `weights(arch)` at the scaled
    widths), and the same output shape; every map is at least 1x1."""
    net = _net(space)
    module = st.SupernetModule(net)
    x = torch.rand(2, 3, 16, 16)
    assert min(op.h_out for op in net.all_ops) >= 1
    for arch in _archs(net):
        sub = NetworkModule(net.build(arch, batchnorm=True))
        path = st.SupernetModule.path_modules(module, arch)
        assert (
            sum(p.numel() for m in path for p in m.parameters())
            == sum(p.numel() for p in sub.parameters())
            == net.params(arch)
        )
        assert sum(m.conv.weight.numel() for m in path) == net.weights(arch)
        assert module(x, arch).shape == sub(x).shape == (2, 10)
    total = sum(p.numel() for p in module.parameters())
    assert total == net.total_weights + sum(o.c_out for o in net.all_ops if o.bias) + 2 * sum(
        o.c_out for o in net.all_ops if o.kind != "linear"
    )


def test_fairnas_path_computes_the_ir_subnet():
    """Differential: the FairNAS path's weights copied into the IR sub-net's module give the
    same outputs (eval mode, running statistics included)."""
    net = _net("fairnas")
    torch.manual_seed(0)
    module = st.SupernetModule(net)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    module.eval()
    x = torch.rand(3, 3, 16, 16)
    for arch in _archs(net):
        sub = NetworkModule(net.build(arch, batchnorm=True)).eval()
        layers = dict(zip((n.name for n in sub.network.nodes[1:]), sub.layers, strict=True))
        for op in net.subnet_ops(arch):
            name = op.key if op.layer is None else f"L{op.layer}.{op.name}"
            src = module.op(op)
            layers[name].load_state_dict(src.conv.state_dict())
            if src.bn is not None:
                layers[f"{name}.bn"].load_state_dict(src.bn.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(module(x, arch), sub(x), rtol=1e-5, atol=1e-5)


def test_fairnas_steps_use_every_choice_once_and_spos_draws_uniformly():
    net = _net("fairnas")
    rng = random.Random(3)
    for _ in range(20):
        archs = st.fairnas_archs(rng, net)
        assert len(archs) == net.num_choices
        for layer in range(net.num_layers):
            assert sorted(a[layer] for a in archs) == list(range(net.num_choices))
    net = _net("spos")
    rng, n = random.Random(4), 4000
    counts = Counter(
        (layer, c) for _ in range(n) for a in st.spos_archs(rng, net) for layer, c in enumerate(a)
    )
    expect, sigma = n / 4, (n * 0.25 * 0.75) ** 0.5
    assert len(counts) == net.num_layers * net.num_choices
    assert all(abs(v - expect) < 4 * sigma for v in counts.values())


@pytest.mark.parametrize("method", ["spos", "fairnas"])
def test_one_step_updates_exactly_the_sampled_operators(digits16, method):
    """One step (a 1/45 epoch): fairnas updates every choice of every layer, spos only the
    path of its uniformly drawn architecture."""
    net = _net("fairnas")
    init = st.train_supernet(net, digits16, method, 1e-6, seed=5).module  # 1 step
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        fresh = st.SupernetModule(net)
        st.init_supernet(fresh)
    sampled = st.SAMPLERS[method](random.Random(5), net)
    used = {op.key for a in sampled for op in net.subnet_ops(a)}
    for op in net.all_ops:
        changed = not torch.equal(init.op(op).conv.weight, fresh.op(op).conv.weight)
        assert changed == (op.key in used), op.key
    if method == "fairnas":
        assert used == {op.key for op in net.all_ops}


def _merging(net, layer):
    if net.name == "spos":
        return not any(op.name.startswith("branch_proj") for op in net.layers[layer][0].ops)
    return fairnas.residual(layer)


@pytest.mark.parametrize("space", ["spos", "fairnas"])
def test_zero_gamma_blocks_that_merge_with_their_input_start_as_pass_throughs(space):
    """init_supernet: every block merging with its input (SPOS stride-1, FairNAS residual)
    starts with a zero branch, so at initialisation the choices of those layers do not change
    the output, while a choice of any other layer does."""
    net = _net(space)
    torch.manual_seed(0)
    module = st.SupernetModule(net)
    st.init_supernet(module)
    module.eval()
    merging = [layer for layer in range(net.num_layers) if _merging(net, layer)]
    assert 0 < len(merging) < net.num_layers
    last = net.num_choices - 1
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        base = module(x, (0,) * net.num_layers)
        others = module(x, tuple(last if ly in merging else 0 for ly in range(net.num_layers)))
        first = next(ly for ly in range(net.num_layers) if ly not in merging)
        replaced = module(x, tuple(last if ly == first else 0 for ly in range(net.num_layers)))
    assert torch.equal(base, others)
    assert not torch.allclose(base, replaced)
    for layer, blocks in enumerate(net.layers):
        for block in blocks:
            bns = [module.op(op).bn for op in block.ops]
            zeros = [bool((bn.weight == 0).all()) for bn in bns]
            assert sum(zeros) == (1 if _merging(net, layer) else 0)


def test_training_is_deterministic(digits16):
    a = st.train_supernet(_net("spos"), digits16, "spos", 0.05, seed=2)
    b = st.train_supernet(_net("spos"), digits16, "spos", 0.05, seed=2)
    assert a.settings["steps"] == 2 and a.train_loss == b.train_loss
    sa, sb = a.module.state_dict(), b.module.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    c = st.train_supernet(_net("spos"), digits16, "spos", 0.05, seed=3)
    assert c.train_loss != a.train_loss


@pytest.fixture(scope="module")
def spos_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("supernet") / "spos"
    assert (
        main(
            [
                "enasa",
                "train",
                "--space",
                "spos",
                "--width-mult",
                "0.25",
                "--image-size",
                "16",
                "--epochs",
                "0.05",
                "--seed",
                "1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_cli_train_writes_checkpoint_and_metrics(spos_ckpt):
    meta = json.loads((spos_ckpt / "metrics.json").read_text())
    assert (meta["space"], meta["method"], meta["width_mult"], meta["image_size"]) == (
        "spos",
        "spos",
        0.25,
        16,
    )
    assert (meta["dataset"], meta["seed"], meta["steps"]) == ("digits", 1, 2)
    assert len(meta["train_loss"]) == 1
    module, loaded = st.load_supernet(spos_ckpt / "checkpoint.pt")
    assert loaded == meta and module.net.all_ops == _net("spos").all_ops


def test_enasa_run_with_supernet_fitness_end_to_end(spos_ckpt, tmp_path, capsys):
    ckpt = spos_ckpt / "checkpoint.pt"
    out = tmp_path / "run"
    args = [
        "enasa",
        "run",
        "--fitness",
        f"supernet:{ckpt}",
        "--generations",
        "0",
        "--population",
        "4",
        "--noc",
        "ideal",
        "--no-baselines",
        "--workers",
        "1",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    # two steps of training: the search is told its fitness is noise
    assert f"enasim: warning: {ckpt}: the supernet did not learn" in capsys.readouterr().err
    state = json.loads((out / "checkpoint.json").read_text())
    evaluated = state["state"]["evaluated"]
    assert len(evaluated) == 4
    assert state["identity"]["fitness_identity"] == st.file_sha256(ckpt)
    direct = st.SupernetFitness(ckpt, "spos")
    for arch, fit in evaluated.items():
        assert fit == direct("spos", tuple(map(int, arch)))
        assert 0 <= fit <= 100 and fit * len(direct.dataset.y_test) / 100 == pytest.approx(
            round(fit * len(direct.dataset.y_test) / 100)
        )
    assert direct.cache and direct("spos", tuple(map(int, arch))) == fit  # cached
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["fitness"] == max(evaluated.values())
    capsys.readouterr()
    assert main(args) == 0  # resumes: nothing recomputed, same result
    assert "resuming after generation 0" in capsys.readouterr().out


def test_near_chance_flags_a_supernet_whose_loss_stayed_at_a_uniform_guess():
    assert st.near_chance({"train_loss": [2.36, 2.30], "classes": 10}).startswith(
        "the supernet did not learn (last epoch's training loss 2.300, a uniform guess 2.303)"
    )
    assert st.near_chance({"train_loss": [2.36, 2.0], "classes": 10}) is None
    assert st.near_chance({"train_loss": [0.65], "classes": 2}) is not None  # ln 2 = 0.69


def test_bad_checkpoints_exit_2(spos_ckpt, tmp_path, capsys):
    fair = tmp_path / "fair"
    assert (
        main(
            [
                "enasa",
                "train",
                "--space",
                "fairnas",
                "--width-mult",
                "0.25",
                "--image-size",
                "16",
                "--epochs",
                "0.01",
                "-o",
                str(fair),
            ]
        )
        == 0
    )
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    cut = tmp_path / "cut.pt"
    cut.write_bytes((spos_ckpt / "checkpoint.pt").read_bytes()[:2000])
    cases = [
        (fair / "checkpoint.pt", "a fairnas supernet cannot rate spos sub-nets"),
        (tmp_path / "missing.pt", "no such file"),
        (junk, "not a supernet checkpoint"),
        (cut, "not a supernet checkpoint"),
        (tmp_path, "is a directory"),
    ]
    for path, text in cases:
        capsys.readouterr()
        assert (
            main(
                [
                    "enasa",
                    "run",
                    "--fitness",
                    f"supernet:{path}",
                    "--generations",
                    "0",
                    "--population",
                    "4",
                    "--noc",
                    "ideal",
                    "-o",
                    str(tmp_path / "r"),
                ]
            )
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert text in err and len(err.splitlines()) == 1, err
    with pytest.raises(ConfigError, match="--width-mult"):
        st.scaled_supernet("spos", 0.0, 32, 10)
    with pytest.raises(ConfigError, match="0.125 leaves spos's L0.c0.branch_main.5 without"):
        st.scaled_supernet("spos", 0.125, 32, 10)
    capsys.readouterr()
    assert (
        main(["enasa", "train", "--space", "spos", "--method", "nope", "-o", str(tmp_path / "t")])
        == 2
    )


@pytest.mark.slow
def test_default_recipe_trains_a_spos_supernet_whose_subnets_classify():
    """`enasim enasa train --space spos` at its defaults (60 epochs of digits at 32x32, about
    4 minutes): inherited-weight sub-nets classify far above chance (10 %); measured 68-77 %
    (docs/nas.md)."""
    dataset = load_dataset("digits", (3, 32, 32), 0, "resize")
    net = st.scaled_supernet("spos", 0.25, 32, dataset.classes)
    run = st.train_supernet(net, dataset, "spos", st.EPOCHS, 0)
    assert run.train_loss[-1] < 1.5 < 2.2 < run.train_loss[0]
    accuracies = [st.subnet_accuracy(run.module, a, dataset, 0) for a in _archs(net, 4)]
    assert min(accuracies) > 0.4, accuracies
