"""Process model of the mesh NoC: BookSim2's input-queued router as SimPy processes.

This is the readable reference; `enasim.kernels.noc` is the same model compiled with Numba, and
the two must agree packet by packet. The semantics follow BookSim2's `IQRouter` (non-speculative,
iSLIP VC and switch allocators with one iteration, no switch hold, credit delay 0):

* Each router cycle: queue arrived flits and credits; evaluate route computation, VC allocation,
  switch allocation and switch traversal for entries that are new this cycle; then update the
  stages whose delay has elapsed (in that order); then send one flit per output and one credit per
  input.
* A flit sent at cycle s over a channel of latency L is seen by the receiver at cycle s + L + 1
  (BookSim's channel read/write phases), likewise credits. Injection and ejection channels have
  latency 1. So no two processes interact within a cycle and their order does not matter.
* A packet of L flits over D links on an empty mesh takes
  3 + (D + 1)(routing + va + sa + st) + D * link + (L - 1) cycles: 7 + 5D + (L - 1) by default.

Ports: 0 = +x, 1 = -x, 2 = +y, 3 = -y, 4 = local; input port o of a router receives from the
neighbour on side o. Node id = x + cols * y. X-Y (dimension-order) routing.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import simpy

from enasim.noc.packets import Packets, Records, group_counts

LOCAL = 4
PORTS = 5
IDLE, ROUTING, VC_ALLOC, ACTIVE = range(4)
STALL = -2  # an allocation result meaning "not granted, retry"


@dataclass(frozen=True)
class RouterParams:
    """Mesh size and BookSim2 router parameters (all delays in cycles)."""

    rows: int
    cols: int
    num_vcs: int = 4
    vc_buf: int = 8
    routing_delay: int = 1
    va_delay: int = 1
    sa_delay: int = 1
    st_delay: int = 1
    link_delay: int = 1

    @property
    def nodes(self) -> int:
        return self.rows * self.cols

    @classmethod
    def from_noc(cls, noc, rows: int, cols: int) -> RouterParams:
        """The routers of a hwconfig's `noc` section on a rows x cols mesh."""
        return cls(rows, cols, noc.num_vcs, noc.vc_buf_flits, noc.routing_delay, noc.va_delay,
                   noc.sa_delay, noc.st_delay, noc.link_delay)


def route(params: RouterParams, here: int, dst: int) -> int:
    """Dimension-order (X then Y) output port."""
    x, y = here % params.cols, here // params.cols
    dx, dy = dst % params.cols, dst // params.cols
    if dx > x:
        return 0
    if dx < x:
        return 1
    if dy > y:
        return 2
    if dy < y:
        return 3
    return LOCAL


def neighbour(params: RouterParams, here: int, port: int) -> int:
    """The router on side `port` of `here`, or -1 at the mesh edge."""
    x, y = here % params.cols, here // params.cols
    x += (port == 0) - (port == 1)
    y += (port == 2) - (port == 3)
    return x + params.cols * y if 0 <= x < params.cols and 0 <= y < params.rows else -1


def islip(requests: list[tuple[int, Iterable[int]]], n_in: int, n_out: int, gptr: list[int],
          aptr: list[int]) -> dict[int, int]:
    """One iteration of iSLIP: round-robin grant per output, round-robin accept per input.

    `requests` pairs each requesting input (once) with its requested outputs. Pointers advance
    only on acceptance; every grant is made before any pointer moves, so the order of
    `requests` does not matter.
    """
    grants: dict[int, int] = {}
    if len(requests) > 1:  # else every requested output grants the lone input
        for i, outputs in requests:
            for o in outputs:
                g = grants.get(o)
                if g is None or (i - gptr[o]) % n_in < (g - gptr[o]) % n_in:
                    grants[o] = i
    match = {}
    for i, outputs in requests:
        a, best = aptr[i], None
        for o in outputs:
            if grants.get(o, i) == i and (best is None or (o - a) % n_out < (best - a) % n_out):
                best = o
        if best is not None:
            match[i] = best
            gptr[best] = (i + 1) % n_in
            aptr[i] = (best + 1) % n_out
    return match


class Flit:
    __slots__ = ("pkt", "head", "tail", "dst", "vc", "itime", "hops")

    def __init__(self, pkt: int, head: bool, tail: bool, dst: int, vc: int, itime: int):
        self.pkt, self.head, self.tail, self.dst = pkt, head, tail, dst
        self.vc, self.itime, self.hops = vc, itime, 0


