"""Architecture features of FLASH's DenseNet space, vectorised over many architectures.

The fitted hardware models (`enasim.analytical.fitted`) are linear in these. Two families:

* FLASH's own: w_m, d_c, N_c, N_c d_c w_m^2, SC_c (skip edges), Comm_c (skip channels moved,
  x map size), FLOPs_c, FM_c (output activations) and the tile count N_T.
* enasim's mapping in closed form (the same rules as `enasim.mapping` with `scheme: flash` and
  `enasim.plan`): per layer the arrays, tiles, weight copies, steps and the step cycles
  max(read, compute, write), summed: `compute_cycles`; ADC conversions split into full and
  partial row blocks (the NeuroSim ADC energy depends on the rows driven); buffer bits; the
  data each layer receives and its serialisation over the tile-to-tile messages; digital work.

`FeatureModel(hw)(wm, depths, tcs)` returns a dict of (N,) arrays; per-layer features come
from tables of prefix sums, so 20,000 architectures take milliseconds.
"""

from __future__ import annotations

import numpy as np

from enasim.config.schema import HardwareConfig
from enasim.cost.adc import cell_read_energy_pj, conversion_energy_pj
from enasim.errors import ConfigError
from enasim.kernels.mac_spec import MacSpec
from enasim.nas.degree import cell_widths, skip_sums

IMAGE_SIZE, IN_CHANNELS, NUM_CLASSES = 32, 3, 10  # CIFAR, as the NN-Mass code


