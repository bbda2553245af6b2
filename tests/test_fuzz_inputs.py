"""Property tests of every input-file loader: mutated files (random bytes, random values in random
fields, NaN and infinities, deep nesting, huge numbers, duplicate keys, aliases) give an
EnasimError or a valid result, never another exception, and quickly.

Each property runs a few examples in the default suite and many under `pytest -m slow`.
"""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from enasim.analytical.fitted import FEATURE_SETS, TARGETS, HardwareModels, LinearModel
from enasim.config import load
from enasim.errors import EnasimError
from enasim.functional.data import load_inputs, load_weights
from enasim.kernels.mac_spec import MacSpec
from enasim.nas.flash.predictor import fit_predictor, read_accuracy_csv
from enasim.nas.monas.search import load_accuracy
from enasim.noc.traces import read_trace
from enasim.sweep.spec import load_spec
from enasim.workload import load_workload
from enasim.workload.yaml_format import load_network_yaml

REPO = Path(__file__).resolve().parents[1]
SECONDS = 10  # per example: far above any valid input of this size

EXAMPLES = [pytest.param(12, id="fast"),
            pytest.param(300, id="slow", marks=pytest.mark.slow)]

# any YAML/JSON value, with the awkward ones well represented
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**400),
    st.floats(), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0]),
    st.text(max_size=20), st.sampled_from(["auto", "", "1e999", ".nan", "null", "[", "*a"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)

# text mutations that the structured ones cannot produce
TEXT_EDITS = st.sampled_from([
    lambda t: t + "\n" + t,                            # every key twice
    lambda t: "[" * 5000 + t,                          # deep nesting
    lambda t: "{" * 200 + t + "}" * 200,
    lambda t: t.replace(": ", ": &a ", 1) + "\nzz: *a\n",  # an alias
    lambda t: t[: len(t) // 2],                        # truncated
    lambda t: t.replace("1", "9" * 5000, 1),           # a 5000-digit integer
    lambda t: t.replace("0.", ".nan #", 1),
    lambda t: "\ufeff" + t,
])


def _outcome(fn, *args):
    """Run a loader: EnasimError or a result, never another exception, within SECONDS."""
    t0 = time.perf_counter()
    try:
        result = fn(*args)
    except EnasimError as exc:
        assert "\n" not in str(exc), str(exc)
        result = exc
    assert time.perf_counter() - t0 < SECONDS
    return result


def _random_path(draw, data: dict) -> list:
    """A path of keys/indices into nested `data`, to a random depth."""
    path, node = [], data
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        node = node[key]
    if path:
        return path
    if isinstance(data, list):
        return [draw(st.integers(0, len(data) - 1))]
    return [draw(st.text(min_size=1, max_size=8))]  # a new key


def _mutate(draw, data):
    """`data` with one random field (or a new key) set to a random value."""
    data = copy.deepcopy(data)
    path = _random_path(draw, data)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = draw(VALUES)
    return data


def _yaml_text(draw, data) -> str | bytes:
    """Mutated data as YAML text, sometimes edited as text, or random bytes."""
    kind = draw(st.sampled_from(["value", "value", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    try:
        text = yaml.safe_dump(_mutate(draw, data), sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError):  # a value PyYAML cannot print
        text = yaml.safe_dump(data, sort_keys=False)
    return draw(TEXT_EDITS)(text) if kind == "text" else text


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8",
                                                                                "surrogatepass"))
    return path


def _fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, database=None, report_multiple_bugs=False,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("examples", EXAMPLES)
def test_hwconfig(tmp_path, examples):
    base = yaml.safe_load((REPO / "hwconfigs" / "flash_imc.yaml").read_text())

    @_fuzz(examples)
    @given(st.data())
    def run(data):
        _outcome(load, _write(tmp_path / "hw.yaml", _yaml_text(data.draw, base)))

    run()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_workload(tmp_path, examples):
    base = yaml.safe_load((REPO / "workloads" / "vgg8.yaml").read_text())

    @_fuzz(examples)
    @given(st.data())
    def run(data):
        _outcome(load_network_yaml, _write(tmp_path / "net.yaml", _yaml_text(data.draw, base)))

    run()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_sweep_spec(tmp_path, examples):
    base = {"name": "s", "hw": "flash_imc", "engine": "analytical", "repeats": 1, "seed": 0,
            "axes": {"adc.bits": [4, 6], "clock.period_ns": [1.0, 2.5]}, "workloads": ["vgg8"]}

    @_fuzz(examples)
    @given(st.data())
    def run(data):
        spec = _outcome(load_spec, _write(tmp_path / "spec.yaml", _yaml_text(data.draw, base)))
        if not isinstance(spec, EnasimError):
            for _, values in spec.axes:
                assert all(v == v for v in values)  # no NaN

    run()


TRACE = [{"id": 0, "cycle": 0, "src": 0, "dst": 5, "flits": 2, "deps": []},
         {"id": 1, "cycle": 3, "src": 5, "dst": 10, "flits": 1, "deps": [0]},
         {"id": 2, "cycle": 4, "src": 15, "dst": 0, "flits": 4, "deps": [0, 1]}]


def _trace_text(fmt: str, packets: list) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(p) + "\n" for p in packets)
    if fmt == "csv":
        def cell(v):
            return ";".join(map(str, v)) if isinstance(v, list) else str(v)
        cols = list(packets[0]) if packets and isinstance(packets[0], dict) else ["cycle"]
        return ",".join(cols) + "\n" + "".join(
            ",".join(cell(p.get(c)) if isinstance(p, dict) else str(p) for c in cols) + "\n"
            for p in packets)
    rev = {p["id"]: [q["id"] for q in TRACE if p["id"] in q["deps"]] for p in TRACE}
    book = [{"id": p["id"], "cycle": p["cycle"], "src": p["src"], "dst": p["dst"],
             "num_flits": p["flits"], "num_deps": len(p["deps"]), "rev_deps": rev[p["id"]]}
            for p in TRACE] if packets is TRACE else packets
    return json.dumps(book, indent=1)


@pytest.mark.parametrize("examples", EXAMPLES)
@pytest.mark.parametrize("fmt, suffix", [("csv", ".csv"), ("jsonl", ".jsonl"),
                                         ("booksim-json", ".json")])
def test_trace(tmp_path, examples, fmt, suffix):
    @_fuzz(examples)
    @given(st.data())
    def run(data):
        kind = data.draw(st.sampled_from(["value", "value", "text", "bytes"]))
        if kind == "bytes":
            content = data.draw(st.binary(max_size=300))
        else:
            packets = TRACE if fmt == "booksim-json" and kind == "text" else \
                _mutate(data.draw, TRACE)
            content = _trace_text(fmt, packets)
            if kind == "text":
                content = data.draw(TEXT_EDITS)(content)
        rows, cols = data.draw(st.sampled_from([(4, 4), (None, None)]))
        _outcome(read_trace, _write(tmp_path / f"t{suffix}", content), fmt, rows, cols)

    run()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_models_json(tmp_path, examples):
    path = tmp_path / "models.json"
    HardwareModels("flash_imc", {t: LinearModel(t, FEATURE_SETS["enasim"][t],
                                                (1e-3,) * len(FEATURE_SETS["enasim"][t]), 0.5)
                                 for t in TARGETS}).save(path)
    base = json.loads(path.read_text())

    @_fuzz(examples)
    @given(st.data())
    def run(data):
        kind = data.draw(st.sampled_from(["value", "value", "text", "bytes"]))
        if kind == "bytes":
            content = data.draw(st.binary(max_size=300))
        else:
            content = json.dumps(_mutate(data.draw, base) if kind == "value" else base, indent=1)
            if kind == "text":
                content = data.draw(TEXT_EDITS)(content)
        models = _outcome(HardwareModels.load, _write(path, content))
        if isinstance(models, HardwareModels):
            for m in models.models.values():
                assert len(m.coef) == len(m.features)
                assert np.isfinite([*m.coef, m.intercept]).all()

    run()


CSV_CELLS = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "", "0.5", "75", "1",
                                       "5;10;20", "8;16", "-3", "9" * 5000, '"', "3.5"]),
                      st.text(max_size=10))


