"""Area and leakage of the chip's blocks, from the hwconfig's per-component numbers."""

from __future__ import annotations

from enasim.config.schema import HardwareConfig

# Component names used in every breakdown (area, energy, reports), in display order.
COMPONENTS = ("crossbar", "adc", "shift_add", "periphery", "buffer", "accumulator",
              "activation", "pooling", "noc", "leakage")


def pe_area_um2(hw: HardwareConfig) -> dict[str, float]:
    """One crossbar PE: cells, its ADCs, shift-and-add, switch matrices/mux."""
    xb = hw.crossbar
    return {
        "crossbar": xb.rows * xb.cols * xb.cell_area_um2,
        "adc": hw.adcs_per_pe * hw.adc_area_um2,
        "shift_add": hw.pe.shift_add_area_um2,
        "periphery": hw.pe.periphery_area_um2,
    }


def _units(hw: HardwareConfig, depthwise: str | None):
    """The tile's digital units by name; the depthwise unit only with depthwise 'digital'
    (`depthwise`, else mapping.depthwise)."""
    t = hw.tile
    units = {"accumulator": t.accumulator, "activation": t.activation, "pooling": t.pooling}
    if (depthwise or hw.mapping.depthwise) == "digital":
        units["depthwise_unit"] = t.depthwise_unit
    return units


def tile_digital_area_um2(hw: HardwareConfig, depthwise: str | None = None) -> dict[str, float]:
    """A tile's blocks outside its PEs."""
    t = hw.tile
    return {"buffer": t.input_buffer.area_um2 + t.output_buffer.area_um2,
            **{k: u.area_um2 for k, u in _units(hw, depthwise).items()}}


def chip_area_um2(hw: HardwareConfig, arrays: int, tiles: int,
                  depthwise: str | None = None) -> dict[str, float]:
    """Area by component of a chip with `arrays` PEs in `tiles` tiles, one router per tile;
    `depthwise` overrides mapping.depthwise (ENASA's --depthwise)."""
    out = dict.fromkeys(COMPONENTS, 0.0)
    for k, v in pe_area_um2(hw).items():
        out[k] += v * arrays
    for k, v in tile_digital_area_um2(hw, depthwise).items():
        out[k] = out.get(k, 0.0) + v * tiles
    out["noc"] = hw.noc.router_area_um2 * tiles
    del out["leakage"]
    return out


def leakage_uw(hw: HardwareConfig, arrays: int, tiles: int, depthwise: str | None = None) -> float:
    """Leakage power of the whole chip; every block is powered for the whole run."""
    t = hw.tile
    per_tile = (t.input_buffer.leakage_uw + t.output_buffer.leakage_uw + hw.noc.router_leakage_uw
                + sum(u.leakage_uw for u in _units(hw, depthwise).values()))
    return arrays * hw.pe.leakage_uw + tiles * per_tile
