"""ENASA's operator parallel scheduling (OPS) unit, as a SimPy process.

The unit keeps an *operator status register* (waiting / ready / running / done for every
operator instance of the group: one `Computation` per operator and input), moves ready
instances in arrival order into a *scheduling buffer* of `ops_buffer_entries` slots, and
dispatches from the buffer every instance whose crossbars are free. When several buffered
instances want the same crossbars (a *conflict*: same weights, different inputs), it ranks
them by

    score = parallel_weight x parallel + reuse_weight x reuse

* parallel: how many sub-nets of the group need this operator on this input (1 without
  sharing), so computations that feed many sub-nets go first;
* reuse: the fraction of the instance's input already resident in its operator's tile input
  buffers, so inputs are consumed before later deliveries evict them;

ties broken by `tie_break` ('depth': earlier block first, then lower sub-net index;
'subnet': lower sub-net index first, then earlier block), then by instance index, so a run
is deterministic. Each dispatch costs `ops_decision_cycles` cycles of the unit (decisions are
serial) and `ops_energy_pj_per_decision`. No ENASA scoring details are public
(nas-workloads.md 4.1); these defaults are enasim's (section 7 of the notes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from enasim.config.schema import Enasa
from enasim.stats import Span


@dataclass(eq=False)
class Computation:
    """One operator instance: an operator of the supernet on one input, for some sub-nets."""

    index: int
    key: str  # the supernet operator
    resource: str  # the crossbars (or depthwise unit) it needs
    block: int  # position of its block in the sub-net chain (depth)
    subnets: tuple[int, ...]  # sub-nets of the group that use its output
    input_bits: float
    sources: tuple[str, ...]  # operators whose outputs form its input (() = chip input)
    pending: int = 0  # predecessors not done yet
    successors: list[int] = field(default_factory=list)
    status: str = "waiting"  # the status register: waiting | ready | running | done
    conflicted: bool = False
    start_cycle: int = -1
    end_cycle: int = -1


class OpsUnit:
    """Scheduler of a group's computations; `execute(c)` is the process that runs one."""

    def __init__(self, env: simpy.Environment, cfg: Enasa, comps: list[Computation],
                 execute: Callable[[Computation], object],
                 resident: Callable[[Computation], float], spans: list[Span] | None):
        self.env, self.cfg, self.comps = env, cfg, comps
        self.execute, self.resident, self.spans = execute, resident, spans
        self.queue: deque[Computation] = deque()  # ready, not yet in the buffer
        self.buffer: list[Computation] = []
        self.busy: set[str] = set()
        self.remaining = len(comps)
        self.decisions = 0
        self.conflicts = 0  # instances that waited for crossbars another instance held
        self.ranked_conflicts = 0  # times the ranking chose between instances for free crossbars
        self.busy_cycles = 0
        self._wake = env.event()

    def ready(self, c: Computation) -> None:
        """Status register: `c`'s inputs have arrived."""
        c.status = "ready"
        self.queue.append(c)
        self._poke()

    def finished(self, c: Computation) -> None:
        c.status = "done"
        self.busy.discard(c.resource)
        self.remaining -= 1
        self._poke()

    def _poke(self) -> None:
        if not self._wake.triggered:
            self._wake.succeed()

    def _key(self, c: Computation) -> tuple:
        score = (self.cfg.parallel_weight * len(c.subnets)
                 + self.cfg.reuse_weight * self.resident(c))
        first = (c.block, c.subnets[0]) if self.cfg.tie_break == "depth" \
            else (c.subnets[0], c.block)
        return (-score, *first, c.index)

    def pick(self) -> list[Computation]:
        """Rank the buffer and take every instance whose crossbars are free."""
        while self.queue and len(self.buffer) < self.cfg.ops_buffer_entries:
            self.buffer.append(self.queue.popleft())
        chosen: list[Computation] = []
        taken: dict[str, int] = {}  # crossbars given away this round -> candidates for them
        for c in sorted(self.buffer, key=self._key):
            if c.resource not in self.busy and c.resource not in taken:
                taken[c.resource] = 1
                chosen.append(c)
                continue
            if c.resource in taken:
                taken[c.resource] += 1
                if taken[c.resource] == 2:
                    self.ranked_conflicts += 1
            if not c.conflicted:
                c.conflicted = True
                self.conflicts += 1
        for c in chosen:
            self.buffer.remove(c)
            self.busy.add(c.resource)
            c.status = "running"
        return chosen

    def run(self):
        """Process: dispatch until every computation is done."""
        env, cycles = self.env, self.cfg.ops_decision_cycles
        while self.remaining:
            chosen = self.pick()
            if not chosen:
                self._wake = env.event()
                yield self._wake
                continue
            for c in chosen:
                self.decisions += 1
                if cycles:
                    t0 = env.now
                    yield env.timeout(cycles)
                    self.busy_cycles += cycles
                    if self.spans is not None:
                        self.spans.append(Span("ops", "OPS unit", f"dispatch {c.key}", t0,
                                               env.now, c.block))
                env.process(self.execute(c))
