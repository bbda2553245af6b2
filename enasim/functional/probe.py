"""The ADC range probe of `enasim run`: one crossbar's MAC error under the hwconfig's ADC range.

A run charges time and energy without computing anything, so it cannot report a network's
functional error (`enasim infer` or `--activity measured` measure it). The probe is a cheap,
seeded stand-in that tells whether the ADC range rule is usable at all: one full array
(crossbar.rows rows, as many outputs as crossbar.cols holds) programmed with bell-shaped
random weights (`enasim.functional.data.random_weights`'s law), read by PROBE_VECTORS uniform
random input vectors through the numpy reference kernel, and compared with the exact matmul.
It costs 2-30 ms (docs/models.md). A network compounds its layers' errors: on the bundled
chips' range modes, those whose vgg8 output error (`enasim infer`, seed 0) is at most 0.25
probe at most 0.006, those above it (3.1 to 38) probe 0.19 or more, so an array error above
PROBE_WARN_REL_RMS marks a range rule whose network outputs are not to be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from enasim.config.schema import HardwareConfig
from enasim.kernels import mac_reference
from enasim.kernels.mac_spec import MacSpec, exact_matmul, program

PROBE_VECTORS = 64
MAX_OUTPUT_REL_RMS = 0.25  # a chip that computes: its network output error at most this
PROBE_WARN_REL_RMS = 0.1


@dataclass(frozen=True)
class RangeProbe:
    """The error of one probed array (rows x outputs, `vectors` inputs, `seed`)."""

    rows: int
    outputs: int
    vectors: int
    seed: int
    adc_step: int  # LSB in cell levels the range rule chose
    read_phases: int
    rel_rms_error: float
    clipped_fraction: float

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "outputs": self.outputs,
            "vectors": self.vectors,
            "seed": self.seed,
            "adc_step": self.adc_step,
            "read_phases": self.read_phases,
            "rel_rms_error": self.rel_rms_error,
            "clipped_fraction": self.clipped_fraction,
        }


def range_probe(hw: HardwareConfig, seed: int = 0) -> RangeProbe:
    """Probe one array of `hw` with weights and inputs from default_rng((seed, 3))."""
    from enasim.functional.inference import rel_rms_error

    spec = MacSpec.from_hw(hw)
    rows = hw.crossbar.rows
    outputs = max(1, hw.crossbar.cols // (spec.slices * spec.polarities))
    rng = np.random.default_rng((seed, 3))
    lo, hi = spec.weight_range
    w = np.clip(np.rint(rng.normal(0.0, (hi - lo + 1) / 8, (rows, outputs))), lo, hi)
    x = rng.integers(0, 1 << spec.input_bits, (PROBE_VECTORS, rows), dtype=np.int64)
    layer = program(w.astype(np.int64), spec, seed=(seed, 3), name="probe")
    y, act = mac_reference.mvm(x, layer)
    return RangeProbe(
        rows,
        outputs,
        PROBE_VECTORS,
        seed,
        act.adc_step,
        sum(act.block_phases),
        rel_rms_error(y, exact_matmul(x, w.astype(np.int64))),
        act.clipped_fraction,
    )
