"""Bad input gets a clear error naming the file, the field and what was expected."""

from __future__ import annotations

import pytest
from conftest import hw_with

from enasim.cli import main
from enasim.config import load
from enasim.errors import ConfigError, EnasimError
from enasim.mapping import MappingError, map_network
from enasim.workload import load_workload
from enasim.workload.yaml_format import load_network_yaml


def _hw_error(tmp_path, text: str, base: str = "extends: flash_imc\n") -> ConfigError:
    path = tmp_path / "bad.yaml"
    path.write_text(base + text)
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert str(path) in str(exc.value)
    return exc.value


@pytest.mark.parametrize("text, field, expected", [
    ("crossbar: {rowz: 128}\n", "crossbar.rowz", "did you mean 'rows'"),
    ("adcs: {bits: 4}\n", "adcs", "did you mean 'adc'"),
    ("crossbar: {rows: many}\n", "crossbar.rows", "integer"),
    ("crossbar: {rows: 12.5}\n", "crossbar.rows", "integer"),
    ("crossbar: {rows: 0}\n", "crossbar.rows", ">= 1"),
    ("crossbar: {rows: 1000000000000}\n", "crossbar.rows", "<= 4096"),
    ("noc: {mesh_rows: 2000, mesh_cols: 2000}\n", "noc.mesh_rows", "<= 128"),
    ("tile: {input_buffer: {port_bits: 1048576}}\n", "tile.input_buffer.port_bits", "<= 65536"),
    ("noc: {link_delay: 100000}\n", "noc.link_delay", "<= 1024"),
    ("clock: {period_ns: 0}\n", "clock.period_ns", "> 0"),
    ("adc: {bits: 17}\n", "adc.bits", "<= 16"),
    ("adc: {bits: 0}\n", "adc.bits", ">= 1"),
    ("adc: {energy_model: magic}\n", "adc.energy_model", "neurosim"),
    ("execution: {mode: async}\n", "execution.mode", "layer_by_layer"),
    ("neurosim_compat: {unpadded_vectors: maybe}\n", "neurosim_compat.unpadded_vectors",
     "true or false"),
    ("crossbar: 128\n", "crossbar", "mapping"),
    ("adc: {cols_per_adc: 256}\n", "adc.cols_per_adc", "at most crossbar.cols"),
    ("crossbar: {rows_parallel: 256}\n", "crossbar.rows_parallel", "at most crossbar.rows"),
    ("crossbar: {r_on_ohm: 1e6, r_off_ohm: 1e5}\n", "crossbar.r_off_ohm", "more than r_on_ohm"),
    ("adc: {energy_model: table}\n", "adc.table_energy_pj", "> 0"),
    ("mapping: {scheme: neurosim}\ncrossbar: {rows: 96, rows_parallel: 96}\n"
     "ce: {pes_per_ce: auto}\ntile: {ces_per_tile: auto}\n", "crossbar.rows", "powers of two"),
    ("mapping: {scheme: neurosim}\n", "ce.pes_per_ce", "'auto'"),
    ("ce: {pes_per_ce: auto}\n", "ce.pes_per_ce", "needs mapping.scheme 'neurosim'"),
    ("ce: {pes_per_ce: lots}\n", "ce.pes_per_ce", "'auto'"),
    ("noc: {mesh_rows: 4}\n", "noc.mesh_cols", "both"),
])
def test_hwconfig_errors_name_the_field(tmp_path, text, field, expected):
    err = _hw_error(tmp_path, text)
    assert err.field == field
    assert expected in err.message


def test_malformed_yaml_reports_the_line(tmp_path):
    err = _hw_error(tmp_path, "crossbar:\n  rows: 128\n  cols: [128\n")
    assert "line" in str(err)


def test_hwconfig_top_level_not_a_mapping(tmp_path):
    err = _hw_error(tmp_path, "- 1\n- 2\n", base="")
    assert "mapping" in str(err)


def test_missing_hwconfig_file(tmp_path):
    with pytest.raises(EnasimError, match="no_such.yaml"):
        load(tmp_path / "no_such.yaml")


