"""Architecture features of FLASH's DenseNet space, vectorised over many architectures.

The fitted hardware models (`enasim.analytical.fitted`) are linear in these. Two families:

* FLASH's own: w_m, d_c, N_c, N_c d_c w_m^2, SC_c (skip edges), Comm_c (skip channels moved,
  x map size), FLOPs_c, FM_c (output activations) and the tile count N_T.
* enasim's mapping in closed form (the same rules as `enasim.mapping` with `scheme: flash` and
  `enasim.plan`): per layer the arrays, tiles, weight copies, steps and the step cycles
  max(read, compute, write), summed: `compute_cycles`; ADC conversions split into full and
  partial row blocks (the NeuroSim ADC energy depends on the rows driven); buffer bits; the
  data each layer receives and its serialisation over the tile-to-tile messages; digital work;
  and, for a cycle-level mesh, the contention: while a layer's inputs arrive, the flits of its
  busiest link under X-Y routing (`link_flits`, summed over the layers), from the placement
  and the tile-pair traffic of `enasim.noc.interconnect.pairs`, exactly.

`FeatureModel(hw)(wm, depths, tcs)` returns a dict of (N,) arrays (`.matrix`: one (F, N)
array); per-layer features come from tables of prefix sums, read by a compiled loop, so 20,000
architectures take milliseconds and one a few microseconds. The contention walks every
layer's tiles on the mesh instead (about 30 us an architecture), so `matrix` computes it only
on request.

The one import from `enasim.nas` (`degree.cell_widths`) is the definition of the space's cell
widths: the features describe FLASH's architectures, so they read the space's own geometry
rather than a copy of it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from enasim.config.schema import HardwareConfig
from enasim.cost.adc import cell_read_energy_pj, conversion_energy_pj
from enasim.errors import ConfigError
from enasim.kernels.mac_spec import MacSpec
from enasim.nas.degree import cell_widths

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
    phases = _cdiv(np.minimum(rows, hw.crossbar.rows), MacSpec.from_hw(hw).rows_at_once)

    def step(v):
        r = _cdiv(v * rows * prec.input_bits, tiles * ib)
        c = (prec.input_bits * phases * _cdiv(v * adc.cols_per_adc, copies)
             * adc.cycles_per_conversion)
        w = _cdiv(v * cout * prec.output_bits, tiles * ob)
        return np.maximum(np.maximum(r, c), w)

    return n_full * step(copies) + np.where(rem > 0, step(rem), 0)


LAYER_KEYS = ("tiles", "arrays", "compute_cycles", "row_blocks", "conv_full", "conv_partial",
              "conv_partial_rows", "conversions", "adc_pj", "input_bits", "buffer_read_bits",
              "output_bits", "serial_flits", "noc_serial", "digital_cycles", "accumulate_ops")


# whole-network features after the LAYER_KEYS, in the order `_features` writes them: FLASH's
# (N_c d_c w_m^2, skip edges SC, skip channels moved x map size Comm, FLOPs, output activations
# FM), tiles x compute cycles (leakage), input bits x sqrt(tiles) (NoC distance), NN-Degree g,
# the busiest link's flits of every layer's input delivery under X-Y routing, summed (on a
# congested mesh, what sets the deliveries' time), tiles x that (the leakage meanwhile), and the
# flits the mesh carries (every tile pair's share rounded up to whole flits)
NETWORK_KEYS = ("wm", "cells", "layers", "nc_d_wm2", "sc", "comm", "flops", "fm", "leak",
                "noc_hops", "g", "link_flits", "leak_noc", "noc_flits")
CELL_KEYS = ("d", "sc", "comm", "flops", "fm")  # per cell: d0, d1, ..., sc0, ...
_TILES, _CYCLES = LAYER_KEYS.index("tiles"), LAYER_KEYS.index("compute_cycles")
_IN_BITS = LAYER_KEYS.index("input_bits")
# the features `FeatureModel.matrix` computes only on request (they walk every layer's tiles)
LINK_KEYS = ("link_flits", "leak_noc", "noc_flits")
_LINKS = len(LAYER_KEYS) + NETWORK_KEYS.index(LINK_KEYS[0])


def feature_names(cells: int) -> tuple[str, ...]:
    """Every feature `FeatureModel` computes, in the row order of its matrix."""
    return (*LAYER_KEYS, *NETWORK_KEYS, *(f"{k}{c}" for k in CELL_KEYS for c in range(cells)))


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


@njit(cache=True)
def _features(wm, depths, tcs, table, prefix, kmax, pmax, wm_max, fc, fc_flops, widths, pix,
              out) -> None:
    """Fill out (F, N) with the features of N architectures (see `FeatureModel`)."""
    n_layer, cells = table.shape[0], depths.shape[1]
    for i in range(len(wm)):
        wi = wm[i] - 1
        for k in range(n_layer):
            s = 0.0
            for c in range(cells):
                w, d, t = widths[wi, c], depths[i, c], tcs[i, c]
                m = min(max(d - 2, 0), t // w)                  # layers at c_in = j w
                rest = max(d - 2 - m, 0)                        # layers at c_in = w + t
                prev = IN_CHANNELS if c == 0 else widths[wi, c - 1]
                at = (c * wm_max + wi) * kmax
                late = table[k, at + w + t] if rest > 0 else table[k, at]
                s += (table[k, at + prev] + table[k, at + w]
                      + prefix[k, (c * wm_max + wi) * pmax + m] + rest * late)
            out[k, i] = s + fc[k, wi]
        dsum, sc, comm, flops, fm, g = 0, 0, 0, 0, 0, 0.0
        for c in range(cells):
            w, d, t = widths[wi, c], depths[i, c], tcs[i, c]
            m = min(max(d - 2, 0), t // w)
            skips = w * m * (m + 1) // 2 + max(d - 2 - m, 0) * t
            prev = IN_CHANNELS if c == 0 else widths[wi, c - 1]
            cell = (d, w * skips, skips * pix[c], 9 * (prev + w * (d - 1) + skips) * w * pix[c],
                    d * w * pix[c])
            for j in range(len(CELL_KEYS)):
                out[n_layer + len(NETWORK_KEYS) + j * cells + c, i] = cell[j]
            dsum += d
            sc += cell[1]
            comm += cell[2]
            flops += cell[3]
            fm += cell[4]
            g += w + skips / d
        net = out[n_layer:n_layer + len(NETWORK_KEYS), i]
        net[0], net[1], net[2], net[3] = wm[i], cells, dsum + 1.0, dsum * cells * wm[i] ** 2
        net[4], net[5], net[6], net[7] = sc, comm, flops + fc_flops[wi] * 1.0, fm
        net[8] = out[_TILES, i] * out[_CYCLES, i]
        net[9] = out[_IN_BITS, i] * np.sqrt(out[_TILES, i])
        net[10] = g


@njit(cache=True)
def _busiest_link(d0, Q, lo, hi, f, m, C, snake, dc, g, rs) -> int:
    """Flits on the busiest link while every tile of m producers (producer k: tiles lo[k] ..
    hi[k] - 1, f[k] flits to each consumer tile) sends to every tile of the consumer (tiles
    d0 .. d0 + Q - 1), routed X then Y. The producers' tiles come first (tiles are numbered
    layer after layer), so no flit goes up the mesh. A link down column x into consumer tile
    q carries the flits of every producer tile in a row above q's to the consumer tiles of
    column x from q's row down; the busiest such link enters some consumer tile. A link along
    a row carries the flits of that row's producer tiles on one side to the consumer tiles (in
    any row) on the other: a pass along the row, made only where the row's flits times Q
    exceed the busiest link found (with one consumer tile, never: row-major, every producer
    tile of its row is west of it, and those of the rows above are its flits from the north)."""
    rows = (d0 + Q - 1) // C + 1
    rs[:rows + 1] = 0  # rs[y + 1]: flits of the producer tiles in row y, then of rows 0 .. y
    for k in range(m):
        for y in range(lo[k] // C, (hi[k] - 1) // C + 1):
            rs[y + 1] += f[k] * (min(hi[k], (y + 1) * C) - max(lo[k], y * C))
    for y in range(rows):
        rs[y + 1] += rs[y]
    best = 0
    dc[:C] = 0
    for q in range(d0 + Q - 1, d0 - 1, -1):  # bottom up: dc[x] counts q's tile and those below
        r = q // C
        x = C - 1 - (q - r * C) if snake and r & 1 else q - r * C
        dc[x] += 1
        best = max(best, rs[r] * dc[x])
    if Q == 1 and not snake:
        return max(best, rs[rows] - rs[rows - 1])
    for y in range(rows - 1, -1, -1):
        if (rs[y + 1] - rs[y]) * Q <= best:
            continue
        g[:C] = 0
        for k in range(m):
            for t in range(max(lo[k], y * C), min(hi[k], (y + 1) * C)):
                g[C - 1 - (t - y * C) if snake and y & 1 else t - y * C] += f[k]
        sent, right = 0, Q  # eastwards: flits of the tiles at or left of x, to the right of x
        for x in range(C - 1):
            sent += g[x]
            right -= dc[x]
            best = max(best, sent * right)
        sent, left = 0, Q  # westwards: flits of the tiles right of x, to the tiles at or left
        for x in range(C - 1, 0, -1):
            sent += g[x]
            left -= dc[x]
            best = max(best, sent * left)
    return best


@njit(cache=True)
def _link_flits(wm, depths, tcs, tiles, kmax, wm_max, fc_tiles, widths, pix, fixed_cols, snake,
                out_bits, flit_bits, out, sent) -> None:
    """out[i]: the busiest link's flits of each weight layer's input delivery, summed over the
    layers of architecture i; sent[i]: the flits of those deliveries. With the data and tiles of
    `enasim.mapping` (`_transfers`: a layer j >= 2 of a cell receives its t_j skip channels as
    equal shares of layers 1 .. j-1; row-major or snake placement; the near-square mesh unless
    `fixed_cols`) and the flits of `enasim.noc.interconnect.pairs` (each producer tile sends an
    equal share to each consumer tile, in whole flits), in the same floating-point operations."""
    cells = depths.shape[1]
    most = cells * depths.max() + 1
    lt = np.zeros(most, np.int64)
    start = np.zeros(most + 1, np.int64)
    prod = np.zeros(most, np.int64)  # the producer layers of a layer, the last first
    plo = np.zeros(most, np.int64)
    phi = np.zeros(most, np.int64)
    ptiles = np.zeros(most, np.int64)
    pflits = np.zeros(most, np.int64)
    elems = np.zeros(most)
    for i in range(len(wm)):
        wi = wm[i] - 1
        n = 0
        for c in range(cells):
            w, t = widths[wi, c], tcs[i, c]
            row = (c * wm_max + wi) * kmax  # the cell's layers in `tiles`, by c_in
            for j in range(depths[i, c]):
                if j == 0:
                    cin = IN_CHANNELS if c == 0 else widths[wi, c - 1]
                else:
                    cin = w + (min(t, (j - 1) * w) if j > 1 else 0)
                lt[n] = int(tiles[row + cin])
                n += 1
        lt[n] = int(fc_tiles[wi])
        n += 1
        for k in range(n):
            start[k + 1] = start[k] + lt[k]
        total = start[n]
        C = fixed_cols
        if C == 0:  # `mapping.placement.mesh_shape`: isqrt(total - 1) + 1 columns
            C = 1
            while total > C * C:
                C += 1
        dc = np.zeros(C, np.int64)
        g = np.zeros(C, np.int64)
        rs = np.zeros(total // C + 3, np.int64)
        s, f, base = 0, 0, 0
        for c in range(cells + 1):  # the head's fully connected layer last
            d = depths[i, c] if c < cells else 1
            for j in range(d):
                at, m = base + j, 0  # the consumer layer, its producers
                if c == cells:  # the head pools the last map by 2 before its fc layer
                    elems[0] = float(widths[wi, c - 1] * pix[c - 1]) * 0.25
                    prod[0], m = at - 1, 1
                elif j == 0:
                    if c > 0:
                        elems[0] = float(widths[wi, c - 1] * pix[c - 1])
                        prod[0], m = at - 1, 1
                else:
                    w, p = widths[wi, c], pix[c]
                    tj = min(tcs[i, c], (j - 1) * w) if j > 1 else 0
                    share = float(w * p) * ((tj * p) / ((j - 1) * w * p)) if tj else 0.0
                    elems[0] = float(w * p) + share
                    prod[0], m = at - 1, 1
                    if tj:
                        for k in range(1, j - 1):
                            elems[m] = share
                            prod[m] = at - 1 - k
                            m += 1
                if m == 0:
                    continue
                Q = lt[at]
                for k in range(m):  # ascending tile order: the producers came last first
                    P = lt[prod[m - 1 - k]]
                    if k and ptiles[k - 1] == P and elems[m - 1 - k] == elems[m - k]:
                        pflits[k] = pflits[k - 1]  # the same share of as many tiles
                    else:
                        pflits[k] = max(1, int(np.ceil(elems[m - 1 - k] * out_bits / (P * Q)
                                                       / flit_bits)))
                    ptiles[k] = P
                    plo[k] = start[prod[m - 1 - k]]
                    phi[k] = plo[k] + P
                    f += P * Q * pflits[k]
                s += _busiest_link(start[at], Q, plo, phi, pflits, m, C, snake, dc, g, rs)
            base += d
        out[i], sent[i] = s, f


class FeatureModel:
    """Features of N architectures of the space on chip `hw` (see the module docstring).

    Per-layer features depend only on (cell, w_m, c_in), and in a cell c_in takes the values
    j w_c for the layers whose skip budget is not yet reached and w_c + t_c after, so each
    feature's cell sum is two lookups in a table of prefix sums: O(N x cells), not
    O(N x layers). The tables are built here; `_features` reads them.
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
        self.fixed_cols = 0 if hw.noc.mesh_rows == "auto" else int(hw.noc.mesh_cols)
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
        self.fc_table = np.array([self.fc.get(key, np.zeros(wm_max)) for key in LAYER_KEYS],
                                 np.float64)
        self.fc_flops = self.fc["flops"].astype(np.int64)
        self.names = feature_names(cells)

    def __call__(self, wm, depths, tcs) -> dict[str, np.ndarray]:
        """Features of N architectures, by name (rows of `matrix`)."""
        return dict(zip(self.names, self.matrix(wm, depths, tcs), strict=True))

    def matrix(self, wm, depths, tcs, check: bool = True, links: bool = True) -> np.ndarray:
        """Features of N architectures as an (F, N) array, rows in the order of `names`;
        `check=False` skips the range checks (for callers that keep to the space);
        `links=False` leaves out `LINK_KEYS` (NaN): they walk every layer's tiles on the mesh,
        ~30 us an architecture where the rest takes ~1 us."""
        wm = np.atleast_1d(np.asarray(wm, np.int64))
        depths = np.atleast_2d(np.asarray(depths, np.int64))
        tcs = np.atleast_2d(np.asarray(tcs, np.int64))
        if check:
            self._check(wm, depths, tcs)
        out = np.empty((len(self.names), len(wm)))
        _features(wm, depths, tcs, self.table, self.prefix, self.kmax, self.pmax,
                  self.wm_max, self.fc_table, self.fc_flops, self.widths, self.sides**2, out)
        out[_LINKS:_LINKS + len(LINK_KEYS)] = np.nan
        if links:
            hw = self.hw
            _link_flits(wm, depths, tcs, self.table[_TILES], self.kmax, self.wm_max,
                        self.fc_table[_TILES], self.widths, self.sides**2, self.fixed_cols,
                        hw.mapping.placement == "snake", hw.precision.output_bits,
                        hw.noc.flit_bits, out[_LINKS], out[_LINKS + 2])
            out[_LINKS + 1] = out[_TILES] * out[_LINKS]
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
