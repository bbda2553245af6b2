"""CIM-aware accuracy (`enasim infer --weights CHECKPOINT --dataset D`, issue 25 item 5): a
tiny network trained half an epoch on digits, scored as a float, an integer-quantised and a
crossbar model."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from enasim.cli import main  # noqa: E402
from enasim.config.loader import load_option  # noqa: E402
from enasim.functional.inference import run_inference  # noqa: E402
from enasim.functional.trained import crossbar_accuracy, quantise, top1  # noqa: E402
from enasim.train import evaluate, load_dataset, save_checkpoint, train  # noqa: E402
from enasim.train.trainer import deterministic  # noqa: E402
from enasim.workload.yaml_format import load_network_yaml  # noqa: E402

# fc reads batch-normed values without a ReLU: negative inputs (signed, a second pass); conv2
# and fc have biases
NET = """\
name: tiny_signed
input: [1, 8, 8]
layers:
  - {name: conv1, op: conv2d, out_channels: 12, kernel: 3, padding: 1}
  - {name: bn1, op: batchnorm}
  - {name: relu1, op: activation}
  - {name: pool1, op: pool, mode: max, kernel: 2}
  - {name: conv2, op: conv2d, out_channels: 12, kernel: 3, padding: 1, bias: true}
  - {name: bn2, op: batchnorm}
  - {name: fc, op: linear, out_features: 10, bias: true}
