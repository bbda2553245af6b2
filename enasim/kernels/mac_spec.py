"""Bit-sliced crossbar MAC: the semantics, defined once for both implementations.

`enasim.kernels.mac` (Numba) and `enasim.kernels.mac_reference` (numpy) compute exactly this.
Every quantity is an integer (conductances in fixed point), so the two agree bit for bit and
tests compare them with `==`.

Numbers. Weights are signed integers w in [-2^(Bw-1), 2^(Bw-1) - 1] (Bw = precision.weight_bits),
inputs unsigned integers x in [0, 2^Bx - 1] (Bx = precision.input_bits). The crossbars
approximate y[c] = sum_r x[r] * w[r, c]; with an ideal ADC and ideal cells they give it exactly.

Signed weights (precision.signed_weights).
  offset        cells store u = w + 2^(Bw-1) in [0, 2^Bw - 1]; the periphery subtracts
                2^(Bw-1) * sum_r x[r], computed digitally from the input (exact, no extra column).
  differential  a column pair per slice holds u+ = max(w, 0) and u- = max(-w, 0); y = y+ - y-.
                Twice the columns of `offset`.

Slices. u is cut into S = ceil(Bw / Bc) slices of Bc = crossbar.cell_bits bits; slice k is the
cell level (u >> k*Bc) & L, L = 2^Bc - 1. Physical column (c*S + k)*P + p holds output c, slice
k, polarity p (P = 1 for offset, 2 for differential with p = 0 positive): the slices of a weight
sit on adjacent columns. How columns are split over arrays does not change the result (every
column has its own conversions); how rows are split does.

Rows. The matrix rows are cut into row blocks, one per array (the mapping's `block_rows`:
crossbar.rows each, or NeuroSim's per-kernel-position blocks), and each block into read phases
of `rows_at_once` consecutive rows (crossbar.rows_parallel, fewer with partial_rows). The
partial sums of phases and blocks are added digitally.

Reads. In each phase, input bit b (b = 0 first) drives the rows whose x has bit b set, and each
column returns s = the sum of its driven cells' conductances in units of one cell level. Ideal
cells conduct exactly their level, so s is an integer <= rows_at_once * L.

ADC (adc.bits = Ba, top code T = 2^Ba - 1, LSB = `step` whole cell levels). One conversion per
column, phase and input bit:
    code = min(floor(s / step + 1/2), T)      round half up; "clipped" when the min applies
    value = code * step
adc.range_mode chooses the step:
  full          step = max(1, ceil(rows_parallel * L / T)): the smallest whole number of levels
                whose T steps cover the largest possible column sum (coarse; ideal cells
                never clip).
  calibrated    step = max(1, ceil(C / T)), C = the smallest whole level that at least
                adc.calibration_percentile % of the column sums (rounded to whole levels; every
                phase, bit and column, zeros included) do not exceed, over up to 64 evenly
                spaced input vectors of the layer on the programmed cells: one clip per layer,
                chosen from its data.
  partial_rows  rows_at_once = min(rows_parallel, floor(T / L)) and step = 1: no column sum of
                ideal cells exceeds T, so conversions are exact, at the cost of
                ceil(block rows / rows_at_once) read phases.
A whole-level LSB keeps the digital side integer: an ADC with T >= rows_parallel * L has step 1
and is exact in every mode.

Shift-and-add. y[c] = sum over blocks, phases, bits b, slices k and polarities p of
(-1)^p * value * 2^(b + k*Bc), in int64, minus the offset term of `offset`.

Device (hwconfig `device`, drawn once per layer outside the kernels with
numpy.random.default_rng(seed)). A cell's conductance in cell levels is its programmed level
(0 if stuck at 0, L if stuck at 1; one uniform draw per cell decides), plus g_off = L /
on_off_ratio (0 for ideal cells), times exp(sigma*z) (lognormal) or max(0, 1 + sigma*z)
(normal), z ~ N(0, 1). It is stored in fixed point as rint(G * 2^16), so column sums stay exact
integers; the ADC then rounds s_fp / (step * 2^16) by the rule above.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from enasim.config.schema import HardwareConfig
from enasim.errors import ConfigError, EnasimError

FRACTION_BITS = 16  # fixed-point resolution of non-ideal conductances: 2^-16 cell levels
CALIBRATION_VECTORS = 64  # input vectors sampled by the calibrated range rule
_EXACT_FLOAT = 2.0**53  # integer sums below this are exact in a float64 matmul
_MAX_ACCUMULATOR = 2**62


@dataclass(frozen=True)
class MacSpec:
    """The precision, ADC and device settings of a hwconfig that the MAC kernels use."""

    weight_bits: int
    input_bits: int
    cell_bits: int
    signed_weights: str
    adc_bits: int
    range_mode: str
    calibration_percentile: float
    array_rows: int
    rows_parallel: int
    variation: str
    variation_sigma: float
    stuck_at_0_fraction: float
    stuck_at_1_fraction: float
    on_off_ratio: float

    @classmethod
    def from_hw(cls, hw: HardwareConfig) -> MacSpec:
        p, a, xb, d = hw.precision, hw.adc, hw.crossbar, hw.device
        return cls(p.weight_bits, p.input_bits, xb.cell_bits, p.signed_weights, a.bits,
                   a.range_mode, a.calibration_percentile, xb.rows, xb.rows_parallel,
                   d.variation, d.variation_sigma, d.stuck_at_0_fraction,
                   d.stuck_at_1_fraction, d.on_off_ratio)

    @property
    def slices(self) -> int:
        return -(-self.weight_bits // self.cell_bits)

    @property
    def polarities(self) -> int:
        return 2 if self.signed_weights == "differential" else 1

    @property
    def cell_max(self) -> int:
        """L: the highest cell level."""
        return (1 << self.cell_bits) - 1

    @property
    def adc_top(self) -> int:
        """T: the highest ADC code."""
        return (1 << self.adc_bits) - 1

    @property
    def weight_range(self) -> tuple[int, int]:
        half = 1 << (self.weight_bits - 1)
        return -half, half - 1

    @property
    def offset(self) -> int:
        """Added to every weight by the offset scheme (0 for differential)."""
        return 1 << (self.weight_bits - 1) if self.signed_weights == "offset" else 0

    @property
    def rows_at_once(self) -> int:
        """Rows driven together in one read phase."""
        if self.range_mode == "partial_rows":
            return max(1, min(self.rows_parallel, self.adc_top // self.cell_max))
        return self.rows_parallel

    @property
    def ideal_cells(self) -> bool:
        return ((self.variation == "none" or self.variation_sigma == 0)
                and self.stuck_at_0_fraction == 0 and self.stuck_at_1_fraction == 0
                and self.on_off_ratio == 0)


@dataclass(frozen=True, eq=False)
class CrossbarLayer:
    """A weight matrix programmed onto crossbars: cell levels, conductances, read phases."""

    spec: MacSpec
    n_out: int
    levels: np.ndarray  # (rows, n_out * S * P) uint8 programmed cell levels
    conductance_fp: np.ndarray | None  # same shape, fixed point; None for ideal cells
    block_rows: tuple[int, ...]
    phase_start: np.ndarray  # (phases + 1,) int64: first row of each read phase, then rows
    phase_block: np.ndarray  # (phases,) int64: row block of each phase

    @property
    def rows(self) -> int:
        return self.levels.shape[0]

    @property
    def columns(self) -> int:
        """Physical columns: outputs x slices x polarities."""
        return self.levels.shape[1]

    @property
    def cells(self) -> np.ndarray:
        """What a column sums: levels (ideal) or fixed-point conductances."""
        return self.levels if self.conductance_fp is None else self.conductance_fp

    @cached_property
    def max_column_sum(self) -> int:
        """The largest sum any column can return in one read phase (units of `sum_unit`)."""
        return max(int(self.cells[a:b].sum(axis=0).max())
                   for a, b in zip(self.phase_start[:-1], self.phase_start[1:], strict=True))

    @cached_property
    def kernel_cells(self) -> np.ndarray:
        """`cells` as the Numba kernel reads them: in the narrowest integer type that holds
        every column sum, and segment-major, column (c*S + k)*P + p moved to (k*P + p)*n_out + c,
        so that a segment (slice, polarity) of outputs is contiguous and the shift-and-add
        vectorises. Kept per layer: a copy per call would cost a batch-1 call a third more."""
        dtype = next((t for t in (np.uint16, np.uint32)
                      if self.max_column_sum <= np.iinfo(t).max), np.int64)
        cells = self.cells.reshape(self.rows, self.n_out, -1).transpose(0, 2, 1)
        return np.ascontiguousarray(cells, dtype=dtype).reshape(self.rows, -1)

    @property
    def sum_unit(self) -> int:
        """One cell level in the units of `cells`."""
        return 1 if self.conductance_fp is None else 1 << FRACTION_BITS


@dataclass(frozen=True)
class MacActivity:
    """What the crossbars did for a batch of input vectors (feeds the data-dependent energy)."""

    vectors: int
    input_bits: int
    columns: int
    adc_step: int  # LSB in cell levels
    block_rows: tuple[int, ...]
    block_phases: tuple[int, ...]
    block_ones: tuple[int, ...]  # input bits equal to 1 applied to each row block
    clipped_conversions: int
    # a grouped conv's groups (`merge`): each has the row blocks above and its own columns;
    # block_ones adds over them, `columns` counts all
    groups: int = 1

    @property
    def block_conversions(self) -> tuple[int, ...]:
        per_phase = self.vectors * self.input_bits * self.columns
        return tuple(per_phase * p for p in self.block_phases)

    @property
    def conversions(self) -> int:
        return sum(self.block_conversions)

    @property
    def clipped_fraction(self) -> float:
        return self.clipped_conversions / self.conversions if self.conversions else 0.0

    @property
    def block_input_bit_density(self) -> tuple[float, ...]:
        bits = self.vectors * self.input_bits * self.groups
        return tuple(o / (bits * r) if bits else 0.0
                     for o, r in zip(self.block_ones, self.block_rows, strict=True))

    @property
    def input_bit_density(self) -> float:
        bits = self.vectors * self.input_bits * sum(self.block_rows) * self.groups
        return sum(self.block_ones) / bits if bits else 0.0

    @property
    def block_active_rows(self) -> tuple[float, ...]:
        """Mean rows driven per conversion in each block (the NeuroSim ADC energy's input);
        every group has as many columns, so the mean over groups."""
        reads = self.vectors * self.input_bits * self.groups
        return tuple(o / (reads * p) if reads else 0.0
                     for o, p in zip(self.block_ones, self.block_phases, strict=True))

    @staticmethod
    def merge(parts: Sequence[MacActivity]) -> MacActivity:
        """One activity of the groups of a grouped conv (same vectors, blocks and step)."""
        first = parts[0]
        ones = np.sum([a.block_ones for a in parts], axis=0)
        return MacActivity(first.vectors, first.input_bits, sum(a.columns for a in parts),
                           first.adc_step, first.block_rows, first.block_phases,
                           tuple(int(o) for o in ones),
                           sum(a.clipped_conversions for a in parts),
                           sum(a.groups for a in parts))


def split_rows(rows: int, size: int) -> tuple[int, ...]:
    """`rows` in blocks of `size`: (size, ..., remainder)."""
    return tuple(min(size, rows - i) for i in range(0, rows, size))


def check_weights(weights: np.ndarray, spec: MacSpec, name: str = "weights") -> np.ndarray:
    """A 2-D integer matrix within the signed range of precision.weight_bits, as int64."""
    w = np.asarray(weights)
    if w.ndim != 2 or w.size == 0:
        raise ConfigError("", name, f"expected a non-empty 2-D weight matrix (rows x outputs), "
                          f"got shape {w.shape}")
    if not np.issubdtype(w.dtype, np.integer):
        raise ConfigError("", name, f"expected integer weights, got dtype {w.dtype}")
    lo, hi = spec.weight_range
    if w.min() < lo or w.max() > hi:
        raise ConfigError("", name, f"weights must lie in [{lo}, {hi}] for "
                          f"precision.weight_bits {spec.weight_bits}, got values in "
                          f"[{w.min()}, {w.max()}]")
    return w.astype(np.int64)


def check_inputs(x: np.ndarray, layer: CrossbarLayer, name: str = "inputs") -> np.ndarray:
    """A (vectors, rows) integer matrix within [0, 2^input_bits - 1], as contiguous int64."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != layer.rows:
        raise ConfigError("", name, f"expected input vectors of shape (n, {layer.rows}) for a "
                          f"weight matrix of {layer.rows} rows, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ConfigError("", name, f"expected integer inputs, got dtype {x.dtype}")
    top = (1 << layer.spec.input_bits) - 1
    if x.size and (x.min() < 0 or x.max() > top):
        raise ConfigError("", name, f"inputs must lie in [0, {top}] for precision.input_bits "
                          f"{layer.spec.input_bits}, got values in [{x.min()}, {x.max()}]")
    return np.ascontiguousarray(x, dtype=np.int64)


def encode_levels(w: np.ndarray, spec: MacSpec) -> np.ndarray:
    """Cell levels (uint8) of the physical columns (layout in the module docstring)."""
    if spec.signed_weights == "offset":
        parts = [w + spec.offset]
    else:
        parts = [np.maximum(w, 0), np.maximum(-w, 0)]
    levels = np.empty((w.shape[0], w.shape[1], spec.slices, len(parts)), np.uint8)
    for p, u in enumerate(parts):
        for k in range(spec.slices):
            levels[:, :, k, p] = (u >> (k * spec.cell_bits)) & spec.cell_max
    return levels.reshape(w.shape[0], -1)


def perturb(levels: np.ndarray, spec: MacSpec, rng: np.random.Generator) -> np.ndarray:
    """Fixed-point conductances of non-ideal cells (model in the module docstring)."""
    g = levels.astype(np.float64)
    if spec.stuck_at_0_fraction or spec.stuck_at_1_fraction:
        u = rng.random(levels.shape, dtype=np.float32)
        g[u < spec.stuck_at_0_fraction] = 0.0
        g[(u >= spec.stuck_at_0_fraction)
          & (u < spec.stuck_at_0_fraction + spec.stuck_at_1_fraction)] = spec.cell_max
    if spec.on_off_ratio:
        g += spec.cell_max / spec.on_off_ratio
    if spec.variation != "none" and spec.variation_sigma:
        z = rng.standard_normal(levels.shape, dtype=np.float32)
        if spec.variation == "lognormal":
            g *= np.exp(spec.variation_sigma * z)
        else:
            g *= np.maximum(0.0, 1.0 + spec.variation_sigma * z)
    return np.rint(g * (1 << FRACTION_BITS)).astype(np.int64)


def program(weights: np.ndarray, spec: MacSpec, block_rows: Sequence[int] | None = None,
            seed: int | Sequence[int] = 0, name: str = "weights") -> CrossbarLayer:
    """Program a (rows, outputs) integer weight matrix; `seed` draws the device effects."""
    w = check_weights(weights, spec, name)
    rows = w.shape[0]
    blocks = tuple(block_rows) if block_rows is not None else split_rows(rows, spec.array_rows)
    if sum(blocks) != rows or min(blocks) < 1 or max(blocks) > spec.array_rows:
        raise EnasimError(f"{name}: row blocks {blocks} must be 1..{spec.array_rows} rows each "
                          f"and add up to the {rows} rows of the matrix")
    starts, owner = [], []
    r0 = 0
    for b, n in enumerate(blocks):
        for k in split_rows(n, spec.rows_at_once):
            starts.append(r0)
            owner.append(b)
            r0 += k
    starts.append(rows)
    levels = encode_levels(w, spec)
    g = None if spec.ideal_cells else perturb(levels, spec, np.random.default_rng(seed))
    layer = CrossbarLayer(spec, w.shape[1], levels, g, blocks,
                          np.asarray(starts, np.int64), np.asarray(owner, np.int64))
    _check_ranges(layer, name)
    return layer


def _check_ranges(layer: CrossbarLayer, name: str) -> None:
    """Column sums must be exact in float64 and the shift-and-add must fit in int64."""
    spec = layer.spec
    biggest = layer.max_column_sum
    value = max(full_step(spec) * spec.adc_top, biggest // layer.sum_unit + 1 + spec.adc_top)
    phases = len(layer.phase_block)
    bound = (phases * value * ((1 << spec.input_bits) - 1)
             * (1 << (spec.cell_bits * spec.slices)) * spec.polarities)
    if biggest >= _EXACT_FLOAT or bound >= _MAX_ACCUMULATOR:
        raise EnasimError(f"{name}: precision.weight_bits {spec.weight_bits} with input_bits "
                          f"{spec.input_bits} over {layer.rows} rows overflows the 64-bit "
                          "accumulators; use fewer bits")


def full_step(spec: MacSpec) -> int:
    """The LSB of the `full` range: ceil(rows_parallel * L / T) cell levels (at least 1)."""
    return max(1, -(-spec.rows_parallel * spec.cell_max // spec.adc_top))


def column_sums(x: np.ndarray, layer: CrossbarLayer) -> Iterator[tuple[int, int, np.ndarray]]:
    """(phase, input bit, sums) for every read: sums[v, col] in units of `layer.sum_unit`.

    A float64 matmul of 0/1 bits and integer cells is exact (program() checks every sum is
    below 2^53), so this is integer arithmetic at BLAS speed.
    """
    cells = layer.cells
    shifts = np.arange(layer.spec.input_bits, dtype=np.int64)[:, None, None]
    for ph in range(len(layer.phase_block)):
        r0, r1 = layer.phase_start[ph], layer.phase_start[ph + 1]
        g = cells[r0:r1].astype(np.float64)
        bits = ((x[None, :, r0:r1] >> shifts) & 1).astype(np.float64)  # (bits, vectors, rows)
        # one 2-D matmul for every input bit of the phase (a 3-D one does not use BLAS)
        sums = (bits.reshape(-1, r1 - r0) @ g).astype(np.int64).reshape(len(shifts), len(x), -1)
        for b in range(layer.spec.input_bits):
            yield ph, b, sums[b]


def adc_step(x: np.ndarray, layer: CrossbarLayer) -> int:
    """The ADC LSB in cell levels for adc.range_mode (the calibrated rule reads `x`)."""
    return shared_adc_step([(x, layer)])


def shared_adc_step(parts: Sequence[tuple[np.ndarray, CrossbarLayer]]) -> int:
    """One ADC LSB for several (inputs, crossbars) of one layer (a grouped conv's groups): the
    calibrated rule reads the column sums of all of them."""
    spec = parts[0][1].spec
    if spec.range_mode == "partial_rows":
        return 1
    if spec.range_mode == "full" or parts[0][0].shape[0] == 0:
        return full_step(spec)
    counts = np.zeros(1, np.int64)
    for x, layer in parts:
        n = x.shape[0]
        sample = x[np.unique(np.linspace(0, n - 1, min(n, CALIBRATION_VECTORS)).astype(np.int64))]
        unit = layer.sum_unit
        for _, _, s in column_sums(sample, layer):
            c = np.bincount(((s + unit // 2) // unit).ravel())
            if len(c) > len(counts):
                c[:len(counts)] += counts
                counts = c
            else:
                counts[:len(c)] += c
    cdf = np.cumsum(counts)
    clip = int(np.searchsorted(cdf, cdf[-1] * spec.calibration_percentile / 100.0))
    return max(1, -(-clip // spec.adc_top))


def adc_convert(sums: np.ndarray, step_units: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes, clipped) of column sums given in units where the LSB is `step_units`."""
    code = (2 * sums + step_units) // (2 * step_units)
    clipped = code > top
    return np.minimum(code, top), clipped


def exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w in exact int64 (BLAS when every partial sum is below 2^53)."""
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * x.shape[1]
    if bound < _EXACT_FLOAT:
        return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return x.astype(np.int64) @ w.astype(np.int64)


def block_ones(x: np.ndarray, layer: CrossbarLayer) -> tuple[int, ...]:
    """Input bits equal to 1 applied to each row block."""
    ones = np.zeros(len(layer.block_rows), np.int64)
    r0 = 0
    for i, n in enumerate(layer.block_rows):
        xs = x[:, r0:r0 + n]
        ones[i] = sum(int(((xs >> b) & 1).sum()) for b in range(layer.spec.input_bits))
        r0 += n
    return tuple(int(o) for o in ones)


def activity(x: np.ndarray, layer: CrossbarLayer, step: int, ones: Sequence[int],
             clipped: int) -> MacActivity:
    phases = np.bincount(layer.phase_block, minlength=len(layer.block_rows))
    return MacActivity(x.shape[0], layer.spec.input_bits, layer.columns, step, layer.block_rows,
                       tuple(int(p) for p in phases), tuple(int(o) for o in ones), int(clipped))