class Channel:
    """A flit or credit channel: what is sent at cycle s is seen at s + latency + 1. Its
    receiver takes an item (time, payload) off the front of `queue` once time <= now."""

    __slots__ = ("latency", "queue", "sink")

    def __init__(self, latency: int, sink: Router | Terminals):
        self.latency, self.queue, self.sink = latency, deque(), sink

    def send(self, now: int, item) -> None:
        self.queue.append((now + self.latency + 1, item))
        self.sink.wake(now)


class _Sleeper:
    """A SimPy process that runs one step per cycle while it has work, else sleeps."""

    def __init__(self, env: simpy.Environment):
        self.env, self._wake, self.last_step = env, None, -1
        env.process(self._run())

    def wake(self, now: int) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _run(self):
        env = self.env
        while True:
            if not self.busy():
                self._wake = env.event()
                yield self._wake
                self._wake = None
            if env.now <= self.last_step:
                yield env.timeout(self.last_step + 1 - env.now)
            self.last_step = env.now
            self.step(env.now)
            yield env.timeout(1)

    def busy(self) -> bool:
        raise NotImplementedError

    def step(self, now: int) -> None:
        raise NotImplementedError


class Router(_Sleeper):
    """One 5-port input-queued router (BookSim2 IQRouter semantics, see module docstring)."""

    def __init__(self, env: simpy.Environment, params: RouterParams, node: int, stats: NocCounters):
        self.p, self.node = params, node
        self.link_flits = stats.link_flits[node]  # flits sent on each output
        V = params.num_vcs
        self.buf = [[deque() for _ in range(V)] for _ in range(PORTS)]
        self.state = [[IDLE] * V for _ in range(PORTS)]
        self.out_port = [[-1] * V for _ in range(PORTS)]
        self.out_vc = [[-1] * V for _ in range(PORTS)]
        self.in_use = [[-1] * V for _ in range(PORTS)]  # owner of each downstream VC
        self.occupancy = [[0] * V for _ in range(PORTS)]  # downstream flits not yet credited
        self.route_q: deque = deque()  # [time, port, vc]
        self.va_q: deque = deque()  # [time, port, vc, result]
        self.sa_q: deque = deque()  # [time, port, vc, result]
        self.xbar_q: deque = deque()  # [time, flit, out port]
        self.out_buf = [deque() for _ in range(PORTS)]  # traversed flits, one leaves per cycle
        self.va_gptr, self.va_aptr = [0] * (PORTS * V), [0] * (PORTS * V)
        self.sa_gptr, self.sa_aptr = [0] * PORTS, [0] * PORTS
        self.sa_offset = [0] * PORTS
        self.in_flit: list[Channel] = [None] * PORTS  # channels into this router
        self.in_credit: list[Channel] = [None] * PORTS  # credits for our outputs
        self.flit_inputs: list[tuple[int, Channel]] = []  # (port, channel), set by `wired`
        self.credit_inputs: list[tuple[int, Channel]] = []
        self.inputs: list[Channel] = []
        self.out_flit: list[Channel | None] = [None] * PORTS
        self.out_credit: list[Channel | None] = [None] * PORTS  # credits to upstream
        super().__init__(env)

    def busy(self) -> bool:
        return bool(self.route_q or self.va_q or self.sa_q or self.xbar_q or any(self.out_buf)
                    or any(ch.queue for ch in self.inputs))

    def wired(self) -> None:
        """Note the channels into this router, once they are all connected."""
        self.flit_inputs = [(ip, ch) for ip, ch in enumerate(self.in_flit) if ch]
        self.credit_inputs = [(o, ch) for o, ch in enumerate(self.in_credit) if ch]
        self.inputs = [ch for _, ch in self.flit_inputs + self.credit_inputs]

    def step(self, now: int) -> None:
        p = self.p
        V = p.num_vcs
        route_q, va_q, sa_q, xbar_q = self.route_q, self.va_q, self.sa_q, self.xbar_q
        credits_out = []  # (input port, VC): at most one flit leaves an input per cycle
        self._input_queuing(now)
        # evaluate
        for item in route_q:
            if item[0] >= 0:
                break
            item[0] = now + p.routing_delay - 1
        if va_q:
            self._va_evaluate(now)
        if sa_q:
            self._sa_evaluate(now)
        for item in xbar_q:
            if item[0] >= 0:
                break
            item[0] = now + p.st_delay - 1
        # update
        while route_q and 0 <= route_q[0][0] <= now:
            _, ip, v = route_q.popleft()
            self.out_port[ip][v] = route(p, self.node, self.buf[ip][v][0].dst)
            self.state[ip][v] = VC_ALLOC
            va_q.append([-1, ip, v, -1])
        while va_q and 0 <= va_q[0][0] <= now:
            _, ip, v, res = va_q.popleft()
            if res >= 0:
                o, ov = divmod(res, V)
                self.in_use[o][ov] = ip * V + v
                self.out_vc[ip][v] = ov
                self.state[ip][v] = ACTIVE
                sa_q.append([-1, ip, v, -1])
            else:
                va_q.append([-1, ip, v, -1])
        while sa_q and 0 <= sa_q[0][0] <= now:
            _, ip, v, o = sa_q.popleft()
            if o < 0:
                sa_q.append([-1, ip, v, -1])
                continue
            q = self.buf[ip][v]
            f = q.popleft()
            ov = self.out_vc[ip][v]
            f.hops += 1
            f.vc = ov
            self.occupancy[o][ov] += 1
            if f.tail:
                self.in_use[o][ov] = -1
            xbar_q.append([-1, f, o])
            credits_out.append((ip, v))
            if not q:
                if f.tail:
                    self.state[ip][v] = IDLE
            elif f.tail:
                self._start_packet(ip, v)
            else:
                sa_q.append([-1, ip, v, -1])
        while xbar_q and 0 <= xbar_q[0][0] <= now:
            _, f, o = xbar_q.popleft()
            self.out_buf[o].append(f)
        # write outputs
        for o, q in enumerate(self.out_buf):
            if q:
                self.out_flit[o].send(now, q.popleft())
                self.link_flits[o] += 1
        for ip, v in credits_out:
            self.out_credit[ip].send(now, v)

    def _start_packet(self, ip: int, v: int) -> None:
        """The head flit at the front of VC (ip, v) starts its pipeline."""
        if self.p.routing_delay:
            self.state[ip][v] = ROUTING
            self.route_q.append([-1, ip, v])
        else:  # lookahead routing: the route is known on arrival
            self.out_port[ip][v] = route(self.p, self.node, self.buf[ip][v][0].dst)
            self.state[ip][v] = VC_ALLOC
            self.va_q.append([-1, ip, v, -1])

    def _input_queuing(self, now: int) -> None:
        for ip, ch in self.flit_inputs:
            if not ch.queue or ch.queue[0][0] > now:
                continue
            f = ch.queue.popleft()[1]
            q = self.buf[ip][f.vc]
            q.append(f)
            st = self.state[ip][f.vc]
            if st == IDLE:
                self._start_packet(ip, f.vc)
            elif st == ACTIVE and q[0] is f:
                self.sa_q.append([-1, ip, f.vc, -1])
        for o, ch in self.credit_inputs:
            while ch.queue and ch.queue[0][0] <= now:
                self.occupancy[o][ch.queue.popleft()[1]] -= 1

    def _va_evaluate(self, now: int) -> None:
        V = self.p.num_vcs
        requests = []
        for item in self.va_q:
            if item[0] >= 0:
                break
            _, ip, v, _ = item
            o = self.out_port[ip][v]
            free = [o * V + ov for ov, owner in enumerate(self.in_use[o]) if owner < 0]
            if free:
                requests.append((ip * V + v, free))
            else:
                item[3] = STALL
        match = islip(requests, PORTS * V, PORTS * V, self.va_gptr, self.va_aptr)
        for item in self.va_q:
            if item[0] >= 0:
                break
            item[0] = now + self.p.va_delay - 1
            if item[3] == STALL:
                continue
            item[3] = match.get(item[1] * V + item[2], STALL)
        if self.p.va_delay > 1:  # a grant made earlier may have been taken meanwhile
            for item in self.va_q:
                if item[0] > now:
                    break
                if item[3] >= 0:
                    o, ov = divmod(item[3], V)
                    if self.in_use[o][ov] >= 0:
                        item[3] = STALL

    def _sa_evaluate(self, now: int) -> None:
        V, offset = self.p.num_vcs, self.sa_offset
        requests: dict[int, dict[int, int]] = {}  # input -> {output: the VC asking for it}
        for item in self.sa_q:
            if item[0] >= 0:
                break
            _, ip, v, _ = item
            o, ov = self.out_port[ip][v], self.out_vc[ip][v]
            if self.occupancy[o][ov] >= self.p.vc_buf:
                item[3] = STALL
                continue
            asks = requests.setdefault(ip, {})
            prev = asks.get(o)
            if prev is None or (v - offset[ip]) % V < (prev - offset[ip]) % V:
                asks[o] = v
        match = islip(list(requests.items()), PORTS, PORTS, self.sa_gptr, self.sa_aptr)
        for item in self.sa_q:
            if item[0] >= 0:
                break
            item[0] = now + self.p.sa_delay - 1
            if item[3] == STALL:
                continue
            _, ip, v, _ = item
            o = match.get(ip, -1)
            if o >= 0 and requests[ip][o] == v:
                offset[ip] = (v + 1) % V
                item[3] = o
            else:
                item[3] = STALL


