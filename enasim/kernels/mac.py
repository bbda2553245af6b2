"""Numba kernels of the bit-sliced crossbar MAC (semantics in `mac_spec`, equal to
`mac_reference` bit for bit).

The column sums of a read phase are built from group tables ("four Russians"): the phase's rows
are taken `group_rows` (G) at a time, and for each group a table holds the column sums of all
2^G subsets of its rows. The sums for one input bit are then the sum, over groups, of the table
row that the bit's G input bits select: about rows/G vectorised adds instead of one per driven
row. A table is built per (phase, output group) and shared by a chunk of input vectors, so G
grows with the vectors per chunk (G = 1: each row beside a zero row). Table columns are
segment-major (all outputs of slice k, polarity p, then the next), so the shift-and-add of a
read phase is a few vectorised passes.

The ADC is integer arithmetic that vectorises: its rounding division by the step is a multiply
and a shift, exact over the range of sums (fixed-point conductances are first bucketed by a
shift, exact by the nested-floor identity), in 32-bit lanes when they cannot overflow. Work is
split over (output group, vector chunk) tasks; every task owns its outputs, so there are no
races and no float reductions.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from enasim.errors import EnasimError
from enasim.kernels.mac_spec import (
    FRACTION_BITS,
    CrossbarLayer,
    MacActivity,
    activity,
    adc_step,
    check_inputs,
)

_CHUNK_VECTORS = 256  # vectors per task at most: bounds a task's accumulators
_GROUP_COLUMNS = 512  # physical columns per task at most: keeps a table within L2
_PASS_ROWS = 16  # table rows summed per pass over a bit's column sums


@intrinsic
def _popcount(typingctx, x):
    """Set bits of a uint64 (LLVM ctpop: one instruction on x86-64)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def _shr(typingctx, x, n):
    """x >> n (n below x's width) in x's own unsigned type: Numba would widen it to 64 bits,
    which halves (or quarters) the SIMD lanes."""
    sig = x(x, n)

    def codegen(context, builder, signature, args):
        return builder.lshr(args[0], context.cast(builder, args[1], signature.args[1], x))

    return sig, codegen


@intrinsic
def _shl(typingctx, x, n):
    """x << n (n below x's width) in x's own integer type (see `_shr`)."""
    sig = x(x, n)

    def codegen(context, builder, signature, args):
        return builder.shl(args[0], context.cast(builder, args[1], signature.args[1], x))

    return sig, codegen


@njit(cache=True, inline="always")
def _build_table(cells, r0, r1, o0, n_o, segments, g_rows, table):
    """table[(q*2^G + p)*n + s*n_o + c] = sum of cells[r0 + q*G + j, s*n_out + o0 + c] over the
    bits j of p: the n_o outputs from o0, one segment s (slice, polarity) after the other."""
    n_out = cells.shape[1] // segments
    size = np.uint64(1 << g_rows)
    un = np.uint64(n_o * segments)
    uo = np.uint64(n_o)
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
                for s in range(segments):
                    row = cells[r, s * n_out + o0:s * n_out + o0 + n_o]
                    at = np.uint64(s) * uo
                    for c in range(uo):
                        table[dst + at + c] = table[src + at + c] + row[c]
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
def _planes(x, v, r0, r1, planes):
    """planes[b, w]: bit i is bit b of the input of row r0 + 64w + i (zero from row r1 on).

    Eight rows at a time: their input bytes form an 8x8 bit matrix whose transpose holds,
    in byte j, bit j of each of the eight rows.
    """
    n_bits = planes.shape[0]
    for b in range(n_bits):
        for w in range((r1 - r0 + 63) >> 6):
            planes[b, w] = 0
    for r8 in range(r0, r1, 8):
        rn = min(8, r1 - r8)
        word = (r8 - r0) >> 6
        at = np.uint64((r8 - r0) & 63)
        for m in range(0, n_bits, 8):
            w = np.uint64(0)
            for i in range(rn):
                w |= np.uint64((x[v, r8 + i] >> m) & 0xFF) << np.uint64(8 * i)
            w = _transpose8(w)
            for j in range(min(8, n_bits - m)):
                planes[m + j, word] |= ((w >> np.uint64(8 * j)) & np.uint64(0xFF)) << at


