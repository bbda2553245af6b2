"""Numba kernels of the bit-sliced crossbar MAC (semantics in `mac_spec`, equal to
`mac_reference` bit for bit).

The column sums of a read phase are built from group tables ("four Russians"): the phase's rows
are taken `group_rows` (G) at a time, and for each group a table holds the column sums of all
2^G subsets of its rows. The sums for one input bit are then the sum, over groups, of the table
row that the bit's G input bits select: about rows/G vectorised adds instead of one per driven
row. A table is built per (phase, column group) and shared by a chunk of input vectors, so G
grows with the vectors per chunk (G = 1 is the plain sum over driven rows).

The ADC is a lookup table: over the few possible sums of ideal cells, and over sums bucketed by
a shift for fixed-point conductances (exact by the nested-floor identity). Work is split over
(column group, vector chunk) tasks; every task owns its outputs, so there are no races and no
float reductions.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from enasim.kernels.mac_spec import (
    FRACTION_BITS,
    CrossbarLayer,
    MacActivity,
    activity,
    adc_convert,
    adc_step,
    check_inputs,
)

_TASKS_PER_THREAD = 4
_CHUNK_VECTORS = 256  # vectors per task at most: bounds a task's accumulators
_GROUP_COLUMNS = 512  # physical columns per task at most: keeps a table within L2


@intrinsic
def _popcount(typingctx, x):
    """Set bits of a uint64 (LLVM ctpop: one instruction on x86-64)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, inline="always")
