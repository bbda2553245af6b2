"""ADC energy models, chosen by name in the hwconfig (`adc.energy_model`).

* `neurosim`: DNN_NeuroSim V1.3's multilevel sense-amp ADC (MultilevelSenseAmp.cpp, 22 nm):
  power = comparator_power x (2^bits - 1) + coeff x exp(exponent x log10 R_col), for
  sense_time_ns per conversion. The second term is the column (cell) read current, so cell
  read energy is *inside* the ADC energy and depends on how many rows are active. R_col is the
  parallel resistance of the active cells at their mean conductance, scaled by 0.5 V / V_read
  as NeuroSim does.
* `table`: a fixed energy per conversion (ISAAC/MNSIM style); cell read energy is charged
  separately to the crossbar as cell_read_energy_fj per active cell.

Derived costs (fields set to 'derived', docs/models.md "ADC"): the ADC area and the sensing
cycle follow `adc.bits` and `adc.cols_per_adc` by NeuroSim V1.3's own layout and delay rules
(MultilevelSenseAmp.cpp, MultilevelSAEncoder.cpp, SubArray.cpp), from the hwconfig's
per-comparator and encoder parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from enasim.config.schema import DERIVED, HardwareConfig


def mean_cell_conductance_s(hw: HardwareConfig) -> float:
    """Mean conductance of a cell whose levels are spread uniformly from G_off to G_on."""
    xb = hw.crossbar
    return 0.5 * (1.0 / xb.r_off_ohm + 1.0 / xb.r_on_ohm)


def _neurosim_pj(hw: HardwareConfig, active_rows: float) -> float:
    adc = hw.adc
    watts = adc.comparator_power_uw_per_level * 1e-6 * (2**adc.bits - 1)
    if active_rows > 0:
        r_col = 1.0 / (active_rows * mean_cell_conductance_s(hw))
        r_col *= 0.5 / hw.crossbar.read_voltage_v
        watts += adc.column_power_coeff * math.exp(adc.column_power_exponent * math.log10(r_col))
    return watts * adc.sense_time_ns * 1e-9 * 1e12


def _table_pj(hw: HardwareConfig, active_rows: float) -> float:
    return hw.adc.table_energy_pj


ADC_MODELS = {"neurosim": _neurosim_pj, "table": _table_pj}


def conversion_energy_pj(hw: HardwareConfig, active_rows: float) -> float:
    """Energy of one column conversion with `active_rows` rows driven (mean activity)."""
    return ADC_MODELS[hw.adc.energy_model](hw, active_rows)


def cell_read_energy_pj(hw: HardwareConfig, active_rows: float) -> float:
    """Crossbar read energy per column conversion, when the ADC model does not include it."""
    if hw.adc.energy_model == "neurosim":
        return 0.0
    return active_rows * hw.crossbar.cell_read_energy_fj * 1e-3


def activity_adc_energy_pj(hw: HardwareConfig, conversions: Sequence[float],
                           active_rows: Sequence[float]) -> float:
    """Data-dependent ADC energy: sum over row blocks of conversions x conversion_energy_pj at
    the block's measured mean rows driven per conversion (enasim.kernels.mac_spec.MacActivity:
    block_conversions, block_active_rows). The neurosim model is close to linear in active rows,
    so the mean stands for the per-conversion values."""
    return sum(n * conversion_energy_pj(hw, a)
               for n, a in zip(conversions, active_rows, strict=True))


def encoder_delay_ns(hw: HardwareConfig) -> float:
    """NeuroSim's encoder delay (MultilevelSAEncoder::CalculateLatency): a first stage, then a
    Horowitz stage (vs = 0.5, beta = 0.5) driven by the first stage's ramp whose RC grows with
    the wide NAND's 2^(bits-1) inputs; V1.3 adds only these two stages."""
    adc = hw.adc
    tau = adc.encoder_tau_ns + 2 ** (adc.bits - 1) * adc.encoder_tau_ns_per_input
    first = adc.encoder_stage1_ns
    return first + math.sqrt((math.log(2) * tau) ** 2 + first * tau)


def derived_sensing_cycle_ns(hw: HardwareConfig) -> float:
    """NeuroSim's sensing cycle before beta (SubArray::CalculateLatency, conventional parallel):
    access path + sense-amp time + encoder delay."""
    return hw.clock.sensing_access_ns + hw.adc.sense_time_ns + encoder_delay_ns(hw)


def derived_adc_area_um2(hw: HardwareConfig) -> float:
    """NeuroSim's area of one ADC: 2^bits - 1 comparators, plus the ADC's share of the encoder
    block. NeuroSim lays the encoders (one per ADC, (2^bits - 1) gate rows high) side by side
    under the array, as many per row as fit in its width, and adds rows until all fit
    (MultilevelSAEncoder::CalculateArea)."""
    adc, cols = hw.adc, hw.crossbar.cols
    levels, adcs = 2**adc.bits, hw.adcs_per_pe
    array_width = cols * hw.crossbar.col_pitch_um
    encoder_width = adc.encoder_width_um + levels // 2 * adc.encoder_width_um_per_input
    per_row = min(adcs, math.ceil(array_width / encoder_width))
    rows = math.ceil(adcs / per_row)
    encoders = max(array_width, encoder_width) * (levels - 1) * adc.encoder_level_height_um * rows
    return (levels - 1) * adc.comparator_area_um2 + encoders / adcs


_DERIVED = {
    "adc.area_um2": (derived_adc_area_um2, "NeuroSim MLSA + encoder layout at adc.bits and "
                     "adc.cols_per_adc"),
    "clock.sensing_cycle_ns": (derived_sensing_cycle_ns, "sensing_access_ns + "
                               "adc.sense_time_ns + encoder delay at adc.bits"),
}


def _raw(hw: HardwareConfig, dotted: str) -> float | str:
    section, name = dotted.split(".")
    return getattr(getattr(hw, section), name)


def resolved(hw: HardwareConfig, dotted: str) -> float:
    """A derivable field's value: the hwconfig's number, or the derived value."""
    value = _raw(hw, dotted)
    return _DERIVED[dotted][0](hw) if value == DERIVED else float(value)


def derived_values(hw: HardwareConfig) -> dict[str, tuple[float, str]]:
    """The fields `hw` sets to 'derived', with their values and rules (for reports)."""
    return {k: (fn(hw), rule) for k, (fn, rule) in _DERIVED.items()
            if _raw(hw, k) == DERIVED}