def _cdiv(a: np.ndarray, b) -> np.ndarray:
    return -(-a // b)


def _mapping(hw: HardwareConfig, rows, cols, vectors) -> dict[str, np.ndarray]:
    """FLASH tiling (eqs. 5-7) with tile duplication, as `enasim.mapping.tiling._flash`."""
    R, C = hw.crossbar.rows, hw.crossbar.cols
    per_tile = hw.ce.pes_per_ce * hw.tile.ces_per_tile
    blocks = _cdiv(rows, R)
    arrays = blocks * _cdiv(cols, C)
    tiles = _cdiv(arrays, per_tile)
    copies = np.ones_like(arrays)
    if hw.mapping.duplication == "tile":
        copies = np.maximum(1, np.minimum(tiles * per_tile // arrays,
                                          vectors * hw.adc.cols_per_adc))
    return {"blocks": blocks, "arrays": arrays, "tiles": tiles, "copies": copies}


def _step_cycles(hw: HardwareConfig, m: dict, rows, cout, vectors) -> np.ndarray:
    """Cycles of all compute steps of each layer, as `enasim.plan.LayerPlan.step_cycles`
    (full steps of `copies` vectors, then the remainder), without the pipeline fill."""
    prec, adc = hw.precision, hw.adc
    ib, ob = hw.tile.input_buffer.port_bits, hw.tile.output_buffer.port_bits
    copies, tiles = m["copies"], m["tiles"]
    n_full, rem = vectors // copies, vectors % copies

    def step(v):
        r = _cdiv(v * rows * prec.input_bits, tiles * ib)
        c = prec.input_bits * _cdiv(v * adc.cols_per_adc, copies) * adc.cycles_per_conversion
        w = _cdiv(v * cout * prec.output_bits, tiles * ob)
        return np.maximum(np.maximum(r, c), w)

    return n_full * step(copies) + np.where(rem > 0, step(rem), 0)


LAYER_KEYS = ("tiles", "arrays", "compute_cycles", "row_blocks", "conv_full", "conv_partial",
              "conv_partial_rows", "conversions", "adc_pj", "input_bits", "buffer_read_bits",
              "output_bits", "serial_flits", "noc_serial", "digital_cycles", "accumulate_ops")


def _block_energy_pj(hw: HardwareConfig) -> np.ndarray:
    """ADC + cell energy of converting one column of a row block of r rows (r = 0 .. R), at
    the assumed input-bit density, as `enasim.plan.plan_layer` charges it."""
    at_once = MacSpec.from_hw(hw).rows_at_once
    density = hw.activity.input_bit_density
    out = np.zeros(hw.crossbar.rows + 1)
    for r in range(1, hw.crossbar.rows + 1):
        for p in range(0, r, at_once):
            active = min(at_once, r - p) * density
            out[r] += conversion_energy_pj(hw, active) + cell_read_energy_pj(hw, active)
    return out


def _layer(hw: HardwareConfig, cin, cout, pixels) -> dict[str, np.ndarray]:
    """Per-layer mapping features of 3x3 convs with `cin` inputs (arrays of any shape)."""
    prec, R = hw.precision, hw.crossbar.rows
    rows, cols = 9 * cin, cout * hw.columns_per_weight
    m = _mapping(hw, rows, cols, pixels)
    in_bits = cin * pixels * prec.input_bits
    block = _block_energy_pj(hw)
    phases = -(-np.minimum(rows, R) // MacSpec.from_hw(hw).rows_at_once)
    conv = pixels * cols * prec.input_bits
    return {
        "tiles": m["tiles"], "arrays": m["arrays"], "row_blocks": m["blocks"],
        "compute_cycles": _step_cycles(hw, m, rows, cout, pixels),
        "conv_full": pixels * cols * (rows // R) * prec.input_bits,
        "conv_partial": pixels * cols * (rows % R > 0) * prec.input_bits,
        "conv_partial_rows": pixels * cols * (rows % R) * prec.input_bits,
        "conversions": conv * m["blocks"] * phases,
        "adc_pj": conv * ((rows // R) * block[R] + block[rows % R]),
        "input_bits": in_bits,
        "buffer_read_bits": pixels * rows * prec.input_bits,
        "output_bits": pixels * cout * prec.output_bits,
        "serial_flits": in_bits / (hw.noc.flit_bits * m["tiles"]),  # flits per own tile
        # flits of one tile-to-tile message when the source has as many tiles as the layer
        "noc_serial": in_bits / (hw.noc.flit_bits * m["tiles"] ** 2),
        "digital_cycles": cin * pixels / m["tiles"],
        "accumulate_ops": pixels * cout * (m["blocks"] - 1),
    }


class FeatureModel:
    """Features of N architectures of the space on chip `hw` (see the module docstring).

    Per-layer features depend only on (cell, w_m, c_in), and in a cell c_in takes the values
    j w_c for the layers whose skip budget is not yet reached and w_c + t_c after, so each
    feature's cell sum is two lookups in a table of prefix sums: O(N x cells), not
    O(N x layers), which makes 20,000 architectures a few milliseconds.
    """

    def __init__(self, hw: HardwareConfig, cells: int = 3, wm_max: int = 3,
                 depth_max: int = 30):
        if hw.mapping.scheme != "flash":
            raise ConfigError(hw.name, "mapping.scheme", "the fitted FLASH models need "
                              "mapping.scheme 'flash'")
        if hw.adc.range_mode == "partial_rows":
            raise ConfigError(hw.name, "adc.range_mode", "the fitted FLASH models support "
                              "'full' and 'calibrated', not 'partial_rows'")
        self.hw, self.cells, self.wm_max, self.depth_max = hw, cells, wm_max, depth_max
        widths = cell_widths(np.arange(1, wm_max + 1), cells)          # (W, C)
        self.sides = IMAGE_SIZE // 2 ** np.arange(cells)
        # table[key][c, wm - 1, k]: feature of a layer of cell c with c_in = k
        kmax = int(widths.max()) * (depth_max + 1) + 1
        k = np.arange(kmax)[None, None, :]
        w = widths[:, :, None].transpose(1, 0, 2)                       # (C, W, 1)
        pix = (self.sides**2)[:, None, None]
        lay = _layer(hw, np.maximum(k, 1), w, pix)
        shape = (cells, wm_max, kmax)
        table = {key: np.broadcast_to(np.where(k > 0, v, 0), shape).astype(np.float64)
                 for key, v in lay.items()}
        # prefix[key][c, wm - 1, n] = sum over j = 2 .. n + 1 of the layer with c_in = j w_c
        j = np.arange(2, depth_max + 1)[None, None, :]
        cj = j * w
        prefix = {key: np.concatenate([np.zeros(v.shape[:2] + (1,)), np.cumsum(
            np.take_along_axis(v, np.broadcast_to(cj, v.shape[:2] + cj.shape[2:]), 2), 2)],
            axis=2) for key, v in table.items()}
        # flattened, one row per key of LAYER_KEYS, so all keys are gathered at once
        self.table = np.stack([table[key].reshape(-1) for key in LAYER_KEYS])
        self.prefix = np.stack([prefix[key].reshape(-1) for key in LAYER_KEYS])
        self.kmax, self.pmax = kmax, prefix[LAYER_KEYS[0]].shape[2]
        self.widths = widths
        side = self.sides[-1] // 2
        fc_rows = widths[:, -1] * side * side
        ones = np.ones_like(fc_rows)
        fm = _mapping(hw, fc_rows, np.full_like(fc_rows, NUM_CLASSES * hw.columns_per_weight),
                      ones)
        self.fc = {"tiles": fm["tiles"], "arrays": fm["arrays"], "row_blocks": fm["blocks"],
                   "compute_cycles": _step_cycles(hw, fm, fc_rows,
                                                  np.full_like(fc_rows, NUM_CLASSES), ones),
                   "flops": fc_rows * NUM_CLASSES}

    def __call__(self, wm, depths, tcs, keys=None) -> dict[str, np.ndarray]:
        """Features of N architectures; `keys`: compute only these mapping features (the
        whole-network FLASH ones are always computed; the per-cell ones when asked for)."""
        wm = np.atleast_1d(np.asarray(wm, np.int64))
        depths = np.atleast_2d(np.asarray(depths, np.int64))
        tcs = np.atleast_2d(np.asarray(tcs, np.int64))
        self._check(wm, depths, tcs)
        n, cells = depths.shape
        wi = wm - 1
        w = self.widths[wi]                                             # (N, C)
        m = np.minimum(np.maximum(depths - 2, 0), tcs // w)             # layers at c_in = j w
        rest = np.maximum(depths - 2 - m, 0)                            # layers at w + t
        prev = np.concatenate([np.full((n, 1), IN_CHANNELS), w[:, :-1]], axis=1)
        late = np.where(rest > 0, w + tcs, 0)                            # their c_in
        row = np.arange(cells)[None, :] * self.wm_max + wi[:, None]     # (cell, w_m) row
        at = row * self.kmax
        idx = np.stack([at + prev, at + w, at + late])                  # (3, N, C)
        pidx = row * self.pmax + m
        sel = np.array([i for i, k in enumerate(LAYER_KEYS) if keys is None or k in keys])
        # gathers from the flat tables (indexing rows first would copy them)
        t = self.table.ravel()[sel[:, None, None, None] * self.table.shape[1] + idx]
        p = self.prefix.ravel()[sel[:, None, None] * self.prefix.shape[1] + pidx]
        cell = t[:, 0] + t[:, 1] + p + rest * t[:, 2]                   # (K, N, C)
        sums = cell.sum(axis=2)
        out: dict[str, np.ndarray] = {}
        for i, r in zip(sel, sums, strict=True):
            key = LAYER_KEYS[i]
            out[key] = r + (self.fc[key][wi] if key in self.fc else 0.0)
        skips = skip_sums(w, depths, tcs)
        pix = (self.sides**2)[None, :]
        sc = w * skips
        cin_sum = prev + w * (depths - 1) + skips
        flops = 9 * cin_sum * w * pix
        fm = depths * w * pix
        comm = skips * pix
        out.update({
            "wm": wm.astype(np.float64), "cells": np.full(n, float(cells)),
            "layers": depths.sum(axis=1) + 1.0,
            "nc_d_wm2": (depths.sum(axis=1) * cells * wm**2).astype(np.float64),
            "sc": sc.sum(axis=1).astype(np.float64), "comm": comm.sum(axis=1) * 1.0,
            "flops": flops.sum(axis=1) + self.fc["flops"][wi] * 1.0,
            "fm": fm.sum(axis=1) * 1.0,
        })
        if "tiles" in out and "compute_cycles" in out:
            out["leak"] = out["tiles"] * out["compute_cycles"]
        if "tiles" in out and "input_bits" in out:
            out["noc_hops"] = out["input_bits"] * np.sqrt(out["tiles"])  # bits x ~distance
        for name, v in {"d": depths, "sc": sc, "comm": comm, "flops": flops, "fm": fm}.items():
            for c in range(cells):
                if keys is None or f"{name}{c}" in keys:
                    out[f"{name}{c}"] = v[:, c] * 1.0
        return out

    def _check(self, wm, depths, tcs) -> None:
        if depths.shape != tcs.shape or depths.shape[1] != self.cells or len(wm) != len(depths):
            raise ConfigError("", "architectures", f"expected wm (N,), depths and tcs (N, "
                              f"{self.cells}); got {wm.shape}, {depths.shape}, {tcs.shape}")
        if wm.min() < 1 or wm.max() > self.wm_max:
            raise ConfigError("", "wm", f"expected 1 .. {self.wm_max}, got {wm.min()} .. "
                              f"{wm.max()}")
        if depths.min() < 2 or depths.max() > self.depth_max:
            raise ConfigError("", "depths", f"expected 2 .. {self.depth_max}, got "
                              f"{depths.min()} .. {depths.max()}")
        if tcs.min() < 0:
            raise ConfigError("", "tcs", f"expected >= 0, got {tcs.min()}")