"""
IMAGES = 120


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("acc")
    (tmp / "net.yaml").write_text(NET)
    net = load_network_yaml(tmp / "net.yaml")
    data = load_dataset("digits", net.input_shape, seed=0)
    result = train(net, data, epochs=0.5, seed=0)
    save_checkpoint(tmp / "checkpoint.pt", net, result, data)
    return tmp, net, data, result


def _hw(*sets):
    return load_option("flash_imc", list(sets))[0]


def _infer(tmp, *args):
    return main(
        [
            "infer",
            "--weights",
            str(tmp / "checkpoint.pt"),
            "--dataset",
            "digits",
            "--images",
            str(IMAGES),
            *args,
        ]
    )


def test_cli_reports_float_quantised_and_crossbar_accuracy(trained, capsys):
    tmp, net, data, result = trained
    out = tmp / "run"
    assert _infer(tmp, "--adc-bits", "2,4", "-o", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"{IMAGES} of {len(data.y_test)} test images of digits" in printed
    s = json.loads((out / "summary.json").read_text())
    with deterministic(1):
        want = evaluate(result.module, data.x_test[:IMAGES], data.y_test[:IMAGES], data.classes)
    assert s["accuracy_float"] == want and s["images"] == IMAGES
    assert set(s["accuracy_crossbar"]) == {"full", "calibrated", "partial_rows"}
    # flash_imc has ideal cells: the exact partial_rows ADC reproduces the integer model
    assert s["accuracy_crossbar"]["partial_rows"] == s["accuracy_quantised"]
    rows = (out / "layers.csv").read_text().splitlines()
    assert rows[0].startswith("range_mode,layer,name") and len(rows) == 1 + 3 * 3
    fc = [r.split(",") for r in rows if ",fc," in r][0]
    assert int(fc[-2]) > 0  # fc's negative inputs counted (and run as a second pass)
    sweep = (out / "accuracy_vs_adc_bits.csv").read_text().splitlines()
    assert sweep[0] == "bits,mode,accuracy" and len(sweep) == 1 + 2 * 3
    at4 = {r.split(",")[1]: float(r.split(",")[2]) for r in sweep if r.startswith("4,")}
    assert at4 == pytest.approx(s["accuracy_crossbar"])  # flash_imc's 4-bit ADC, reused
    assert (out / "accuracy_vs_adc_bits.png").read_bytes()[:4] == b"\x89PNG"


def test_exact_adc_with_ideal_cells_equals_the_quantised_model(trained):
    _, net, data, result = trained
    hw = _hw("adc.range_mode=partial_rows")
    params = quantise(net, result.module, 8, 8, data.x_train)
    run = crossbar_accuracy(net, hw, params, data.x_test[:IMAGES], data.y_test[:IMAGES], 10)
    assert np.array_equal(run.result.output_cim, run.result.output_exact)
    assert run.accuracy_crossbar == run.accuracy_quantised
    assert all(r.rel_rms_error == 0 for r in run.result.layers)


def test_16_bit_quantised_model_matches_the_float_model(trained):
    _, net, data, result = trained
    hw = _hw(
        "precision.weight_bits=16",
        "precision.input_bits=16",
        "crossbar.cell_bits=4",
        "adc.bits=8",
        "adc.range_mode=partial_rows",
    )
    params = quantise(net, result.module, 16, 16, data.x_train)
    x, y = data.x_test[:IMAGES], data.y_test[:IMAGES]
    # the numpy reference kernels: Numba would compile a kernel for the wide sums first
    res = run_inference(net, hw, params.weights, x, trained=params, implementation="numpy")
    assert np.array_equal(res.output_cim, res.output_exact)
    with torch.no_grad():
        logits = result.module(torch.from_numpy(x)).double().numpy()
    # fc reads signed inputs: clipping them at 0 would be far off
    assert np.abs(res.output_exact - logits).max() < 2e-3 * np.abs(logits).max()
    with deterministic(1):
        want = evaluate(result.module, x, y, data.classes)
    assert abs(top1(res.output_exact, y, 10) - want) <= 1 / IMAGES


def test_coarse_full_range_adc_costs_accuracy(trained):
    _, net, data, result = trained
    params = quantise(net, result.module, 8, 8, data.x_train)
    x, y = data.x_test[:IMAGES], data.y_test[:IMAGES]
    full = crossbar_accuracy(net, _hw("adc.bits=2", "adc.range_mode=full"), params, x, y, 10)
    exact = crossbar_accuracy(
        net, _hw("adc.bits=2", "adc.range_mode=partial_rows"), params, x, y, 10
    )
    assert full.accuracy_crossbar < exact.accuracy_crossbar == exact.accuracy_quantised


def test_device_variation_is_seeded(trained, tmp_path):
    tmp = trained[0]
    noisy = [
        "--set",
        "device.variation=lognormal",
        "--set",
        "device.variation_sigma=0.3",
        "--modes",
        "calibrated",
        "--adc-bits",
        "3,5",
        "--images",
        "40",
        "--quiet",
    ]
    for name in ("a", "b"):
        assert _infer(tmp, *noisy, "-o", str(tmp_path / name)) == 0
    assert _infer(tmp, *noisy, "--seed", "1", "-o", str(tmp_path / "c")) == 0
    files = ("summary.json", "layers.csv", "accuracy_vs_adc_bits.csv", "accuracy_vs_adc_bits.png")
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a" / "layers.csv").read_bytes() != (
        tmp_path / "c" / "layers.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    "args, text",
    [
        (["--workload", "vgg8"], "field 'network': trained for network 'tiny_signed'"),
        (["--dataset", "{npz}"], "12 classes, but network 'tiny_signed' outputs only 10"),
        (["--modes", "full,half"], "field '--modes': expected a comma-separated list"),
        (["--adc-bits", "4,x"], "field '--adc-bits': expected comma-separated integers"),
        (["--adc-bits", "1"], "'partial_rows' needs adc.bits >= crossbar.cell_bits"),
        (["--images", "1000"], "field '--images': the test split holds 359 images"),
        (["--inputs", "x.npz"], "field '--inputs': expected no --inputs with --dataset"),
    ],
)
def test_bad_input_exits_2_with_one_line(trained, tmp_path, capsys, args, text):
    tmp = trained[0]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.random((48, 8, 8)), labels=np.arange(48) % 12)
    args = [a.replace("{npz}", str(tmp_path / "d.npz")) for a in args]
    code = main(
        [
            "infer",
            "--weights",
            str(tmp / "checkpoint.pt"),
            "--dataset",
            "digits",
            "-o",
            str(tmp_path / "o"),
            *args,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and text in err and err.count("\n") == 1


def test_checkpoint_without_dataset_exits_2(trained, tmp_path, capsys):
    code = main(
        ["infer", "--weights", str(trained[0] / "checkpoint.pt"), "-o", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "needs --dataset" in err and err.count("\n") == 1
