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
