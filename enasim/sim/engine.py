"""Simulator: builds the chip's processes for a Mapping, runs them, returns Stats.

Time is integer clock cycles (`env.now`). Events happen only where blocks hand off or contend
(DESIGN section 3): a step entering a buffer port or the ADCs, a message entering the
interconnect. In `layer_by_layer` mode a layer starts when the previous one has finished:
it receives its inputs, streams its steps through its tiles, runs the digital layers it owns,
then receives the operands of residual adds it owns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import simpy

from enasim.analytical.perf import (
    charge_digital,
    charge_leakage,
    charge_noc,
    new_layer_stats,
    new_stats,
)
from enasim.hw.interconnect import IdealInterconnect, Interconnect, messages
from enasim.hw.tile import LayerTiles
from enasim.mapping import Mapping, Transfer
from enasim.plan import plan_layer
from enasim.stats import LayerStats, Span, Stats

Progress = Callable[[int, int], None]


class _CountingEnvironment(simpy.Environment):
    """A SimPy Environment that counts the events it processes (for benchmarks)."""

    def __init__(self) -> None:
        super().__init__()
        self.events_processed = 0

    def step(self) -> None:
        self.events_processed += 1
        super().step()


class Simulator:
    """`Simulator(mapping).run()` simulates one inference of the mapped workload."""

    def __init__(self, mapping: Mapping,
                 interconnect: type[Interconnect] = IdealInterconnect,
                 progress: Progress | None = None):
        self.mapping, self.hw = mapping, mapping.hw
        self.interconnect_cls = interconnect
        self.progress = progress
        self.events_processed = 0

    def run(self) -> Stats:
        env = _CountingEnvironment()
        stats = new_stats("sim", self.mapping)
        self.env, self.stats = env, stats
        self.net = self.interconnect_cls(env, self.hw.noc, self.mapping.mesh_cols)
        self.inbound: dict[str, dict[str, list[Transfer]]] = defaultdict(lambda: defaultdict(list))
        for tr in self.mapping.transfers:
            self.inbound[tr.dst][tr.purpose].append(tr)
        env.process(self._layer_by_layer())
        env.run()
        self.events_processed = env.events_processed
        return stats

    def _layer_by_layer(self):
        env, layers = self.env, self.mapping.layers
        for done, lm in enumerate(layers, start=1):
            plan = plan_layer(lm, self.hw)
            ls = new_layer_stats(plan)
            ls.start_cycle = env.now
            tiles = LayerTiles(env, plan)
            yield from self._receive(ls, "input")
            t0 = env.now
            yield env.process(tiles.compute(ls))
            self._span(ls, "compute", t0)
            t1 = env.now
            yield env.process(tiles.digital())
            charge_digital(ls, plan)
            self._span(ls, "digital", t1)
            ls.digital_cycles = plan.lag + (env.now - t1)
            yield from self._receive(ls, "add")
            ls.end_cycle = env.now
            ls.adc_cycles = tiles.adcs.busy_cycles
            ls.buffer_cycles = (t1 - t0) - ls.adc_cycles - plan.lag
            charge_leakage(ls, self.stats)
            self.stats.layers.append(ls)
            if self.progress:
                self.progress(done, len(layers))

    def _receive(self, ls: LayerStats, purpose: str):
        """Process: send every message of the layer's transfers and wait for all of them."""
        transfers = self.inbound.get(ls.name, {}).get(purpose, [])
        if not transfers:
            return
        t0, events = self.env.now, []
        for tr in transfers:
            ms = messages(self.mapping, tr)
            for src, dst in zip(ms.src.tolist(), ms.dst.tolist(), strict=True):
                events.append(self.net.send(src, dst, ms.flits))
            charge_noc(ls, self.hw, float(ms.flits * (ms.hops + 1).sum()),
                       float(ms.flits * ms.hops.sum()))
        yield self.env.all_of(events)
        ls.noc_cycles += self.env.now - t0
        self.stats.spans.append(Span("interconnect", "interconnect", f"{ls.name} {purpose}",
                                     t0, self.env.now, ls.index))
        self._span(ls, f"receive {purpose}", t0)

    def _span(self, ls: LayerStats, what: str, start: int) -> None:
        if self.env.now == start:
            return
        lm = self.mapping.layers[ls.index - 1]
        for tile in lm.tile_ids:
            self.stats.spans.append(Span("tiles", f"tile {tile}", f"{ls.name} {what}", start,
                                         self.env.now, ls.index))
