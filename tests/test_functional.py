"""Functional inference: im2col and digital layers, whole networks, `.npz` I/O, `enasim infer`."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
from conftest import hw_with

from enasim.errors import ConfigError
from enasim.functional import cli as infer_cli
from enasim.functional import ops
from enasim.functional.data import random_inputs, random_weights
from enasim.functional.inference import run_inference
from enasim.functional.results import LAYER_COLUMNS
from enasim.kernels.mac_spec import MacSpec
from enasim.workload import NetworkBuilder
from enasim.workload.ir import Activation, Add, BatchNorm, Concat, Conv2d, Linear, Pool, Select


def small_net(groups: int = 1):
    """Every op kind the functional runner supports, on a 3x9x9 input."""
    b = NetworkBuilder("small", (3, 9, 9))
    b.add("c1", Conv2d(8, (3, 3), 1, 1))
    b.add("bn1", BatchNorm())
    b.add("r1", Activation("relu"))
    b.add("c2", Conv2d(8, (3, 3), 1, 1, groups=groups))
    b.add("add", Add(), ["r1", "c2"])
    b.add("r2", Activation("relu6"))
    b.add("sel", Select(5), "r1")
    b.add("cat", Concat(), ["r2", "sel"])
    b.add("pool", Pool("max", 3, 2, padding=1))
    b.add("c3", Conv2d(6, (2, 2), 2, 0))
    b.add("sig", Activation("sigmoid"))
    b.add("gap", Pool("avg", global_pool=True))
    b.add("fc", Linear(4))
    return b.build()


def direct_conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, ho, wo), np.int64)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out


@pytest.mark.parametrize("stride, pad, k", [(1, 1, 3), (2, 1, 3), (2, 0, 2), (1, 0, 1)])
def test_unrolled_conv_equals_direct_convolution(stride, pad, k):
    b = NetworkBuilder("one", (5, 7, 6))
    b.add("c", Conv2d(4, (k, k), stride, pad))
    node = b.build()["c"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (2, 5, 7, 6))
    w = rng.integers(-5, 6, ops.weight_shape(node))
    y = ops.unroll(node, x) @ ops.weight_matrix(node, w)
    assert np.array_equal(ops.fold(node, y, 2), direct_conv(x, w, stride, pad))
    assert node.weight_rows == ops.weight_matrix(node, w).shape[0]


def test_unrolled_rows_are_kernel_position_major():
    """Row (ky*kw + kx)*C + c, so NeuroSim's per-kernel-position row blocks are contiguous."""
    b = NetworkBuilder("one", (2, 3, 3))
    b.add("c", Conv2d(1, (3, 3), 1, 0))
    node = b.build()["c"]
    x = np.arange(18).reshape(1, 2, 3, 3)
    assert ops.unroll(node, x)[0].tolist() == [0, 9, 1, 10, 2, 11, 3, 12, 4, 13, 5, 14, 6, 15,
                                                7, 16, 8, 17]


def test_digital_ops():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float64).reshape(2, 3, 4, 4) - 40
    assert ops.pool(Pool("max", 2), x).shape == (2, 3, 2, 2)
    assert ops.pool(Pool("max", 2), x)[0, 0].tolist() == [[-35, -33], [-27, -25]]
    assert ops.pool(Pool("avg", 3, 1, padding=1), np.ones((1, 1, 3, 3)))[0, 0, 0, 0] == 4 / 9
    assert ops.pool(Pool("max", 3, 2, padding=1), -np.ones((1, 1, 3, 3))).max() == -1
    assert ops.pool(Pool("avg", global_pool=True), x).shape == (2, 3, 1, 1)
    assert ops.activation(Activation("relu6"), x).max() == 6
    mean, std = ops.batchnorm_params(x)
    z = (x - mean) / std
    assert np.allclose(z.mean(axis=(0, 2, 3)), 0) and np.allclose(z.std(axis=(0, 2, 3)), 1)


def _run(net, hw, seed=0, images=2, implementation="numba"):
    spec = MacSpec.from_hw(hw)
    return run_inference(net, hw, random_weights(net, spec, seed),
                         random_inputs(net, spec, images, seed), seed, implementation)