def _wl_error(tmp_path, layers: str, header: str = "input: [3, 8, 8]\n") -> ConfigError:
    path = tmp_path / "net.yaml"
    path.write_text(f"name: net\n{header}layers:\n{layers}")
    with pytest.raises(ConfigError) as exc:
        load_network_yaml(path)
    assert str(path) in str(exc.value)
    return exc.value


@pytest.mark.parametrize("layers, field, expected", [
    ("  - {name: c, op: conv3d, out_channels: 4, kernel: 3}\n", "layers[0] (c).op", "conv2d"),
    ("  - {name: c, op: conv2d, out_channel: 4, kernel: 3}\n", "layers[0] (c).out_channel",
     "did you mean 'out_channels'"),
    ("  - {name: c, op: conv2d, kernel: 3}\n", "layers[0] (c).out_channels", "required"),
    ("  - {name: c, op: conv2d, out_channels: 4, kernel: 9}\n", "layers[0] (c)",
     "shape mismatch"),
    ("  - {name: c, op: conv2d, out_channels: 4, kernel: 3, in_channels: 5}\n",
     "layers[0] (c)", "shape mismatch"),
    ("  - {name: c, op: conv2d, out_channels: 4, kernel: 3}\n"
     "  - {name: c, op: linear, out_features: 2}\n", "layers[1] (c)", "duplicate"),
    ("  - {name: c, op: conv2d, out_channels: 4, kernel: 3}\n"
     "  - {name: f, op: linear, out_features: 2, inputs: [cc]}\n", "layers[1] (f)",
     "did you mean 'c'"),
    ("  - {name: a, op: conv2d, out_channels: 4, kernel: 3}\n"
     "  - {name: b, op: conv2d, out_channels: 8, kernel: 3, inputs: [input]}\n"
     "  - {name: s, op: add, inputs: [a, b]}\n", "layers[2] (s)", "shape mismatch"),
    ("  - {name: s, op: add}\n", "layers[0] (s)", "two or more inputs"),
    ("  - {name: r, op: activation, function: softplus}\n", "layers[0] (r).function", "relu"),
    ("  - {name: p, op: pool, mode: median}\n", "layers[0] (p).mode", "max"),
    ("  - {name: r, op: activation}\n", "layers", "no conv2d or linear"),
    ("  - {name: s, op: select, channels: 5}\n", "layers[0] (s)", "cannot select 5 of 3"),
])
def test_workload_errors_name_the_layer(tmp_path, layers, field, expected):
    err = _wl_error(tmp_path, layers)
    assert err.field == field
    assert expected in err.message


@pytest.mark.parametrize("header, field", [
    ("input: [3, 8]\n", "input"),
    ("input: [3, 0, 8]\n", "input[1]"),
])
def test_workload_bad_input_shape(tmp_path, header, field):
    err = _wl_error(tmp_path, "  - {name: f, op: linear, out_features: 2}\n", header)
    assert err.field == field


def test_unknown_zoo_name_suggests_and_lists():
    with pytest.raises(ConfigError, match=r"did you mean 'vgg8'.*valid zoo names"):
        load_workload("vgg9")


def test_mesh_too_small_for_the_workload():
    hw = hw_with(noc={"mesh_rows": 2, "mesh_cols": 2})
    with pytest.raises(MappingError, match="tiles but the chip has 4"):
        map_network(load_workload("vgg8"), hw)


