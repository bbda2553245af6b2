"""Plain-numpy reference of the bit-sliced crossbar MAC (semantics in `mac_spec`).

Written for clarity, read by read: the Numba kernels in `mac` must equal it bit for bit.
"""

from __future__ import annotations

import numpy as np

from enasim.kernels.mac_spec import (
    CrossbarLayer,
    MacActivity,
    activity,
    adc_convert,
    adc_step,
    block_ones,
    check_inputs,
    column_sums,
)


def mvm(x: np.ndarray, layer: CrossbarLayer,
        step: int | None = None) -> tuple[np.ndarray, MacActivity]:
    """y (vectors, outputs) int64 and the activity, for input vectors x (vectors, rows).

    `step` overrides the ADC LSB that adc.range_mode would choose.
    """
    x = check_inputs(x, layer)
    spec = layer.spec
    step = adc_step(x, layer) if step is None else step
    acc = np.zeros((x.shape[0], layer.columns), np.int64)
    clipped = 0
    for _, b, sums in column_sums(x, layer):
        code, clip = adc_convert(sums, step * layer.sum_unit, spec.adc_top)
        clipped += int(clip.sum())
        acc += (code * step) << b
    # shift-and-add over slices k (weight 2^(k*Bc)) and polarities p (sign (-1)^p)
    acc = acc.reshape(x.shape[0], layer.n_out, spec.slices, spec.polarities)
    shifts = np.arange(spec.slices, dtype=np.int64) * spec.cell_bits
    acc = acc << shifts[:, None]
    y = acc[..., 0].sum(axis=2)
    if spec.polarities == 2:
        y -= acc[..., 1].sum(axis=2)
    if spec.offset:
        y -= spec.offset * x.sum(axis=1, keepdims=True)
    return y, activity(x, layer, step, block_ones(x, layer), clipped)