@njit(cache=True, inline="always")
def _bit_sums(table, plane, g_rows, nq, n, rows, sums, part):
    """sums[i] = column sums of the rows one input bit drives: the sum over groups q of table
    row q*2^G + p, p the group's pattern (the G bits of `plane` from bit q*G; G divides 64).

    The rows of non-zero patterns are listed (branch-free) and padded to a multiple of
    `_PASS_ROWS` with row 0 (zeros); that many at a time are summed into `part`, in the
    table's dtype (uint8 when a pass cannot exceed 255: twice the SIMD lanes), then added to
    `sums` (a separate loop: fused, LLVM would pick the lanes of `sums`).
    """
    size = 1 << g_rows
    mask = np.uint64(size - 1)
    k = 0
    for q in range(nq):
        bit = q * g_rows
        p = np.int64((plane[bit >> 6] >> np.uint64(bit & 63)) & mask)
        rows[k] = (q * size + p) * n
        k += p != 0
    while k % _PASS_ROWS:
        rows[k] = 0
        k += 1
    un = np.uint64(n)
    for i in range(un):
        sums[i] = 0
    for j in range(0, k, _PASS_ROWS):
        a0, a1, a2, a3 = rows[j], rows[j + 1], rows[j + 2], rows[j + 3]
        a4, a5, a6, a7 = rows[j + 4], rows[j + 5], rows[j + 6], rows[j + 7]
        b0, b1, b2, b3 = rows[j + 8], rows[j + 9], rows[j + 10], rows[j + 11]
        b4, b5, b6, b7 = rows[j + 12], rows[j + 13], rows[j + 14], rows[j + 15]
        for i in range(un):
            part[i] = (table[a0 + i] + table[a1 + i] + table[a2 + i] + table[a3 + i]
                       + table[a4 + i] + table[a5 + i] + table[a6 + i] + table[a7 + i]
                       + table[b0 + i] + table[b1 + i] + table[b2 + i] + table[b3 + i]
                       + table[b4 + i] + table[b5 + i] + table[b6 + i] + table[b7 + i])
        for i in range(un):
            sums[i] += part[i]