class NocCounters:
    """Flits sent on each router output (links and ejection ports)."""

    def __init__(self, nodes: int):
        self.link_flits = [[0] * PORTS for _ in range(nodes)]


class Terminals(_Sleeper):
    """The network interfaces of all nodes: source queues, injection, ejection (BookSim's
    traffic manager). Unbounded source queues; one flit in and one out per node per cycle."""

    def __init__(self, env: simpy.Environment, params: RouterParams, packets: Packets,
                 records: Records):
        self.p, self.pk, self.rec = params, packets, records
        n, V = params.nodes, params.num_vcs
        self.queue = [deque() for _ in range(n)]
        self.next_seq, self.cur_vc, self.last_vc = [0] * n, [0] * n, [-1] * n
        self.in_use = [[False] * V for _ in range(n)]
        self.occupancy = [[0] * V for _ in range(n)]
        self.inject: list[Channel] = [None] * n  # node -> router
        self.eject: list[Channel] = [None] * n  # router -> node
        self.credit_in: list[Channel] = [None] * n  # router -> node credits
        self.credit_out: list[Channel] = [None] * n  # node -> router credits
        self.ready = packets.cycle.astype("int64").tolist()
        self.waiting = [int(packets.dep_ptr[i + 1] - packets.dep_ptr[i])
                        for i in range(len(packets))]
        self.rev: list[list[int]] = [[] for _ in range(len(packets))]
        for i in range(len(packets)):
            for d in packets.deps_of(i).tolist():
                self.rev[d].append(i)
        # heap of (ready cycle, packet) of the packets whose dependencies have all arrived
        self.pending = [(self.ready[i], i) for i in range(len(packets)) if not self.waiting[i]]
        heapq.heapify(self.pending)
        self.in_flight = self.ejected = 0
        self.group_left = group_counts(packets.group, None, 0)
        self.done: list[int] = []  # groups completed during the current run
        self.stop: Callable[[int], None] | None = None  # called when a group completes
        super().__init__(env)

    def busy(self) -> bool:
        return bool(self.pending or self.in_flight)

    def step(self, now: int) -> None:
        p, pk, rec = self.p, self.pk, self.rec
        V = p.num_vcs
        arrived = []
        for n, (ej, cr) in enumerate(zip(self.eject, self.credit_in, strict=True)):
            if ej.queue and ej.queue[0][0] <= now:
                arrived.append((n, ej.queue.popleft()[1]))
            if cr.queue and cr.queue[0][0] <= now:
                self.occupancy[n][cr.queue.popleft()[1]] -= 1
        while self.pending and self.pending[0][0] <= now:
            t, i = heapq.heappop(self.pending)
            rec.created[i] = t
            self.queue[int(pk.src[i])].append(i)
        for n in range(p.nodes):
            if not self.queue[n]:
                continue
            i, seq = self.queue[n][0], self.next_seq[n]
            if seq == 0:
                vc = -1
                for k in range(1, V + 1):
                    c = 0 if self.last_vc[n] < 0 else (self.last_vc[n] + k) % V
                    if not self.in_use[n][c] and self.occupancy[n][c] < p.vc_buf:
                        vc = c
                        break
                if vc < 0:
                    continue
                self.in_use[n][vc] = True
                self.last_vc[n] = self.cur_vc[n] = vc
                rec.head_injected[i] = now
            else:
                vc = self.cur_vc[n]
                if self.occupancy[n][vc] >= p.vc_buf:
                    continue
            tail = seq == pk.flits[i] - 1
            self.occupancy[n][vc] += 1
            if tail:
                self.in_use[n][vc] = False
                self.queue[n].popleft()
                self.next_seq[n] = 0
            else:
                self.next_seq[n] = seq + 1
            if seq == 0:
                self.in_flight += 1
            self.inject[n].send(now, Flit(i, seq == 0, tail, int(pk.dst[i]), vc, now))
        for n, f in arrived:
            self.ejected += 1
            rec.flit_latency_sum[f.pkt] += now - f.itime
            self.credit_out[n].send(now, f.vc)
            if f.tail:
                rec.tail_ejected[f.pkt] = now
                rec.hops[f.pkt] = f.hops - 1
                self.in_flight -= 1
                g = int(pk.group[f.pkt])
                if g >= 0:
                    self.group_left[g] -= 1
                    if self.group_left[g] == 0:
                        self.done.append(g)
                        if self.stop is not None:
                            self.stop(now + 1)
                for d in self.rev[f.pkt]:
                    self.ready[d] = max(self.ready[d], now + 1)
                    self.waiting[d] -= 1
                    if not self.waiting[d]:
                        heapq.heappush(self.pending, (self.ready[d], d))

    def add(self, more: Packets) -> None:
        """Offer more dependency-free packets, appended after the existing ones."""
        first = len(self.pk)
        self.pk = Packets.concat([self.pk, more])
        self.rec.extend(len(more))
        self.group_left = group_counts(self.pk.group, self.group_left, first)
        for i in range(first, len(self.pk)):
            self.ready.append(int(self.pk.cycle[i]))
            self.waiting.append(0)
            self.rev.append([])
            heapq.heappush(self.pending, (self.ready[i], i))
        self.wake(self.env.now)