def test_ideal_crossbars_reproduce_the_exact_network():
    hw = hw_with(adc={"range_mode": "partial_rows"}, crossbar={"rows": 16, "rows_parallel": 16})
    res = _run(small_net(), hw)
    assert [r.name for r in res.layers] == ["c1", "c2", "c3", "fc"]
    for r in res.layers:
        assert r.rel_rms_error == 0 and r.e2e_rel_rms_error == 0 and r.sqnr_db == np.inf
    assert res.layers[0].row_blocks == 2  # 27 rows on 16-row arrays


def test_numba_and_reference_runs_are_identical():
    hw = hw_with(adc={"range_mode": "calibrated", "bits": 3},
                 device={"variation": "lognormal", "variation_sigma": 0.1, "on_off_ratio": 40},
                 precision={"signed_weights": "differential"})
    fast, ref = _run(small_net(), hw, seed=5), _run(small_net(), hw, seed=5, implementation="numpy")
    assert fast == ref
    assert all(r.rel_rms_error > 0 for r in fast.layers)


def test_errors_accumulate_through_the_network():
    res = _run(small_net(), hw_with(adc={"bits": 4}))
    assert res.layers[0].e2e_rel_rms_error == res.layers[0].rel_rms_error  # nothing upstream
    assert all(r.e2e_rel_rms_error > 0 for r in res.layers)


# -- enasim infer

def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    infer_cli.add_parser(p.add_subparsers())
    return p.parse_args(["infer", *argv])


def read_layers(out) -> list[dict[str, str]]:
    with (out / "layers.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_infer_vgg8_default(tmp_path, capsys):
    """The default command: vgg8 on flash_imc, one random image, a 4-bit ADC calibrated over
    7-row read phases (19 per 128-row block): LSB one cell level, output error under 0.25."""
    out = tmp_path / "res"
    assert infer_cli.run(parse("-o", str(out))) == 0
    printed = capsys.readouterr().out
    assert "vgg8 on flash_imc" in printed and "conv6" in printed
    rows = read_layers(out)
    assert list(rows[0]) == LAYER_COLUMNS
    assert [r["name"] for r in rows] == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6",
                                         "fc7", "fc8"]
    assert [int(r["vectors"]) for r in rows] == [1024, 1024, 256, 256, 64, 64, 1, 1]
    assert [int(r["row_blocks"]) for r in rows] == [1, 9, 9, 18, 18, 36, 64, 8]
    assert all(int(r["adc_step"]) == 1 and float(r["clipped_fraction"]) < 1e-3 for r in rows)
    conv2 = rows[1]
    assert int(conv2["read_phases"]) == 9 * 19
    assert int(conv2["adc_conversions"]) == 1024 * 8 * 9 * 19 * 128 * 4
    assert float(rows[-1]["e2e_rel_rms_error"]) <= 0.25
    assert 0 < float(conv2["input_bit_density"]) < 1
    assert float(conv2["adc_energy_pj"]) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["workload"] == "vgg8" and summary["seed"] == 0
    assert summary["adc_conversions"] == sum(int(r["adc_conversions"]) for r in rows)


TINY_WORKLOAD = """name: tiny
input: [3, 16, 16]
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: relu1, op: activation}
  - {name: pool1, op: pool, mode: max, kernel: 2}
  - {name: conv2, op: conv2d, out_channels: 32, kernel: 3, padding: 1}
  - {name: relu2, op: activation}
  - {name: fc, op: linear, out_features: 10}
"""


def test_infer_is_deterministic_and_seeded(tmp_path):
    hw = tmp_path / "hw.yaml"
    hw.write_text("extends: flash_imc\nadc: {range_mode: calibrated}\ndevice: {variation: normal, "
                  "variation_sigma: 0.05}\n")
    workload = tmp_path / "tiny.yaml"
    workload.write_text(TINY_WORKLOAD)
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        infer_cli.run(parse("--hw", str(hw), "--workload", str(workload), "--seed", seed,
                            "--images", "3", "--quiet", "-o", str(tmp_path / name)))
    a, b, c = ((tmp_path / n / "layers.csv").read_bytes() for n in "abc")
    assert a == b and a != c


def test_infer_with_npz_weights_and_inputs(tmp_path):
    from enasim.workload import load_workload

    net = load_workload("vgg8")
    spec = MacSpec.from_hw(hw_with())
    np.savez(tmp_path / "w.npz", **random_weights(net, spec, 9))
    np.savez(tmp_path / "x.npz", input=random_inputs(net, spec, 2, 9))
    infer_cli.run(parse("--seed", "9", "--images", "2", "--quiet", "-o", str(tmp_path / "r")))
    infer_cli.run(parse("--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.npz"),
                        "--seed", "9", "--quiet", "-o", str(tmp_path / "f")))
    assert read_layers(tmp_path / "r") == read_layers(tmp_path / "f")
    summary = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert summary["images"] == 2 and summary["weights"].endswith("w.npz")