def _build_table(cells, r0, r1, c0, n, g_rows, table):
    """table[(q*2^G + p)*n + i] = sum of cells[r0 + q*G + j, c0 + i] over the bits j of p."""
    size = np.uint64(1 << g_rows)
    un = np.uint64(n)
    for q in range((r1 - r0 + g_rows - 1) // g_rows):
        zero = np.uint64(q) * size * un
        for i in range(un):
            table[zero + i] = 0
        for p in range(1, 1 << g_rows):
            low = p & -p
            j = 0
            while (1 << j) != low:
                j += 1
            r = r0 + q * g_rows + j
            dst = zero + np.uint64(p) * un
            src = zero + np.uint64(p ^ low) * un
            if r < r1:
                row = cells[r, c0:c0 + n]
                for i in range(un):
                    table[dst + i] = table[src + i] + row[i]
            else:
                for i in range(un):
                    table[dst + i] = table[src + i]


@njit(cache=True, inline="always")
def _transpose8(w):
    """8x8 bit-matrix transpose of a uint64 (byte i, bit j -> byte j, bit i)."""
    t = (w ^ (w >> np.uint64(7))) & np.uint64(0x00AA00AA00AA00AA)
    w = w ^ t ^ (t << np.uint64(7))
    t = (w ^ (w >> np.uint64(14))) & np.uint64(0x0000CCCC0000CCCC)
    w = w ^ t ^ (t << np.uint64(14))
    t = (w ^ (w >> np.uint64(28))) & np.uint64(0x00000000F0F0F0F0)
    return w ^ t ^ (t << np.uint64(28))


@njit(cache=True, inline="always")
def _patterns(x, v, r0, r1, g_rows, pats):
    """pats[b, q]: bits b of the inputs of rows r0 + q*G ... r0 + q*G + G - 1 (G divides 8).

    Eight rows at a time: their input bytes form an 8x8 bit matrix whose transpose holds,
    in byte j, bit j of each of the eight rows.
    """
    n_bits = pats.shape[0]
    per_byte = 8 // g_rows
    mask = np.uint64((1 << g_rows) - 1)
    for r8 in range(r0, r1, 8):
        rn = min(8, r1 - r8)
        q0 = (r8 - r0) // g_rows
        for m in range(0, n_bits, 8):
            w = np.uint64(0)
            for i in range(rn):
                w |= np.uint64((x[v, r8 + i] >> m) & 0xFF) << np.uint64(8 * i)
            w = _transpose8(w)
            for j in range(min(8, n_bits - m)):
                byte = (w >> np.uint64(8 * j)) & np.uint64(0xFF)
                for k in range(min(per_byte, (rn + g_rows - 1) // g_rows)):
                    pats[m + j, q0 + k] = np.int64((byte >> np.uint64(k * g_rows)) & mask)


@njit(cache=True, inline="always")
def _bit_sums(src, base, q_rows, stride, pats_b, nq, n, sums):
    """sums[i] = column sums of the rows one input bit drives: the sum over groups q with a
    non-zero pattern p of src[base + (q * q_rows + p) * stride + i] (a group table, or with
    G = 1 the flat cells, offset so that p = 1 selects row q)."""
    un = np.uint64(n)
    for i in range(un):
        sums[i] = 0
    for q in range(nq):
        p = pats_b[q]
        if p:
            at = np.uint64(base + (q * q_rows + p) * stride)
            for i in range(un):
                sums[i] += src[at + i]


@njit(parallel=True, cache=True)
def _mvm(x, cells, phase_start, phase_block, n_blocks, g_rows, col_groups, n_chunks, lut,
         lut_offset, lut_shift, clip_from, n_out, slices, polarities, cell_bits, input_bits):
    """y before the offset term, clipped conversions, ones per row block.

    A column sum s converts to lut[t], t = (s + lut_offset) >> lut_shift; clipped if
    t >= clip_from.
    """
    n_vec = x.shape[0]
    n_groups = len(col_groups) - 1
    per_out = slices * polarities
    max_rows = 0
    for ph in range(len(phase_block)):
        max_rows = max(max_rows, phase_start[ph + 1] - phase_start[ph])
    nq_max = (max_rows + g_rows - 1) // g_rows
    n_cols = cells.shape[1]
    flat = cells.ravel()
    y = np.zeros((n_vec, n_out), np.int64)
    ones = np.zeros((n_vec, n_blocks), np.int64)
    clipped = np.zeros(n_groups * n_chunks, np.int64)
    for t in prange(n_groups * n_chunks):
        cg = t // n_chunks
        ch = t - cg * n_chunks
        v0 = ch * n_vec // n_chunks
        v1 = (ch + 1) * n_vec // n_chunks
        c0 = col_groups[cg]
        n = col_groups[cg + 1] - c0
        table = np.empty(nq_max * (1 << g_rows) * n if g_rows > 1 else 0, cells.dtype)
        sums = np.empty(n, cells.dtype)
        pats = np.empty((input_bits, nq_max), np.int64)
        acc = np.zeros((v1 - v0, n), np.int64)
        n_clip = 0
        for ph in range(len(phase_block)):
            r0 = phase_start[ph]
            r1 = phase_start[ph + 1]
            nq = (r1 - r0 + g_rows - 1) // g_rows
            if g_rows > 1:
                _build_table(cells, r0, r1, c0, n, g_rows, table)
            for v in range(v0, v1):
                _patterns(x, v, r0, r1, g_rows, pats)
                a = acc[v - v0]
                for b in range(input_bits):
                    if g_rows > 1:
                        _bit_sums(table, 0, 1 << g_rows, n, pats[b], nq, n, sums)
                    else:
                        _bit_sums(flat, (r0 - 1) * n_cols + c0, 1, n_cols, pats[b], nq, n,
                                  sums)
                    if clip_from < len(lut):
                        for i in range(n):
                            k = (np.int64(sums[i]) + lut_offset) >> lut_shift
                            a[i] += lut[k] << b
                            n_clip += k >= clip_from
                    else:  # no sum can clip
                        for i in range(n):
                            a[i] += lut[(np.int64(sums[i]) + lut_offset) >> lut_shift] << b
        for v in range(v0, v1):  # shift-and-add: column (c*S + k)*P + p of the group
            a = acc[v - v0]
            i = 0
            for c in range(c0 // per_out, (c0 + n) // per_out):
                total = 0
                for k in range(slices):
                    for p in range(polarities):
                        total += (a[i] << (k * cell_bits)) * (1 - 2 * p)
                        i += 1
                y[v, c] += total
            if cg == 0:
                for ph in range(len(phase_block)):
                    for r in range(phase_start[ph], phase_start[ph + 1]):
                        ones[v, phase_block[ph]] += _popcount(np.uint64(x[v, r]))
        clipped[t] = n_clip
    return y, clipped.sum(), ones.sum(axis=0)


def _tasks(n_vec: int, n_out: int, per_out: int) -> tuple[np.ndarray, int, int]:
    """(column-group bounds, vector chunks, group rows G) for a call.

    Vectors are chunked for load balance; columns are split only to fit a table in L2 or to
    give every thread work when vectors are fewer than threads. G follows the vectors a table
    serves (a 2^G-row table pays off over about 2^G / G vectors; G divides 8).
    """
    threads = numba.get_num_threads()
    chunks = max(1, min(n_vec, _TASKS_PER_THREAD * threads), -(-n_vec // _CHUNK_VECTORS))
    outs_per_group = max(1, _GROUP_COLUMNS // per_out)
    groups = max(-(-n_out // outs_per_group), min(n_out, -(-threads // chunks)))
    bounds = np.array([k * n_out // groups * per_out for k in range(groups + 1)], np.int64)
    per_chunk = n_vec / chunks
    g_rows = 1 if per_chunk < 4 else 2 if per_chunk < 16 else 4
    return bounds, chunks, g_rows


@lru_cache(maxsize=64)
def _adc_table(max_sum: int, step: int, top: int, frac_bits: int) -> tuple[np.ndarray, int, int,
                                                                            int]:
    """The ADC as a lookup table: (values, offset, shift, first clipped index).

    Column sum s (units of 2^-frac_bits levels) maps to index t = (s + offset) >> shift. Ideal
    cells: offset = shift = 0, t = s. Fixed point: offset = step * 2^(F-1), shift = F - 1, and
    floor((2s + u) / 2u) = floor(t / (2 step)) with u = step * 2^F, so every s of a bucket has
    the same code and the table is small.
    """
    offset, shift = (step << (frac_bits - 1), frac_bits - 1) if frac_bits else (0, 0)
    t = np.arange(((max_sum + offset) >> shift) + 1, dtype=np.int64)
    code, clip = adc_convert((t << shift) - offset, step << frac_bits, top)
    return code * step, offset, shift, int(np.argmax(clip)) if clip.any() else len(t)


def mvm(x: np.ndarray, layer: CrossbarLayer, step: int | None = None,
        group_rows: int | None = None) -> tuple[np.ndarray, MacActivity]:
    """y (vectors, outputs) int64 and the activity, for input vectors x (vectors, rows).

    `step` overrides the ADC LSB that adc.range_mode would choose; `group_rows` (1, 2, 4 or 8)
    the table group size G the kernel would choose (results do not depend on it).
    """
    x = check_inputs(x, layer)
    spec = layer.spec
    step = adc_step(x, layer) if step is None else step
    bounds, chunks, g_rows = _tasks(x.shape[0], layer.n_out, spec.slices * spec.polarities)
    if group_rows is not None:
        if group_rows not in (1, 2, 4, 8):
            raise ValueError(f"group_rows must be 1, 2, 4 or 8, got {group_rows}")
        g_rows = group_rows
    frac_bits = 0 if layer.conductance_fp is None else FRACTION_BITS
    lut, offset, shift, clip_from = _adc_table(layer.max_column_sum, step, spec.adc_top,
                                               frac_bits)
    y, clipped, ones = _mvm(x, layer.narrow_cells, layer.phase_start, layer.phase_block,
                            len(layer.block_rows), g_rows, bounds, chunks, lut, offset, shift,
                            clip_from, layer.n_out, spec.slices, spec.polarities,
                            spec.cell_bits, spec.input_bits)
    if spec.offset:
        y -= spec.offset * x.sum(axis=1, keepdims=True)
    return y, activity(x, layer, step, ones, int(clipped))