@njit(parallel=True, cache=True)
def _mvm(x, cells, phase_start, phase_block, n_blocks, g_rows, table_kind, acc_kind, word_kind,
         out_groups, n_chunks, adc, step, segments, polarities, cell_bits, input_bits):
    """y before the offset term, clipped conversions, ones per row block; `cells` from
    `CrossbarLayer.kernel_cells`.

    Tables and pass sums have the dtype of `table_kind`, the accumulators of a read phase
    (sum over bits b of code << b) that of `acc_kind`, the ADC arithmetic that of `word_kind`
    (empty arrays): the narrowest that cannot overflow, for the most SIMD lanes.

    A column sum s converts to code (t * mul + add) >> k_shift, t = (s + offset) >> shift
    (adc = (offset, shift, mul, add, k_shift, top) from `_adc_divider`), clipped if above
    top. Clips are counted per column (`hits`) and summed once per read phase.
    """
    offset, shift, mul, add, k_shift, top = adc
    word = word_kind.dtype.type
    widen = acc_kind.dtype.type
    n_vec = x.shape[0]
    n_groups = len(out_groups) - 1
    max_rows = 0
    for ph in range(len(phase_block)):
        max_rows = max(max_rows, phase_start[ph + 1] - phase_start[ph])
    nq_max = (max_rows + g_rows - 1) // g_rows
    y = np.zeros((n_vec, out_groups[-1]), np.int64)
    ones = np.zeros((n_vec, n_blocks), np.int64)
    clipped = np.zeros(n_groups * n_chunks, np.int64)
    for task in prange(n_groups * n_chunks):
        cg = task // n_chunks
        ch = task - cg * n_chunks
        v0 = ch * n_vec // n_chunks
        v1 = (ch + 1) * n_vec // n_chunks
        o0 = out_groups[cg]
        n_o = out_groups[cg + 1] - o0
        n = n_o * segments
        table = np.empty(nq_max * (1 << g_rows) * n, table_kind.dtype)
        sums = np.empty(n, cells.dtype)
        part = np.empty(n, table_kind.dtype)
        acc = np.zeros(n, acc_kind.dtype)
        hits = np.zeros(n, np.uint16)
        planes = np.empty((input_bits, (max_rows + 63) >> 6), np.uint64)
        rows = np.empty(nq_max + _PASS_ROWS, np.uint64)
        n_clip = 0
        for ph in range(len(phase_block)):
            r0 = phase_start[ph]
            r1 = phase_start[ph + 1]
            nq = (r1 - r0 + g_rows - 1) // g_rows
            _build_table(cells, r0, r1, o0, n_o, segments, g_rows, table)
            for v in range(v0, v1):
                _planes(x, v, r0, r1, planes)
                if cg == 0:
                    count = 0
                    for b in range(input_bits):
                        for w in range((r1 - r0 + 63) >> 6):
                            count += _popcount(planes[b, w])
                    ones[v, phase_block[ph]] += count
                for b in range(input_bits):
                    _bit_sums(table, planes[b], g_rows, nq, n, rows, sums, part)
                    for i in range(n):
                        t = _shr(word(word(sums[i]) + offset), shift)
                        code = _shr(word(t * mul + add), k_shift)
                        hits[i] += code > top
                        acc[i] += _shl(widen(min(code, top)), b)
                yv = y[v, o0:o0 + n_o]
                for s in range(segments):  # slice k = s // P weighs 2^(k*Bc), polarity s % P
                    sh = s // polarities * cell_bits
                    sign = -(s % polarities)  # x -> (x ^ sign) - sign negates if sign = -1
                    a = acc[s * n_o:(s + 1) * n_o]
                    for c in range(n_o):
                        yv[c] += ((np.int64(a[c]) << sh) ^ sign) - sign
                        a[c] = 0
                for i in range(n):
                    n_clip += hits[i]
                    hits[i] = 0
        for v in range(v0, v1):
            yv = y[v, o0:o0 + n_o]
            for c in range(n_o):
                yv[c] *= step
        clipped[task] = n_clip
    return y, clipped.sum(), ones.sum(axis=0)


def kernel_threads() -> int:
    """Threads of the kernel: the caller's Numba thread count if the user set NUMBA_NUM_THREADS,
    else 1. On a shared 2-core machine (medians of interleaved 1- and 2-thread runs) two threads
    were 3-22x slower at batch 1 (waking a thread costs more than the work) and 2.5-8x slower at
    batch 256 whenever another process used a core; only on two idle cores were they faster,
    1.3x at batch 256."""
    return numba.get_num_threads() if "NUMBA_NUM_THREADS" in os.environ else 1


