"""ADC energy models, chosen by name in the hwconfig (`adc.energy_model`).

* `neurosim`: DNN_NeuroSim V1.3's multilevel sense-amp ADC (MultilevelSenseAmp.cpp, 22 nm):
  power = comparator_power x (2^bits - 1) + coeff x exp(exponent x log10 R_col), for
  sense_time_ns per conversion. The second term is the column (cell) read current, so cell
  read energy is *inside* the ADC energy and depends on how many rows are active. R_col is the
  parallel resistance of the active cells at their mean conductance, scaled by 0.5 V / V_read
  as NeuroSim does.
* `table`: a fixed energy per conversion (ISAAC/MNSIM style); cell read energy is charged
  separately to the crossbar as cell_read_energy_fj per active cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from enasim.config.schema import HardwareConfig


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