@pytest.mark.parametrize("argv", [
    ["run", "--hw", "no_such_config", "--quiet"],
    ["run", "--workload", "vgg9", "--quiet"],
    ["config", "check", "no_such_config.yaml"],
    ["workload", "show", "no_such_workload"],
])
def test_cli_exits_2_with_one_line_and_no_traceback(argv, capsys, tmp_path):
    assert main([*argv, *(["-o", str(tmp_path)] if argv[0] == "run" else [])]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().startswith("enasim: error") or "error" in err.lower()


# --- every input file: text, size, nesting, aliases, duplicate keys, non-finite numbers -----


def _write(tmp_path, name: str, data: str | bytes):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_non_utf8_hwconfig_names_the_byte(tmp_path, capsys):
    path = _write(tmp_path, "hw.yaml", b"extends: flash_imc\nname: caf\xe9\n")
    err = _one_line_error(["config", "check", str(path)], capsys)
    assert f"{path}: not UTF-8 text (byte 28, line 2: 0xe9)" in err


def test_byte_order_mark_is_dropped(tmp_path):
    assert load(_write(tmp_path, "hw.yaml", "\ufeffextends: flash_imc\n")).name == "hw"


def test_oversized_hwconfig_is_refused_at_once(tmp_path):
    path = _write(tmp_path, "big.yaml", "extends: flash_imc\n" + "#" * (1 << 20))
    with pytest.raises(ConfigError, match="larger than 1 MB, the limit for a hwconfig"):
        load(path)


@pytest.mark.parametrize("text, expected", [
    ("[" * 100_000, "line 1, column 65: nested deeper than 64 levels"),
    ("a: &x [1, 2]\nb: [*x, *x]\n", "line 2, column 5: alias *x: aliases are not supported"),
    ("crossbar: {rows: 64}\ncrossbar: {cols: 64}\n",
     "line 2, column 1: duplicate key 'crossbar' (first at line 1)"),
    ("crossbar:\n  rows: 64\n  rows: 128\n", "line 3, column 3: duplicate key 'rows'"),
    ("a: 2024-13-01\n", "month must be in 1..12"),
    ("a: " + "9" * 5000 + "\n", "Exceeds the limit (4300 digits)"),
])
def test_yaml_structure_limits(tmp_path, text, expected):
    err = _hw_error(tmp_path, text, base="")
    assert err.message.startswith("malformed YAML") and expected in err.message, err


def test_billion_laughs_is_refused_quickly(tmp_path):
    lol = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    assert "aliases are not supported" in _hw_error(tmp_path, lol, base="").message


def test_yaml_merge_of_an_inline_mapping_still_works(tmp_path):
    path = _write(tmp_path, "hw.yaml", "extends: flash_imc\nadc: {<<: {bits: 5}, mode: x}\n")
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.field == "adc.mode"  # the merge itself was read


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999"])
@pytest.mark.parametrize("field", ["clock.period_ns", "activity.input_bit_density",
                                   "crossbar.r_on_ohm", "device.variation_sigma"])
def test_hwconfig_numbers_must_be_finite(tmp_path, field, value):
    section, key = field.split(".")
    err = _hw_error(tmp_path, f"{section}: {{{key}: {value}}}\n")
    assert err.field == field and "expected a finite number" in err.message


def test_set_nan_names_the_flag(capsys):
    err = _one_line_error(["config", "show", "flash_imc", "--set", "clock.period_ns=.nan"],
                          capsys)
    assert "--set: field 'clock.period_ns': expected a finite number, got nan" in err


# --- JSON inputs: NoC traces and FLASH models.json ------------------------------------------


@pytest.mark.parametrize("name, text, field, expected", [
    ("t.json", '[\n {"id": 0, "cycle": 1, "src": 0, "dst": 1, "num_flits": 1,\n  "id": 2}]',
     "line 3", "column 3: duplicate key 'id'"),
    ("t.json", "[" * 100_000, "line 1", "column 66: nested deeper than 64 levels"),
    ("t.json", '[{"id": 0, "cycle": NaN}]', "line 1", "NaN: expected a finite number"),
    ("t.json", '[{"id": 0, "cycle": 1e999}]', "line 1", "number 1e999 out of range"),
    ("t.json", '[{"id": 0, "cycle": ' + "9" * 5000 + "}]", "line 1", "out of range"),
    ("t.jsonl", '{"cycle": 1, "src": 0, "dst": 1, "flits": 1}\n{"cycle": 1, "cycle": 2}\n',
     "line 2", "duplicate key 'cycle'"),
    ("t.jsonl", '{"cycle": -Infinity}\n', "line 1", "-Infinity: expected a finite number"),
    ("t.jsonl", '{"cycle": 1, "src": 0, "dst": 1, "flits": 1} {}\n', "line 1",
     "one JSON object per line"),
    ("t.csv", "cycle,src,dst,flits\n" + "9" * 5000 + ",0,1,1\n", "line 2: cycle",
     "expected an integer"),
])
def test_bad_trace_content(tmp_path, name, text, field, expected):
    from enasim.noc.traces import read_trace

    with pytest.raises(ConfigError) as exc:
        read_trace(_write(tmp_path, name, text))
    assert exc.value.field == field and expected in exc.value.message, exc.value


def test_non_utf8_trace(tmp_path, capsys):
    path = _write(tmp_path, "t.csv", b"cycle,src,dst,flits\n1,0,1,1\xff\n")
    err = _one_line_error(["noc", "--trace", str(path)], capsys)
    assert "not UTF-8 text (byte 27, line 2: 0xff)" in err


@pytest.fixture
def models_file(tmp_path):
    """A models.json as `flash fit` writes it, with made-up coefficients."""
    import json

    from enasim.analytical.fitted import FEATURE_SETS, TARGETS, HardwareModels, LinearModel

    path = tmp_path / "models.json"
    HardwareModels("flash_imc", {t: LinearModel(t, FEATURE_SETS["enasim"][t],
                                                (1e-3,) * len(FEATURE_SETS["enasim"][t]), 0.5)
                                 for t in TARGETS}).save(path)
    return path, json.loads(path.read_text())


def _edit_models(models_file, edit) -> tuple[str, str]:
    import json

    path, data = models_file
    text = edit(data) if callable(edit) else edit
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text if isinstance(text, str) else json.dumps(text, indent=1))
    from enasim.analytical.fitted import HardwareModels

    with pytest.raises(ConfigError) as exc:
        HardwareModels.load(path)
    assert exc.value.source == str(path)
    return exc.value.field, exc.value.message


