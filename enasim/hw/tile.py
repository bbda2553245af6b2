"""The tiles of one weight layer as interacting processes.

A layer's T tiles work in lockstep, so each kind of block is modelled once for the group:
the input-buffer read port (T x port_bits wide), the crossbar arrays with their muxed ADCs,
the output-buffer write port, and the accumulator, activation and pooling units. Three
processes stream the layer's steps through them: a reader, a converter (crossbar reads, ADC
conversions, then shift-add/accumulation, which takes `lag` cycles) and a writer, connected by
FIFOs, so step k+1 is read while step k converts and step k-1 is written.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from enasim.hw.block import Block
from enasim.plan import LayerPlan, charge_steps
from enasim.stats import LayerStats

# (step index, vectors done before it) -> an event to wait for before reading, or None
InputGate = Callable[[int, int], simpy.Event | None]


class LayerTiles:
    def __init__(self, env: simpy.Environment, plan: LayerPlan):
        self.env, self.plan = env, plan
        self.read_port = Block(env, "input_buffer.read")
        self.adcs = Block(env, "adc")
        self.write_port = Block(env, "output_buffer.write")
        self.units = {u: Block(env, u) for u in ("accumulator", "activation", "pooling")}
        self.input_wait_cycles = 0  # converter idle while the reader waited for inputs
        self.idle_cycles = 0  # converter idle for any other reason (read port, start-up)

    def compute(self, ls: LayerStats, gate: InputGate | None = None,
                on_written: Callable[[int, int], None] | None = None):
        """Process: all steps of the layer.

        `gate(i, done)` may hold the reader before step i until its inputs have arrived;
        `on_written(i, v)` is called after step i (v vectors) is written.
        """
        env, plan = self.env, self.plan
        to_convert, to_write = simpy.Store(env), simpy.Store(env)
        steps = plan.steps
        start = env.now

        def reader():
            done = 0
            for i, v in enumerate(steps):
                event = gate(i, done) if gate else None
                t_wait = env.now
                if event is not None:
                    yield event
                yield from self.read_port.hold(plan.step_cycles(v)[0])
                yield to_convert.put((v, env.now - t_wait if event is not None else 0))
                done += v

        def converter():
            free = start
            for _ in steps:
                v, waited = yield to_convert.get()
                gap = env.now - free
                self.input_wait_cycles += min(gap, waited)
                self.idle_cycles += gap - min(gap, waited)
                yield from self.adcs.hold(plan.step_cycles(v)[1])
                free = env.now
                charge_steps(ls, plan, v)
                yield to_write.put((v, env.now + plan.lag))

        def writer():
            for i, v in enumerate(steps):
                v, ready = yield to_write.get()
                if ready > env.now:
                    yield env.timeout(ready - env.now)
                yield from self.write_port.hold(plan.step_cycles(v)[2])
                if on_written:
                    on_written(i, v)

        procs = [env.process(p()) for p in (reader, converter, writer)]
        yield env.all_of(procs)

    def digital(self, share: float = 1.0):
        """Process: the digital layers this layer owns, on `share` of its outputs."""
        for stage in self.plan.digital:
            yield from self.units[stage.unit].hold(stage.cycles(share))

