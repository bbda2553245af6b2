"""The cycle-level mesh NoC as the engine's interconnect (conservative co-simulation).

Packets enter the network only at SimPy event times, and source queues are unbounded, so a
sender never waits on the network. A driver process therefore lets everything else of the
current cycle happen, hands the packets sent in it to the mesh model and runs the model ahead
in one stretch: up to the next time anything else in the engine can happen (`env.peek()`), or to
the end of the first cycle in which a message set's last tail arrives, whichever is first. That
arrival becomes a SimPy event at its exact cycle. Data sent in the arrival cycle itself (an
engine reacting without delay) enters its source queue one cycle later, after the network has
moved on, and is recorded as created then. No rollback is ever needed; the compiled and the
process model, driven alike, give identical results (DESIGN section 5), and replaying the
run's traffic as a trace on the mesh alone reproduces every packet's timing.
"""

from __future__ import annotations

import numpy as np
import simpy

from enasim.config.schema import Noc
from enasim.noc.interconnect import Interconnect, MessageSet, to_packets
from enasim.noc.packets import Packets
from enasim.noc.router import ProcessMesh, RouterParams, check_mesh_memory

_FOREVER = 2**62


class MeshInterconnect(Interconnect):
    """Message sets as packets on the BookSim2-equivalent mesh (`model`: compiled|process)."""

    def __init__(self, env: simpy.Environment, noc: Noc, rows: int, cols: int,
                 model: str = "compiled"):
        super().__init__(env, noc, rows, cols)
        params = RouterParams.from_noc(noc, rows, cols)
        check_mesh_memory(params, model, "noc")
        empty = Packets(*(np.zeros(0),) * 4)
        if model == "compiled":
            from enasim.noc.compiled import CompiledMesh

            self.mesh = CompiledMesh(params, empty)
        else:
            self.mesh = ProcessMesh(params, empty)
        self._new: list[tuple[MessageSet, int, int]] = []  # (messages, group, entry cycle)
        self._waiting: dict[int, simpy.Event] = {}  # message set in flight -> its arrival event
        self._wake: simpy.Event | None = None
        self._driver = self._drive()
        env.process(self._driver)

    def close(self) -> None:
        """End the driver process (left waiting for more messages when the run ends): its
        generator, event and process refer to one another, a cycle that would keep the mesh
        and its packets in memory until a full garbage collection."""
        self._driver.close()
        self._wake = None

    def _entry_cycle(self) -> int:
        return max(int(self.env.now), self.mesh.now)

    def _carry(self, ms: MessageSet, group: int) -> simpy.Event:
        event = self._waiting[group] = self.env.event()
        self._new.append((ms, group, self._entry_cycle()))
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()
        return event

    def _drive(self):
        env, mesh = self.env, self.mesh
        while True:
            if not self._new and not self._waiting:
                self._wake = env.event()
                yield self._wake
                self._wake = None
            while env.peek() == env.now:  # the rest of this cycle may send more
                yield env.timeout(0)
            self._inject()
            horizon = env.peek()
            until = _FOREVER if horizon == float("inf") else int(horizon)
            done = mesh.run(until, stop=True)
            if len(done):
                yield env.timeout(mesh.now - 1 - env.now)
                for group in done.tolist():
                    self._waiting.pop(group).succeed()
            elif mesh.now > env.now:
                yield env.timeout(mesh.now - env.now)

    def _inject(self) -> None:
        """Hand the message sets sent so far to the mesh, as packets."""
        if not self._new:
            return
        sets, self._new = self._new, []
        self.mesh.extend(to_packets([(t, g, ms) for ms, g, t in sets],
                                    self.noc.max_packet_flits)[0])

    def _arrivals(self, packets: Packets, end: np.ndarray, hops: np.ndarray) -> np.ndarray:
        return self.mesh.records.tail_ejected.copy()

    def _link_flits(self, packets: Packets) -> np.ndarray:
        return np.asarray(self.mesh.link_flits, dtype=np.int64)