def _tasks(n_vec: int, n_out: int, per_out: int,
           threads: int) -> tuple[np.ndarray, int, int]:
    """(output-group bounds, vector chunks, group rows G) for a call.

    One vector chunk per thread (prange schedules statically, so more chunks would only
    rebuild tables); outputs are split only to bound a table or to give every thread work when
    vectors are fewer than threads. G follows the vectors a table serves (a 2^G-row table pays
    off over about 2^G / G vectors; G divides 8).
    """
    chunks = max(1, min(n_vec, threads), -(-n_vec // _CHUNK_VECTORS))
    outs_per_group = max(1, _GROUP_COLUMNS // per_out)
    groups = max(-(-n_out // outs_per_group), min(n_out, -(-threads // chunks)))
    bounds = np.array([k * n_out // groups for k in range(groups + 1)], np.int64)
    per_chunk = n_vec / chunks
    g_rows = 1 if per_chunk < 4 else 2 if per_chunk < 16 else 4
    return bounds, chunks, g_rows


@lru_cache(maxsize=64)
def _adc_divider(max_sum: int, step: int, frac_bits: int, top: int) -> tuple[np.unsignedinteger,
                                                                             ...]:
    """The ADC code before the top clip, min(code, T) of `adc_convert`, as integer arithmetic:
    (offset, shift, mul, add, k, T) with code = (t * mul + add) >> k, t = (s + offset) >> shift,
    all uint32 if no step can overflow it (twice the SIMD lanes), else uint64.

    Ideal cells: t = s, code = floor(n / d), n = 2t + step, d = 2 step. Fixed point (F fraction
    bits): offset = step * 2^(F-1), shift = F - 1 and code = floor(n / d), n = t (the
    nested-floor identity). The division is a multiplication (Granlund-Montgomery): with
    2^k >= n_max * d and m = ceil(2^k / d), floor(n * m / 2^k) = floor(n / d) for 0 <= n <= n_max.
    """
    offset, shift, a, c = (step << (frac_bits - 1), frac_bits - 1, 1, 0) if frac_bits else \
        (0, 0, 2, step)
    t_max = (max_sum + offset) >> shift
    d = 2 * step
    k = (a * t_max + c).bit_length() + d.bit_length()
    m = -(-(1 << k) // d)
    product = t_max * a * m + c * m
    if product >= 1 << 64:
        raise EnasimError(f"column sums up to {max_sum} with an ADC step of {step} are out of "
                          "the range of the Numba kernel")
    word = np.uint32 if max(max_sum + offset, product, top) < 1 << 32 else np.uint64
    return tuple(word(v) for v in (offset, shift, a * m, c * m, k, top))


def mvm(x: np.ndarray, layer: CrossbarLayer, step: int | None = None,
        group_rows: int | None = None) -> tuple[np.ndarray, MacActivity]:
    """y (vectors, outputs) int64 and the activity, for input vectors x (vectors, rows).

    `step` overrides the ADC LSB that adc.range_mode would choose; `group_rows` (1, 2, 4 or 8)
    the table group size G the kernel would choose (results do not depend on it).
    """
    x = check_inputs(x, layer)
    spec = layer.spec
    step = adc_step(x, layer) if step is None else step
    segments = spec.slices * spec.polarities
    threads = kernel_threads()
    bounds, chunks, g_rows = _tasks(x.shape[0], layer.n_out, segments, threads)
    if group_rows is not None:
        if group_rows not in (1, 2, 4, 8):
            raise ValueError(f"group_rows must be 1, 2, 4 or 8, got {group_rows}")
        g_rows = group_rows
    frac_bits = 0 if layer.conductance_fp is None else FRACTION_BITS
    adc = _adc_divider(layer.max_column_sum, step, frac_bits, spec.adc_top)
    cells = layer.kernel_cells
    small = layer.conductance_fp is None and _PASS_ROWS * g_rows * spec.cell_max <= 255
    acc_max = spec.adc_top * ((1 << spec.input_bits) - 1)
    acc = np.uint16 if acc_max < 1 << 16 else np.uint32 if acc_max < 1 << 32 else np.int64
    caller_threads = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        y, clipped, ones = _mvm(x, cells, layer.phase_start, layer.phase_block,
                                len(layer.block_rows), g_rows,
                                np.empty(0, np.uint8 if small else cells.dtype),
                                np.empty(0, acc), np.empty(0, adc[0].dtype), bounds, chunks,
                                adc, step, segments, spec.polarities, spec.cell_bits,
                                spec.input_bits)
    finally:
        numba.set_num_threads(caller_threads)
    if spec.offset:
        y -= spec.offset * x.sum(axis=1, keepdims=True)
    return y, activity(x, layer, step, ones, int(clipped))
