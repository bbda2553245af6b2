"""Cost model: per-component area, per-event energy and leakage, from the hwconfig."""

from enasim.cost.adc import ADC_MODELS, cell_read_energy_pj, conversion_energy_pj
from enasim.cost.area import COMPONENTS, chip_area_um2, leakage_uw, pe_area_um2

__all__ = ["ADC_MODELS", "COMPONENTS", "cell_read_energy_pj", "chip_area_um2",
           "conversion_energy_pj", "leakage_uw", "pe_area_um2"]
