"""What a NoC run can be asked for: router models, synthetic traffic patterns, trace formats and
the phases of a measurement.

Nothing here imports numpy or the router models, so that the command line builds its parsers
(choices, and the defaults in its help) without loading them; `enasim.noc.measure`, `.traffic`
and `.traces` take these names from here.
"""

from __future__ import annotations

from dataclasses import dataclass

MODELS = ("compiled", "process")  # router models: noc/compiled.py (Numba), noc/router.py (SimPy)
PATTERNS = ("uniform", "transpose", "bitcomp", "hotspot")  # synthetic destinations (traffic.py)
FORMATS = ("csv", "jsonl", "booksim-json")  # trace files (traces.py)


@dataclass(frozen=True)
class Measurement:
    """Phases of a latency-mode run, in cycles."""

    warmup_cycles: int = 10000
    measure_cycles: int = 30000
    sample_cycles: int = 10000
    latency_threshold: float = 500.0
    max_drain_cycles: int = 200000
    drain: bool = True  # False: throughput mode, stop at the end of the window


def throughput_mode(warmup_cycles: int = 10000, measure_cycles: int = 30000) -> Measurement:
    """Accepted throughput at an offered load past saturation: no abort, no drain."""
    return Measurement(warmup_cycles, measure_cycles, measure_cycles, float("inf"), 0, False)