def _set(data, keys, value):
    node = data
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return data


@pytest.mark.parametrize("edit, field, expected", [
    (lambda d: _set(d, ["models", "area_mm2", "coef", 0], float("nan")),
     "line 10", "NaN: expected a finite number"),
    (lambda d: _set(d, ["models", "latency_ns", "coef"], [1.0]), "models.latency_ns.coef",
     "expected a list of 7 numbers (one per feature), got a list of 1"),
    (lambda d: _set(d, ["models", "energy_uj", "intercept"], "1"), "models.energy_uj.intercept",
     "expected a number"),
    (lambda d: _set(d, ["models", "area_mm2", "coef", 0], 1e308 * 10), "line 10",
     "Infinity: expected a finite number"),
    (lambda d: _set(d, ["models", "area_mm2", "target"], "energy_uj"), "models.area_mm2.target",
     "expected 'area_mm2'"),
    (lambda d: _set(d, ["models", "area_mm2", "features"], "tiles"),
     "models.area_mm2.features", "expected a list of feature names"),
    (lambda d: d["models"].pop("energy_uj") and d, "models.energy_uj", "required key missing"),
    (lambda d: [d], "(top level)", "expected a mapping"),
    ('{"hw": "a", "hw": "b", "models": {}}', "line 1", "duplicate key 'hw'"),
    (b"\xff{}", "", "not UTF-8 text (byte 0, line 1: 0xff)"),
])
def test_bad_models_file(models_file, edit, field, expected):
    got_field, message = _edit_models(models_file, edit)
    assert got_field == field and expected in message, (got_field, message)


@pytest.mark.parametrize("args, expected", [
    (["--predictor", "nan,1,2"], "--predictor': expected a finite number, got nan"),
    (["--predictor", "1,2"], "--predictor': expected 3 numbers separated by commas"),
    (["--max-area-mm2", "nan"], "--max-area-mm2': expected a finite number"),
    (["--max-latency-ms", "-1"], "--max-latency-ms': expected a number > 0.0, got -1.0"),
    (["--max-energy-mj", "inf"], "--max-energy-mj': expected a finite number"),
    (["--min-quality", "-0.5"], "--min-quality': expected a value >= 0.0"),
])
def test_flash_search_bad_numbers(models_file, args, expected, capsys):
    err = _one_line_error(["flash", "search", "--models", str(models_file[0]), "--methods",
                           "exhaustive", "--wm", "1,1", "--depth", "5,5", *args], capsys)
    assert expected in err


