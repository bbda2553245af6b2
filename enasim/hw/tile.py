"""The tiles of one weight layer as interacting processes.

A layer's T tiles work in lockstep, so each kind of block is modelled once for the group:
the input-buffer read port (T x port_bits wide), the crossbar arrays with their muxed ADCs,
the output-buffer write port, and the accumulator, activation and pooling units. Three
processes stream the layer's steps through them: a reader, a converter (crossbar reads, ADC
conversions, then shift-add/accumulation, which takes `lag` cycles) and a writer, connected by
FIFOs, so step k+1 is read while step k converts and step k-1 is written.
"""

from __future__ import annotations

import simpy

from enasim.analytical.perf import charge_steps
from enasim.hw.block import Block
from enasim.plan import LayerPlan
from enasim.stats import LayerStats


class LayerTiles:
    def __init__(self, env: simpy.Environment, plan: LayerPlan):
        self.env, self.plan = env, plan
        self.read_port = Block(env, "input_buffer.read")
        self.adcs = Block(env, "adc")
        self.write_port = Block(env, "output_buffer.write")
        self.units = {u: Block(env, u) for u in ("accumulator", "activation", "pooling")}

    def compute(self, ls: LayerStats, on_written=None):
        """Process: all steps of the layer; `on_written(vectors)` after each step's write."""
        env, plan = self.env, self.plan
        to_convert, to_write = simpy.Store(env), simpy.Store(env)
        steps = plan.steps

        def reader():
            for v in steps:
                yield from self.read_port.hold(plan.step_cycles(v)[0])
                yield to_convert.put(v)

        def converter():
            for _ in steps:
                v = yield to_convert.get()
                yield from self.adcs.hold(plan.step_cycles(v)[1])
                charge_steps(ls, plan, v)
                yield to_write.put((v, env.now + plan.lag))

        def writer():
            for _ in steps:
                v, ready = yield to_write.get()
                if ready > env.now:
                    yield env.timeout(ready - env.now)
                yield from self.write_port.hold(plan.step_cycles(v)[2])
                if on_written:
                    on_written(v)

        yield env.all_of([env.process(p()) for p in (reader, converter, writer)])

    def digital(self):
        """Process: the digital layers this layer owns, one after another."""
        for stage in self.plan.digital:
            yield from self.units[stage.unit].hold(stage.cycles)