def _bad_npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


def test_infer_bad_npz(tmp_path):
    from enasim.workload import load_workload

    net = load_workload("vgg8")
    w = random_weights(net, MacSpec.from_hw(hw_with()), 0)

    def error(**kw) -> ConfigError:
        with pytest.raises(ConfigError) as exc:
            infer_cli.run(parse(*[a for k, v in kw.items() for a in (f"--{k}", v)],
                                "-o", str(tmp_path / "o")))
        return exc.value

    e = error(weights=_bad_npz(tmp_path, **{**w, "conv1": w["conv1"] * 2}))
    assert e.field == "conv1" and "weight_bits 8" in e.message and "[-128, 127]" in e.message
    e = error(weights=_bad_npz(tmp_path, **{**w, "conv2": w["conv2"][:, :5]}))
    assert e.field == "conv2" and "(128, 128, 3, 3)" in e.message
    del w["fc8"]
    e = error(weights=_bad_npz(tmp_path, **w))
    assert e.field == "fc8" and "missing" in e.message
    e = error(weights=_bad_npz(tmp_path, **w, conv9=np.zeros(2)))
    assert e.field == "conv9" and "weight layers" in e.message
    e = error(inputs=_bad_npz(tmp_path, image=np.zeros((1, 3, 32, 32), np.int64)))
    assert e.field == "input" and "missing" in e.message
    e = error(inputs=_bad_npz(tmp_path, input=np.full((1, 3, 32, 32), 256)))
    assert "input_bits 8" in e.message
    e = error(inputs=_bad_npz(tmp_path, input=np.zeros((3, 32, 32), np.int64)), images="2")
    assert "--images is 2" in e.message
    e = error(images="0")
    assert e.field == "--images"
    (tmp_path / "junk.npz").write_text("not a zip")
    e = error(weights=str(tmp_path / "junk.npz"))
    assert "not an .npz file" in e.message and "junk.npz" in str(e)


def test_infer_parser_flags():
    args = parse()
    assert (args.workload, args.images, args.seed, args.out, args.weights, args.inputs,
            args.quiet) == ("vgg8", None, 0, None, None, None, False)
    assert args.hw == "flash_imc"


def test_measured_activity_sets_the_engines_adc_energy(tmp_path):
    """--activity measured: each layer's ADC energy is the functional run's measured energy
    (conversions x NeuroSim energy at the measured rows driven per block), per vector; the
    analytical model and the engine agree, and timing does not change."""
    from enasim.analytical import run_analytical
    from enasim.config import load
    from enasim.cost.adc import activity_adc_energy_pj
    from enasim.functional.data import weights_and_images
    from enasim.functional.inference import run_inference
    from enasim.mapping import map_network
    from enasim.sim import Simulator
    from enasim.workload import load_workload

    hw, net = load("flash_imc"), load_workload("vgg8")
    weights, images = weights_and_images(net, hw, None, None, 1, seed=3)
    activity = run_inference(net, hw, weights, images, 3).activity()
    m = map_network(net, hw)
    measured = run_analytical(m, activity)
    assumed = run_analytical(m)
    sim = Simulator(m, noc_model="ideal", activity=activity).run()
    for lm, lm_s, la, ls in zip(m.layers, measured.layers, assumed.layers, sim.layers,
                                strict=True):
        act = activity[lm.name]
        per_vector = activity_adc_energy_pj(hw, act.block_conversions,
                                            act.block_active_rows) / act.vectors
        assert lm_s.energy_pj["adc"] == pytest.approx(per_vector * lm.vectors)
        assert lm_s.energy_pj["adc"] != pytest.approx(la.energy_pj["adc"])
        assert ls.energy_pj == pytest.approx(lm_s.energy_pj)
        assert lm_s.latency_cycles == la.latency_cycles


def test_run_activity_flags(tmp_path, capsys):
    from enasim.cli import main

    assert main(["run", "--weights", "w.npz", "-o", str(tmp_path)]) == 2
    assert "--weights" in capsys.readouterr().err
    assert main(["run", "--engine", "analytical", "--activity", "measured", "--images", "0",
                 "-o", str(tmp_path)]) == 2