def test_flash_search_model_with_unknown_feature_names_the_file(models_file, capsys):
    import json

    path, data = models_file
    data["models"]["area_mm2"]["features"] = ["tilez"]
    data["models"]["area_mm2"]["coef"] = [1.0]
    path.write_text(json.dumps(data))
    err = _one_line_error(["flash", "search", "--models", str(path), "--methods",
                           "exhaustive", "--wm", "1,1", "--depth", "5,5"], capsys)
    assert f"{path}: field 'features': unknown features ['tilez']" in err


# --- CSV tables, workload nulls, flags -------------------------------------------------------


@pytest.mark.parametrize("text, field, expected", [
    ("g,accuracy\n1,nan\n2,0.5\n3,0.6\n", "line 2: accuracy", "expected a finite number"),
    ("g,accuracy\ninf,0.4\n2,0.5\n3,0.6\n", "line 2: g", "expected a finite number"),
    ("wm,depths,tcs,accuracy\n" + "9" * 30 + ",5;5;5,8;16;32,0.5\n", "line 2: wm",
     "expected a value <= 64"),
    ("wm,depths,tcs,accuracy\n1,0;5;5,8;16;32,0.5\n", "line 2: depths", ">= 3"),
    ("g,accuracy\n1," + "5" * 200_000 + "\n", "", "malformed CSV: field larger than"),
])
def test_bad_predictor_csv(tmp_path, text, field, expected):
    from enasim.nas.flash.predictor import read_accuracy_csv

    with pytest.raises(ConfigError) as exc:
        read_accuracy_csv(_write(tmp_path, "acc.csv", text))
    assert exc.value.field == field and expected in exc.value.message, exc.value


def test_non_utf8_predictor_csv(tmp_path, capsys):
    path = _write(tmp_path, "acc.csv", b"g,accuracy\n1,0.5\xa0\n")
    assert "not UTF-8 text" in _one_line_error(["flash", "predictor", "fit", str(path)], capsys)


@pytest.mark.parametrize("text, field, expected", [
    ("label,accuracy\na,nan\n", "line 2: accuracy", "expected a finite number, got nan"),
    ("label,accuracy\na,1.5\n", "line 2: accuracy", "expected a value <= 1.0"),
    ("label,accuracy\na,0.5\na,0.6\n", "line 3: label", "'a' listed twice"),
    ("label,accuracy\na\n", "line 2", "expected a label and an accuracy"),
    ("label,accuracy\na," + "5" * 200_000 + "\n", "", "malformed CSV: field larger"),
    (b"label,accuracy\n\xffa,0.5\n", "--accuracy", "not UTF-8 text (byte 15"),
])
def test_bad_monas_accuracy_csv(tmp_path, text, field, expected):
    from enasim.nas.monas.search import load_accuracy

    with pytest.raises(ConfigError) as exc:
        load_accuracy(str(_write(tmp_path, "acc.csv", text)))
    assert exc.value.field == field and expected in exc.value.message, exc.value


@pytest.mark.parametrize("layer, field", [
    ("{name: c, op: conv2d, out_channels: 4, kernel: 3, stride: null}", "stride"),
    ("{name: c, op: conv2d, out_channels: 4, kernel: 3, padding: null}", "padding"),
    ("{name: c, op: conv2d, out_channels: null, kernel: 3}", "out_channels"),
    ("{name: c, op: conv2d, out_channels: 4, kernel: null}", "kernel"),
    ("{name: c, op: conv2d, out_channels: 4, kernel: 3, bias: null}", "bias"),
    ("{name: c, op: conv2d, out_channels: 4, kernel: 3, in_channels: null}", "in_channels"),
    ("{name: c, op: conv2d, out_channels: 4, kernel: 3, inputs: null}", "inputs"),
    ("{name: c, op: conv2d, out_channels: 4, kernel: 3, groups: 2.0}", "groups"),
    ("{name: c, op: conv2d, out_channels: 4, kernel: [3, .nan]}", "kernel"),
    ("{name: p, op: pool, mode: max, stride: null}", "stride"),
    ("{name: s, op: select, channels: null}", "channels"),
])
def test_workload_null_and_wrong_types_name_the_layer_and_field(tmp_path, layer, field):
    err = _wl_error(tmp_path, f"  - {layer}\n")
    assert err.field == f"layers[0] ({layer.split(',')[0][7:]}).{field}", err
    assert "expected" in err.message