@pytest.mark.parametrize("examples", EXAMPLES)
def test_predictor_csv(tmp_path, examples):
    @_fuzz(examples)
    @given(st.sampled_from(["g,accuracy", "wm,depths,tcs,accuracy", "g,accuracy,g", "label"]),
           st.lists(st.lists(CSV_CELLS, min_size=1, max_size=5), max_size=6),
           st.binary(max_size=50))
    def run(header, rows, junk):
        text = header + "\n" + "".join(",".join(r) + "\n" for r in rows)
        path = _write(tmp_path / "acc.csv", text.encode("utf-8", "surrogatepass") + junk)
        got = _outcome(read_accuracy_csv, path)
        if not isinstance(got, EnasimError):
            g, acc = got
            assert np.isfinite(g).all() and np.isfinite(acc).all()
            _outcome(fit_predictor, g, acc, str(path))

    run()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_monas_accuracy_csv(tmp_path, examples):
    @_fuzz(examples)
    @given(st.sampled_from(["label,accuracy", "accuracy,label", "label"]),
           st.lists(st.lists(CSV_CELLS, min_size=1, max_size=3), max_size=6),
           st.binary(max_size=50))
    def run(header, rows, junk):
        text = header + "\n" + "".join(",".join(r) + "\n" for r in rows)
        path = _write(tmp_path / "acc.csv", text.encode("utf-8", "surrogatepass") + junk)
        _outcome(load_accuracy, str(path))

    run()


ARRAYS = st.one_of(
    st.builds(lambda shape, dtype, fill: np.full(shape, fill).astype(dtype),
              st.sampled_from([(), (3,), (1, 3, 32, 32), (3, 32, 32), (2, 3, 32, 32), (0, 3),
                               (128, 3, 3, 3), (10, 8192)]),
              st.sampled_from(["int64", "int8", "uint64", "float64", "bool", "complex64",
                               "U3", "datetime64[s]"]),
              st.sampled_from([0, 1, 255, 256, -1])))


@pytest.mark.parametrize("examples", EXAMPLES)
def test_npz(tmp_path, examples):
    net = load_workload("vgg8")
    spec = MacSpec.from_hw(load("flash_imc"))
    keys = st.sampled_from(["input", "conv1", "fc8", "x", ""])

    @_fuzz(examples)
    @given(st.one_of(st.dictionaries(keys, ARRAYS, max_size=3).map(lambda d: ("arrays", d)),
                     st.binary(max_size=200).map(lambda b: ("bytes", b))))
    def run(content):
        path = tmp_path / "data.npz"
        if content[0] == "bytes":
            path.write_bytes(content[1])
        else:
            buf = io.BytesIO()
            np.savez(buf, **content[1])
            path.write_bytes(buf.getvalue())
        _outcome(load_inputs, path, net, spec)
        _outcome(load_weights, path, net, spec)

    run()