class ProcessMesh:
    """The mesh as SimPy processes: routers, channels and terminals in one Environment."""

    def __init__(self, params: RouterParams, packets: Packets,
                 env: simpy.Environment | None = None):
        self.params, self.packets = params, packets
        self.env = env or simpy.Environment()
        self.records = Records.empty(len(packets))
        self.counters = NocCounters(params.nodes)
        self.terminals = Terminals(self.env, params, packets, self.records)
        self.routers = [Router(self.env, params, r, self.counters) for r in range(params.nodes)]
        t = self.terminals
        for r, router in enumerate(self.routers):
            router.in_flit[LOCAL] = t.inject[r] = Channel(1, router)
            router.out_flit[LOCAL] = t.eject[r] = Channel(1, t)
            router.out_credit[LOCAL] = t.credit_in[r] = Channel(1, t)
            router.in_credit[LOCAL] = t.credit_out[r] = Channel(1, router)
            for o in range(4):
                nb = neighbour(params, r, o)
                if nb < 0:
                    continue
                other = self.routers[nb]
                ch = Channel(params.link_delay, other)
                router.out_flit[o] = other.in_flit[o ^ 1] = ch
                cr = Channel(params.link_delay, router)
                other.out_credit[o ^ 1] = router.in_credit[o] = cr
        for router in self.routers:
            router.wired()

    @property
    def now(self) -> int:
        return int(self.env.now)

    def run(self, until: int, stop: bool = False) -> np.ndarray:
        """Simulate every cycle before `until`; with `stop`, only up to the end of the first
        cycle in which a packet group completes. Returns the groups completed."""
        t = self.terminals
        t.done = []
        if until <= self.env.now:
            return np.zeros(0, dtype=np.int64)
        stops = [self._stop_at(until)]
        if stop:
            t.stop = lambda cycle: stops.append(self._stop_at(cycle)) if len(stops) == 1 else None
        try:
            self.env.run()
        finally:
            t.stop = None
            for event in stops:  # the one not reached must not stop a later run
                if event.callbacks is not None:
                    event.callbacks.clear()
        return np.asarray(t.done, dtype=np.int64)

    def _stop_at(self, cycle: int) -> simpy.Event:
        """An event that ends `env.run()` at `cycle`, before anything else of that cycle."""
        event = self.env.event()
        event._ok, event._value = True, None
        event.callbacks.append(simpy.core.StopSimulation.callback)
        self.env.schedule(event, simpy.core.URGENT, cycle - self.env.now)
        return event

    def extend(self, more: Packets) -> None:
        """Offer more dependency-free packets (appended after the existing ones)."""
        self.terminals.add(more)
        self.packets = self.terminals.pk

    @property
    def ejected_flits(self) -> int:
        return self.terminals.ejected

    @property
    def link_flits(self) -> list[list[int]]:
        return self.counters.link_flits