@pytest.mark.parametrize("argv, expected", [
    (["noc", "--latency-threshold", "nan"], "--latency-threshold': expected a finite number"),
    (["noc", "--rate", "inf"], "--rate': expected 0 < rate <= 1"),
    (["monas", "run", "--objective", "weighted", "--weights", "1,nan,1"],
     "--weights': expected a finite number"),
    (["monas", "run", "--objective", "weighted", "--weights", "1,-1,1"],
     "--weights': expected a value >= 0.0"),
])
def test_flags_refuse_non_finite_numbers(argv, expected, capsys):
    assert expected in _one_line_error(argv, capsys)


def _npz_cases(tmp_path):
    import pickle
    import zipfile

    import numpy as np

    np.save(tmp_path / "lone.npy", np.zeros(3))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps([1]))
    np.savez(tmp_path / "objects.npz", input=np.array([1, None], dtype=object))
    with zipfile.ZipFile(tmp_path / "member.npz", "w") as z:
        z.writestr("input.npy", b"junk")
    with zipfile.ZipFile(tmp_path / "crc.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("input.npy", b"\x00" * 1000)
    data = bytearray((tmp_path / "crc.npz").read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"  # inside the compressed member
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    return [
        (tmp_path / "lone.npy", "", "not an .npz file"),
        (tmp_path / "empty.npz", "", "not an .npz file"),
        (tmp_path / "pickle.npz", "", "not an .npz file"),
        (tmp_path / "objects.npz", "", "Object arrays cannot be loaded"),
        (tmp_path / "member.npz", "input", "not a .npy array"),
        (tmp_path / "crc.npz", "", "cannot read .npz file"),
        (tmp_path / "absent.npz", "", "cannot read file"),
    ]


def test_odd_npz_files(tmp_path, capsys):
    for path, field, expected in _npz_cases(tmp_path):
        for flag in ("--inputs", "--weights"):
            err = _one_line_error(["infer", "--workload", "vgg8", flag, str(path),
                                   "-o", str(tmp_path / "out")], capsys)
            at = f"field '{field}': " if field else ""
            assert f"{path}: {at}" in err and expected in err, err


@pytest.mark.parametrize("values, expected", [
    ("[.nan, .nan]", "axes.clock.period_ns[0]': expected a finite number, got nan"),
    ("[1, .inf]", "axes.clock.period_ns[1]': expected a finite number, got inf"),
])
def test_sweep_axis_values_must_be_finite(tmp_path, values, expected):
    from enasim.sweep.spec import load_spec

    path = _write(tmp_path, "s.yaml", f"hw: flash_imc\nworkloads: [vgg8]\n"
                  f"axes: {{clock.period_ns: {values}}}\n")
    with pytest.raises(ConfigError) as exc:
        load_spec(path)
    assert expected in str(exc.value)


def test_oversized_and_non_utf8_specs_and_workloads(tmp_path):
    from enasim.sweep.spec import load_spec

    big = _write(tmp_path, "s.yaml", "hw: flash_imc\n" + "#" * (1 << 20))
    with pytest.raises(ConfigError, match="limit for a sweep spec"):
        load_spec(big)
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_network_yaml(_write(tmp_path, "w.yaml", b"name: \x80\n"))


def test_control_characters_in_input_stay_on_one_line(tmp_path, capsys):
    path = _write(tmp_path, "hw.yaml", 'extends: flash_imc\n"cross\\nbar": 1\n')
    assert "field 'cross\\nbar': unknown key" in _one_line_error(["config", "check", str(path)],
                                                                 capsys)
    path = _write(tmp_path, "nul.yaml", "extends: flash_imc\x00\n")
    assert "special characters are not allowed" in _one_line_error(
        ["config", "check", str(path)], capsys)
