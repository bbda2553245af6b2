"""A hardware block used by one operation at a time for a known number of cycles.

Buffer ports, a layer's ADC group and the digital units are all such blocks: what differs is
how many cycles an operation holds them (`enasim.plan`), not how they are shared. Waiting for a
busy block is where contention shows up.
"""

from __future__ import annotations

from functools import cached_property

import simpy


class Block:
    def __init__(self, env: simpy.Environment, name: str):
        self.env, self.name = env, name
        self.busy_cycles = 0
        self.busy: list[list[int]] = []  # [start, end) intervals, back-to-back ones merged

    @cached_property
    def _res(self) -> simpy.Resource:
        """The SimPy resource, made on first `hold`: a block whose timing is worked out
        without events (`record` only) never needs one."""
        return simpy.Resource(self.env, capacity=1)

    def hold(self, cycles: int):
        """Process: wait until the block is free, then occupy it for `cycles`."""
        with self._res.request() as req:
            yield req
            start = self.env.now
            yield self.env.timeout(cycles)
            self.record(start, cycles)

    def record(self, start: int, cycles: int) -> None:
        """Book an operation that held the block for `cycles` from `start` (callers that work
        out the timing without events book it here too)."""
        self.busy_cycles += cycles
        if self.busy and self.busy[-1][1] == start:
            self.busy[-1][1] = start + cycles
        elif cycles:
            self.busy.append([start, start + cycles])
