"""The tiles of one weight layer as interacting processes.

A layer's T tiles work in lockstep, so each kind of block is modelled once for the group:
the input-buffer read port (T x port_bits wide), the crossbar arrays with their muxed ADCs,
the output-buffer write port, and the accumulator, activation, pooling and depthwise units. Three
processes stream the layer's steps through them: a reader, a converter (crossbar reads, ADC
conversions, then shift-add/accumulation, which takes `lag` cycles) and a writer, connected by
FIFOs, so step k+1 is read while step k converts and step k-1 is written. When nothing outside
the layer can hold a step up (`layer_by_layer`), that pipeline's timing follows from the step
cycles alone and `compute_alone` works it out without events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import lru_cache
from itertools import accumulate, repeat

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
        self.units = {u: Block(env, u)
                      for u in ("accumulator", "activation", "pooling", "depthwise_unit")}
        self.input_wait_cycles = 0  # converter idle while the reader waited for inputs
        self.idle_cycles = 0  # converter idle for any other reason (read port, start-up)

    def compute(self, ls: LayerStats, gate: InputGate,
                on_written: Callable[[int, int], None]):
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
                event = gate(i, done)
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
                on_written(i, v)

        procs = [env.process(p()) for p in (reader, converter, writer)]
        yield env.all_of(procs)

    def compute_alone(self, ls: LayerStats):
        """Process: all steps of the layer when only its own pipeline can delay them.

        The reader, converter and writer of `compute` then meet only at their FIFOs, so from
        the start t, step i of n identical (r, c, w) steps is read by t + i r and converted by
        t + r + c + (i - 1) max(r, c) (its conversion starts as soon as both its read and the
        previous conversion are done), and the last write ends at
        t + r + c + lag + w + (n - 1) max(r, c, w) (`enasim.analytical.perf.step_pipeline`).
        A smaller last step follows the same rules. One event instead of about a dozen per
        step; the ADC group's busy intervals, the idle time and the charges are the same.
        """
        plan, t = self.plan, self.env.now
        read = conv = write = t
        if plan.n_full:
            r, c, w = plan.step_cycles(plan.copies)
            n, pace = plan.n_full, max(r, c)
            if c >= r:  # conversions back to back from the first read on
                self.adcs.record(t + r, n * c)
            else:  # each conversion waits for its read
                for i in range(1, n + 1):
                    self.adcs.record(t + i * r, c)
            self.idle_cycles += r + (n - 1) * (pace - c)
            read, conv = t + n * r, t + r + c + (n - 1) * pace
            write = t + r + c + plan.lag + w + (n - 1) * max(pace, w)
            _charge_repeated(ls, plan, plan.copies, n)
        if plan.rem:
            r, c, w = plan.step_cycles(plan.rem)
            read += r
            start = max(read, conv)
            self.idle_cycles += start - conv
            self.adcs.record(start, c)
            conv = start + c
            write = max(conv + plan.lag, write) + w
            _charge_repeated(ls, plan, plan.rem, 1)
        yield self.env.timeout(write - t)

    def digital(self, share: float = 1.0):
        """Process: the digital layers this layer owns, on `share` of its outputs."""
        for stage in self.plan.digital:
            yield from self.units[stage.unit].hold(stage.cycles(share))


def _charge_repeated(ls: LayerStats, plan: LayerPlan, vectors: int, n: int) -> None:
    """`charge_steps(ls, plan, vectors)` n times: the same float additions in the same order
    (`accumulate` adds one by one), so the totals are bit-identical to charging step by step."""
    for totals, per_vector in ((ls.counts, plan.per_vector_counts),
                               (ls.energy_pj, plan.per_vector_energy_pj)):
        for k, x in per_vector.items():
            start = totals[k]
            totals[k] = (_added_up(x * vectors, n) if start == 0.0 else
                         deque(accumulate(repeat(x * vectors, n), initial=start), maxlen=1)[0])


@lru_cache(maxsize=4096)
def _added_up(x: float, n: int) -> float:
    """0 + x + x + ... (n additions, one by one): a layer's first charge, which an operator
    computed again and again (ENASA's groups) repeats with the same x and n."""
    return deque(accumulate(repeat(x, n), initial=0.0), maxlen=1)[0]
