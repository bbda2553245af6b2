"""Bit-sliced crossbar MAC kernels: exactness, Numba == numpy reference, ADC error, bad input."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from conftest import hw_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enasim.cost.adc import activity_adc_energy_pj, conversion_energy_pj
from enasim.errors import ConfigError, EnasimError
from enasim.kernels import mac, mac_reference
from enasim.kernels.mac_spec import MacSpec, adc_step, exact_matmul, program

SCHEMES = ("offset", "differential")
MODES = ("full", "calibrated", "partial_rows")
DEVICES = {
    "ideal": {},
    "lognormal": {"variation": "lognormal", "variation_sigma": 0.2},
    "normal+faults": {"variation": "normal", "variation_sigma": 0.1,
                      "stuck_at_0_fraction": 0.02, "stuck_at_1_fraction": 0.01},
    "on_off": {"on_off_ratio": 30},
}
KERNEL_SETTINGS = settings(deadline=None, max_examples=40,
                           suppress_health_check=[HealthCheck.too_slow])


def spec_of(**sections) -> MacSpec:
    return MacSpec.from_hw(hw_with(**sections))


def random_case(rng, spec: MacSpec, rows: int, outs: int, vectors: int):
    lo, hi = spec.weight_range
    w = rng.integers(lo, hi + 1, (rows, outs))
    x = rng.integers(0, 1 << spec.input_bits, (vectors, rows))
    return w, x


def run_both(x, layer, **kw):
    y_fast, act_fast = mac.mvm(x, layer, **kw)
    y_ref, act_ref = mac_reference.mvm(x, layer)
    return y_fast, act_fast, y_ref, act_ref


@st.composite
def ideal_cases(draw):
    """Random precisions, shapes, crossbar sizes and an ADC that cannot lose information."""
    cell_bits = draw(st.integers(1, 4))
    array_rows = draw(st.integers(1, 160))
    rows_parallel = draw(st.integers(1, array_rows))
    mode = draw(st.sampled_from(MODES))
    full_scale = rows_parallel * ((1 << cell_bits) - 1)
    enough = full_scale.bit_length()  # 2^bits - 1 >= full_scale
    adc_bits = draw(st.integers(cell_bits, 8)) if mode == "partial_rows" else \
        draw(st.integers(enough, 16))
    sections = {
        "crossbar": {"rows": array_rows, "rows_parallel": rows_parallel, "cell_bits": cell_bits},
        "precision": {"weight_bits": draw(st.integers(1, 10)),
                      "input_bits": draw(st.integers(1, 10)),
                      "signed_weights": draw(st.sampled_from(SCHEMES))},
        "adc": {"bits": adc_bits, "range_mode": mode},
    }
    return (sections, draw(st.integers(1, 300)), draw(st.integers(1, 9)),
            draw(st.integers(1, 40)), draw(st.integers(0, 2**32)),
            draw(st.sampled_from((None, 1, 2, 4, 8))))


@KERNEL_SETTINGS
@given(ideal_cases())
def test_ideal_adc_equals_exact_integer_matmul(case):
    sections, rows, outs, vectors, seed, group_rows = case
    spec = spec_of(**sections)
    w, x = random_case(np.random.default_rng(seed), spec, rows, outs, vectors)
    layer = program(w, spec)
    y_fast, act_fast, y_ref, act_ref = run_both(x, layer, group_rows=group_rows)
    exact = x @ w
    assert np.array_equal(y_ref, exact)
    assert np.array_equal(y_fast, exact)
    assert act_fast == act_ref
    assert act_fast.clipped_conversions == 0


@st.composite
def lossy_cases(draw):
    """Quantised ADCs in every mode, both schemes, non-ideal devices."""
    cell_bits = draw(st.integers(1, 3))
    sections = {
        "crossbar": {"rows": draw(st.integers(8, 96)), "cell_bits": cell_bits},
        "precision": {"weight_bits": draw(st.integers(2, 8)),
                      "input_bits": draw(st.integers(1, 8)),
                      "signed_weights": draw(st.sampled_from(SCHEMES))},
        "adc": {"bits": draw(st.integers(cell_bits, 6)),
                "range_mode": draw(st.sampled_from(MODES)),
                "calibration_percentile": draw(st.sampled_from((50.0, 99.0, 100.0)))},
        "device": draw(st.sampled_from(list(DEVICES.values()))),
    }
    sections["crossbar"]["rows_parallel"] = draw(st.integers(1, sections["crossbar"]["rows"]))
    return (sections, draw(st.integers(1, 250)), draw(st.integers(1, 7)),
            draw(st.integers(1, 70)), draw(st.integers(0, 2**32)),
            draw(st.sampled_from((None, 1, 2, 4, 8))))


@KERNEL_SETTINGS
@given(lossy_cases())
def test_numba_equals_reference_on_random_lossy_cases(case):
    sections, rows, outs, vectors, seed, group_rows = case
    spec = spec_of(**sections)
    w, x = random_case(np.random.default_rng(seed), spec, rows, outs, vectors)
    layer = program(w, spec, seed=seed)
    y_fast, act_fast, y_ref, act_ref = run_both(x, layer, group_rows=group_rows)
    assert np.array_equal(y_fast, y_ref)
    assert act_fast == act_ref


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_numba_equals_reference_in_every_mode(scheme, mode, device):
    """Multi-block matrices, 3 to 6-bit ADCs, every table size: equal outputs and activity."""
    rng = np.random.default_rng(7)
    for adc_bits in (3, 4, 6):
        spec = spec_of(crossbar={"rows": 96, "rows_parallel": 64},
                       precision={"signed_weights": scheme},
                       adc={"bits": adc_bits, "range_mode": mode}, device=DEVICES[device])
        w, x = random_case(rng, spec, 200, 11, 48)
        layer = program(w, spec, seed=3)
        for group_rows in (1, 2, 4, 8):
            y_fast, act_fast, y_ref, act_ref = run_both(x, layer, group_rows=group_rows)
            assert np.array_equal(y_fast, y_ref), (adc_bits, group_rows)
            assert act_fast == act_ref
        if mode != "partial_rows" and adc_bits == 3:
            assert not np.array_equal(y_ref, x @ w)  # the case really is lossy


def test_kernel_chooses_tables_by_batch_and_results_do_not_depend_on_it():
    spec = spec_of()
    rng = np.random.default_rng(1)
    w, x = random_case(rng, spec, 300, 40, 300)
    layer = program(w, spec)
    ref, _ = mac_reference.mvm(x, layer)
    for n in (1, 3, 40, 300):  # table sizes G = 1, 1, 4, 4 on two threads
        y, _ = mac.mvm(x[:n], layer)
        assert np.array_equal(y, ref[:n])


def _threads_seen(calls: list[int]):
    """A stand-in for the compiled kernel that records the thread count it runs with."""
    def record(x, *args):
        calls.append(numba.get_num_threads())
        return np.zeros((x.shape[0], 1), np.int64), 0, np.zeros(1, np.int64)
    return record


def test_kernel_runs_on_one_thread_unless_numba_num_threads_is_set(monkeypatch):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread on this machine")
    spec = spec_of()
    rng = np.random.default_rng(3)
    w, x = random_case(rng, spec, 40, 20, 64)
    layer = program(w, spec)
    ref, _ = mac_reference.mvm(x, layer)
    numba.set_num_threads(2)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    assert mac.kernel_threads() == numba.get_num_threads() == 2
    assert np.array_equal(mac.mvm(x, layer)[0], ref)  # two chunks, same result
    monkeypatch.delenv("NUMBA_NUM_THREADS")
    assert mac.kernel_threads() == 1
    calls: list[int] = []
    monkeypatch.setattr(mac, "_mvm", _threads_seen(calls))
    mac.mvm(x, layer)
    assert calls == [1] and numba.get_num_threads() == 2  # the caller's count is restored


# -- ADC error of a 4-bit ADC on 128 rows of 2-bit cells (CrossSim: ~0.42, cim-simulators 4.1)

def _adc_error(scheme: str, mode: str):
    spec = spec_of(precision={"signed_weights": scheme}, adc={"bits": 4, "range_mode": mode})
    rng = np.random.default_rng(2024)
    w, x = random_case(rng, spec, 128, 128, 256)
    y, act = mac.mvm(x, program(w, spec))
    exact = x @ w
    return float(np.sqrt(((y - exact) ** 2).sum() / (exact**2).sum())), act


@pytest.mark.parametrize("scheme, full_error, calibrated_error", [
    ("offset", 0.584, 0.234),
    ("differential", 0.948, 0.185),
])
def test_4bit_adc_on_128_rows_of_2bit_cells(scheme, full_error, calibrated_error):
    full, act_full = _adc_error(scheme, "full")
    assert act_full.adc_step == 26  # ceil(128 * 3 / 15) cell levels per code
    assert full == pytest.approx(full_error, rel=0.03)  # large: ~0.4-1 like CrossSim's 0.42
    assert act_full.clipped_conversions == 0

    calibrated, act_cal = _adc_error(scheme, "calibrated")
    assert calibrated == pytest.approx(calibrated_error, rel=0.05)
    assert calibrated < full / 2.4
    assert 0 < act_cal.clipped_fraction <= 1e-3  # clips at the 99.9th percentile

    partial, act_partial = _adc_error(scheme, "partial_rows")
    assert partial == 0.0  # 5 rows of 2-bit cells never exceed 15
    assert act_partial.block_phases == (26,)  # ceil(128 / 5) read phases instead of 1
    assert act_partial.conversions == 26 * act_full.conversions


def test_more_adc_bits_less_error():
    errors = []
    for bits in (3, 4, 5, 6, 7, 8, 9):
        spec = spec_of(adc={"bits": bits})
        rng = np.random.default_rng(5)
        w, x = random_case(rng, spec, 128, 32, 64)
        y, _ = mac.mvm(x, program(w, spec))
        exact = x @ w
        errors.append(float(np.abs(y - exact).max()))
    assert errors == sorted(errors, reverse=True) and errors[-1] == 0  # 9 bits: 511 >= 384


def test_calibrated_percentile_bounds_clipping():
    for pct in (90.0, 99.0):
        spec = spec_of(adc={"bits": 4, "range_mode": "calibrated", "calibration_percentile": pct})
        rng = np.random.default_rng(11)
        w, x = random_case(rng, spec, 128, 64, 64)  # all 64 vectors calibrate
        _, act = mac.mvm(x, program(w, spec))
        assert act.clipped_fraction <= (100 - pct) / 100


# -- device non-idealities

def test_device_effects_are_seeded():
    spec = spec_of(device=DEVICES["normal+faults"], adc={"bits": 8})
    rng = np.random.default_rng(3)
    w, x = random_case(rng, spec, 150, 10, 20)
    y1, _ = mac.mvm(x, program(w, spec, seed=1))
    y2, _ = mac.mvm(x, program(w, spec, seed=1))
    y3, _ = mac.mvm(x, program(w, spec, seed=2))
    assert np.array_equal(y1, y2)
    assert not np.array_equal(y1, y3)


def test_variation_with_zero_sigma_is_ideal():
    spec = spec_of(device={"variation": "lognormal", "variation_sigma": 0.0})
    assert spec.ideal_cells
    assert program(np.zeros((4, 4), np.int64), spec).conductance_fp is None


@pytest.mark.parametrize("stuck, level", [("stuck_at_0_fraction", 0), ("stuck_at_1_fraction", 3)])
def test_all_cells_stuck(stuck, level):
    """Every cell at one level: y = level * sum_k 2^(2k) * sum(x) - offset * sum(x)."""
    spec = spec_of(device={stuck: 1.0}, adc={"bits": 10})
    rng = np.random.default_rng(4)
    w, x = random_case(rng, spec, 128, 6, 9)
    y, _ = mac.mvm(x, program(w, spec))
    per_weight = level * sum(4**k for k in range(spec.slices)) - spec.offset
    assert np.array_equal(y, np.repeat(per_weight * x.sum(axis=1, keepdims=True), 6, axis=1))


def test_finite_on_off_ratio_breaks_offset_more_than_differential():
    errors = {}
    for scheme in SCHEMES:
        spec = spec_of(precision={"signed_weights": scheme}, device={"on_off_ratio": 50},
                       adc={"bits": 10})
        rng = np.random.default_rng(6)
        w, x = random_case(rng, spec, 128, 32, 32)
        y, _ = mac.mvm(x, program(w, spec))
        exact = x @ w
        errors[scheme] = float(np.sqrt(((y - exact) ** 2).sum() / (exact**2).sum()))
    # g_off adds to every driven cell: the pair cancels it, the digital offset does not
    assert errors["differential"] < 0.01 < 0.1 < errors["offset"]


# -- activity and energy

def test_activity_counts_and_data_dependent_energy():
    hw = hw_with(crossbar={"rows": 64, "rows_parallel": 64})
    spec = MacSpec.from_hw(hw)
    rng = np.random.default_rng(8)
    w = rng.integers(-128, 128, (100, 16))
    layer = program(w, spec)
    sparse = np.where(rng.random((30, 100)) < 0.8, 0, 255)
    dense = np.full((30, 100), 255)
    _, a_sparse = mac.mvm(sparse, layer)
    _, a_dense = mac.mvm(dense, layer)
    assert a_dense.block_rows == (64, 36)
    assert a_dense.block_input_bit_density == (1.0, 1.0)
    assert a_dense.block_active_rows == (64.0, 36.0)
    assert a_dense.conversions == 30 * 8 * 2 * (16 * 4)  # vectors x bits x blocks x columns
    ones = (sparse[:, :64] == 255).sum() * 8
    assert a_sparse.block_ones[0] == ones
    assert a_sparse.input_bit_density == pytest.approx((sparse == 255).mean())
    e_dense = activity_adc_energy_pj(hw, a_dense.block_conversions, a_dense.block_active_rows)
    assert e_dense == pytest.approx(a_dense.block_conversions[0] * conversion_energy_pj(hw, 64)
                                    + a_dense.block_conversions[1] * conversion_energy_pj(hw, 36))
    e_sparse = activity_adc_energy_pj(hw, a_sparse.block_conversions, a_sparse.block_active_rows)
    assert e_sparse < 0.5 * e_dense


def test_full_step_and_rows_at_once():
    assert spec_of(adc={"bits": 4}).rows_at_once == 128
    assert spec_of(adc={"bits": 4, "range_mode": "partial_rows"}).rows_at_once == 5
    assert spec_of(adc={"bits": 9, "range_mode": "partial_rows"}).rows_at_once == 128
    layer = program(np.zeros((3, 2), np.int64), spec_of(adc={"bits": 4}))
    assert adc_step(np.zeros((1, 3), np.int64), layer) == 26


def test_exact_matmul_large_values_fall_back_to_int64():
    x = np.full((1, 4), 2**40, np.int64)
    w = np.full((4, 1), 2**20, np.int64)
    assert exact_matmul(x, w)[0, 0] == 4 * 2**60


# -- bad input: clear errors naming the field

def test_weights_out_of_range():
    spec = spec_of(precision={"weight_bits": 4})
    with pytest.raises(ConfigError) as exc:
        program(np.array([[8, 0]]), spec, name="conv1")
    assert exc.value.field == "conv1"
    assert "[-8, 7]" in str(exc.value) and "weight_bits 4" in str(exc.value)


def test_weights_must_be_integers_and_2d():
    spec = spec_of()
    with pytest.raises(ConfigError, match="integer weights"):
        program(np.zeros((2, 2)), spec)
    with pytest.raises(ConfigError, match="2-D"):
        program(np.zeros(3, np.int64), spec)


def test_inputs_out_of_range_and_mismatched_shape():
    spec = spec_of(precision={"input_bits": 4})
    layer = program(np.zeros((5, 3), np.int64), spec)
    for kernel in (mac, mac_reference):
        with pytest.raises(ConfigError) as exc:
            kernel.mvm(np.full((2, 5), 16), layer)
        assert exc.value.field == "inputs" and "input_bits 4" in str(exc.value)
        with pytest.raises(ConfigError, match=r"shape \(n, 5\).*got shape \(2, 4\)"):
            kernel.mvm(np.zeros((2, 4), np.int64), layer)
        with pytest.raises(ConfigError, match=r"\[-1, -1\]"):
            kernel.mvm(np.full((1, 5), -1), layer)


def test_accumulator_overflow_is_refused():
    spec = spec_of(precision={"weight_bits": 32, "input_bits": 32})
    with pytest.raises(EnasimError, match="overflows the 64-bit accumulators"):
        program(np.ones((8, 2), np.int64), spec)


def test_row_blocks_must_cover_the_matrix():
    with pytest.raises(EnasimError, match="row blocks"):
        program(np.zeros((10, 2), np.int64), spec_of(), block_rows=(4, 4))


@pytest.mark.parametrize("text, field, expected", [
    ("adc: {bits: 0}\n", "adc.bits", ">= 1"),
    ("adc: {range_mode: clipped}\n", "adc.range_mode", "partial_rows"),
    ("adc: {range_mode: partial_rows, bits: 1}\n", "adc.range_mode", "cell_bits"),
    ("adc: {calibration_percentile: 0}\n", "adc.calibration_percentile", "> 0"),
    ("adc: {calibration_percentile: 101}\n", "adc.calibration_percentile", "<= 100"),
    ("precision: {signed_weights: twos}\n", "precision.signed_weights", "differential"),
    ("device: {variation: uniform}\n", "device.variation", "lognormal"),
    ("device: {variation_sigma: -0.1}\n", "device.variation_sigma", ">= 0"),
    ("device: {stuck_at_0_fraction: 0.6, stuck_at_1_fraction: 0.5}\n",
     "device.stuck_at_1_fraction", "<= 1"),
    ("device: {on_off_ratio: 0.5}\n", "device.on_off_ratio", "above 1"),
    ("device: {on_of_ratio: 10}\n", "device.on_of_ratio", "did you mean 'on_off_ratio'"),
])
def test_bad_mac_config(tmp_path, text, field, expected):
    from enasim.config import load

    path = tmp_path / "bad.yaml"
    path.write_text("extends: flash_imc\n" + text)
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.field == field
    assert expected in str(exc.value) and str(path) in str(exc.value)


def test_bundled_configs_state_the_mac_semantics():
    from enasim.config import load

    for name, mode in (("flash_imc", "calibrated"), ("neurosim_v13", "full")):
        hw = load(name)
        assert hw.precision.signed_weights == "offset" and hw.adc.range_mode == mode
        assert MacSpec.from_hw(hw).ideal_cells
