"""Stats: what a run produced, per layer and per component. Engines fill it; reports read it.

All times are integer clock cycles; energies are pJ; areas are um^2. A LayerStats row is one
weight layer together with the digital layers it owns and the data it receives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from enasim.cost.area import COMPONENTS
from enasim.noc.packets import Traffic


@dataclass
class LayerStats:
    index: int
    name: str
    kind: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    macs: int
    ops: int
    tiles: int
    crossbars: int  # arrays holding weights, all copies
    speedup: int
    vectors: int
    utilization: float
    start_cycle: int = 0
    end_cycle: int = 0
    adc_cycles: int = 0  # crossbar reads + conversions (NeuroSim's "ADC latency")
    buffer_cycles: int = 0  # exposed buffer read/write time
    digital_cycles: int = 0  # shift-add/accumulate drain and digital layers
    noc_cycles: int = 0  # receiving inputs and residual operands
    # its stage time: its cycles on its last image less those it waited for inputs (the event
    # engine; pipelined, in the steady state, the slowest layer's sets the period)
    busy_cycles_per_image: int = 0
    counts: dict[str, float] = field(default_factory=dict)  # events: name -> count
    energy_pj: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 0.0))

    @property
    def latency_cycles(self) -> int:
        return self.end_cycle - self.start_cycle

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())


@dataclass(frozen=True)
class Span:
    """A busy interval [start, end) of one track of the timeline (one tile, the interconnect)."""

    group: str  # "tiles" | "ces" | "adcs" | "interconnect"
    track: str  # e.g. "tile 3"
    name: str
    start: int
    end: int
    layer: int  # index of the weight layer the work belongs to
    image: int = 1  # which of the run's images (1-based)


# A period this close to the slowest stage time is that stage's (the stage times are lower
# bounds on the period; the attribution of idle converter cycles makes them inexact by a few
# cycles per image).
STAGE_BOUND_TOLERANCE = 0.01


@dataclass
class Stats:
    engine: str
    clock_period_ns: float
    layers: list[LayerStats]
    area_um2: dict[str, float]
    leakage_uw: float
    spans: list[Span] = field(default_factory=list)
    # energy of blocks shared by the whole run rather than one layer (the OPS unit; leakage
    # when computations overlap, as in the ops schedule), by component
    chip_energy_pj: dict[str, float] = field(default_factory=dict)
    transfers: tuple = ()  # the `Transfer`s the traffic's transfer numbers index
    noc_model: str = "ideal"  # compiled | process (cycle-level mesh) | ideal | htree
    accounting: str = "overlapped"  # timing.accounting: overlapped | neurosim
    traffic_source: Callable[[], Traffic] | None = field(default=None, repr=False,
                                                         compare=False)
    images: int = 1  # images run through the chip (`--images`)
    image_end_cycles: tuple[int, ...] = ()  # when each image left the last layer

    @cached_property
    def traffic(self) -> Traffic | None:
        """The packets the interconnect carried (sim engine), from `traffic_source` on first
        use: the per-packet tables are large and a sweep, which keeps totals, never reads them."""
        return self.traffic_source() if self.traffic_source else None

    @property
    def latency_cycles(self) -> int:
        return max((ls.end_cycle for ls in self.layers), default=0)

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_period_ns

    @property
    def first_image_latency_cycles(self) -> int:
        return self.image_end_cycles[0] if self.image_end_cycles else self.latency_cycles

    @property
    def period_cycles(self) -> float:
        """The steady-state period: the mean interval between consecutive image completions
        over the last m = max(1, images // 2) of them, (end of image N - end of image N - m) / m,
        so the start-up of the first images does not count. One image: its latency."""
        ends = self.image_end_cycles
        if len(ends) < 2:
            return float(self.latency_cycles)
        m = max(1, len(ends) // 2)
        return (ends[-1] - ends[-1 - m]) / m

    @property
    def throughput_images_per_s(self) -> float:
        return 1e9 / (self.period_cycles * self.clock_period_ns)

    @property
    def slowest_stage(self) -> LayerStats:
        """The layer with the longest stage time per image (the first of equals)."""
        return max(self.layers, key=lambda ls: ls.busy_cycles_per_image)

    @property
    def bottleneck(self) -> LayerStats | None:
        """Pipelined: the layer whose stage time sets the period, the slowest stage if the
        period is within `STAGE_BOUND_TOLERANCE` of it. None if the period is longer: the
        layers then waited for inputs in the steady state, so the interconnect set the pace."""
        slowest = self.slowest_stage
        bound = slowest.busy_cycles_per_image * (1 + STAGE_BOUND_TOLERANCE)
        return slowest if self.period_cycles <= bound else None

    def energy_by_component_pj(self) -> dict[str, float]:
        """Energy per component: `COMPONENTS` in order, then any block only some chips have
        (ENASA's depthwise and OPS units)."""
        out = dict.fromkeys(COMPONENTS, 0.0)
        for ls in self.layers:
            for k, v in ls.energy_pj.items():
                out[k] = out.get(k, 0.0) + v
        for k, v in self.chip_energy_pj.items():
            out[k] = out.get(k, 0.0) + v
        return out

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_by_component_pj().values())

    @property
    def ops(self) -> int:
        return sum(ls.ops for ls in self.layers)

    @property
    def tops_per_w(self) -> float:
        """Operations per pJ equals tera-operations per joule (TOPS/W)."""
        return self.ops / self.energy_pj if self.energy_pj else 0.0
