"""Process model of the mesh NoC: BookSim2's input-queued router as SimPy processes.

This is the readable reference; `enasim.kernels.noc` is the same model compiled with Numba, and
the two must agree packet by packet. The semantics follow BookSim2's `IQRouter` (non-speculative,
iSLIP VC and switch allocators with one iteration, no switch hold, credit delay 0):

* Each router cycle: queue arrived flits; evaluate route computation, VC allocation, switch
  allocation and switch traversal for entries that are new this cycle; then update the stages
  whose delay has elapsed (in that order), a flit leaving an input sending its credit upstream;
  then send one flit per output.
* A flit sent at cycle s over a channel of latency L is seen by the receiver at cycle s + L + 1
  (BookSim's channel read/write phases), likewise credits. Injection and ejection channels have
  latency 1. So no two processes interact within a cycle and their order does not matter.
* Each router is its own SimPy process, stepping every cycle while it holds flits and otherwise
  asleep until its next flit arrives (a credit goes straight into the upstream output VC's
  queue, stamped with its arrival cycle, and is counted only when the sender needs it, so it
  wakes nobody). The processes stepping in a cycle share one timeout to the next.
* An allocation with a single request grants it without running iSLIP (the pointers move
  alike): most allocations below saturation.
* A packet of L flits over D links on an empty mesh takes
  3 + (D + 1)(routing + va + sa + st) + D * link + (L - 1) cycles: 7 + 5D + (L - 1) by default.

Ports: 0 = +x, 1 = -x, 2 = +y, 3 = -y, 4 = local; input port o of a router receives from the
neighbour on side o. Node id = x + cols * y. X-Y (dimension-order) routing.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import simpy

from enasim.noc.packets import Packets, Records, group_counts

LOCAL = 4
PORTS = 5
IDLE, ROUTING, VC_ALLOC, ACTIVE = range(4)
FOREVER = 2**62


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


def round_robin(mask: int, start: int) -> int:
    """The position of the first set bit of `mask` at or after `start`, wrapping around."""
    above = mask >> start
    if above:
        return start + (above & -above).bit_length() - 1
    return (mask & -mask).bit_length() - 1


def islip(asked: dict[int, int], n_in: int, n_out: int, gptr: list[int],
          aptr: list[int]) -> dict[int, int]:
    """One iteration of iSLIP on bitmasks: `asked` maps each requested output to the mask of
    the inputs asking for it; returns input -> accepted output.

    Each requested output grants the first asking input at or after its pointer, then
    `accept` (`round_robin` is skipped when only one bit is set, here and there).
    """
    granted: dict[int, int] = {}  # input -> mask of the outputs granting it
    for o, ins in asked.items():
        i = round_robin(ins, gptr[o]) if ins & (ins - 1) else ins.bit_length() - 1
        granted[i] = granted.get(i, 0) | 1 << o
    return accept(granted, n_in, n_out, gptr, aptr)


def accept(granted: dict[int, int], n_in: int, n_out: int, gptr: list[int],
           aptr: list[int]) -> dict[int, int]:
    """iSLIP's accept phase: each granted input accepts the first granting output at or after
    its pointer; pointers move only on acceptance."""
    match = {}
    for i, outs in granted.items():
        o = match[i] = (round_robin(outs, aptr[i]) if outs & (outs - 1)
                        else outs.bit_length() - 1)
        gptr[o] = (i + 1) % n_in
        aptr[i] = (o + 1) % n_out
    return match


class Flit:
    __slots__ = ("pkt", "tail", "dst", "vc", "itime", "hops")

    def __init__(self, pkt: int, tail: bool, dst: int, vc: int, itime: int):
        self.pkt, self.tail, self.dst, self.vc, self.itime, self.hops = pkt, tail, dst, vc, itime, 0


class Channel:
    """A one-way flit channel into a router or the terminals, arriving at input `port`.

    What is sent at cycle s is seen at s + latency + 1: the sender files it, tagged with the port,
    in the receiver's inbox under that cycle and tells the receiver when to wake.
    """

    __slots__ = ("delay", "sink", "inbox", "port")

    def __init__(self, latency: int, sink: _Sleeper, port: int):
        self.delay, self.sink, self.inbox, self.port = latency + 1, sink, sink.inbox, port

    def send(self, now: int, flit: Flit) -> None:
        t = now + self.delay
        arrivals = self.inbox.get(t)
        if arrivals is None:
            arrivals = self.inbox[t] = []
            self.sink.wake(t)
        arrivals.append((self.port, flit))


class Credits:
    """Free downstream buffer slots per output VC. A returned credit is seen at its arrival
    cycle but only counted when the VC looks full: the same answer as counting it on arrival,
    without waking the sender for it."""

    __slots__ = ("vc_buf", "used", "returns")

    def __init__(self, vcs: int, vc_buf: int):
        self.vc_buf = vc_buf
        self.used = [0] * vcs  # flits sent, less the credits counted
        self.returns = [deque() for _ in range(vcs)]  # arrival cycles of uncounted credits

    def full(self, vc: int, now: int) -> bool:
        if self.used[vc] < self.vc_buf:
            return False
        returns = self.returns[vc]
        while returns and returns[0] <= now:
            returns.popleft()
            self.used[vc] -= 1
        return self.used[vc] >= self.vc_buf


def credit_path(upstream: Credits, first: int, vcs: int, latency: int) -> list[tuple[deque, int]]:
    """Where the input VCs fed by a channel of `latency` return their credits: the return
    queues of the upstream output VCs first.., with the delay to arrival (seen at
    s + latency + 1, like flits)."""
    return [(upstream.returns[first + v], latency + 1) for v in range(vcs)]


class Clock:
    """Timeouts to given cycles, shared by every process waiting for the same one: one SimPy
    event per cycle instead of one per process."""

    __slots__ = ("env", "events")

    def __init__(self, env: simpy.Environment):
        self.env, self.events = env, {}

    def at(self, cycle: int) -> simpy.Event:
        return self.events.get(cycle) or self._timeout(cycle)

    def _timeout(self, cycle: int) -> simpy.Event:
        event = self.events[cycle] = self.env.timeout(cycle - self.env.now)
        event.callbacks.append(self._expire)
        return event

    def _expire(self, event: simpy.Event) -> None:
        del self.events[self.env.now]


class _Sleeper:
    """A SimPy process that steps once per cycle while it holds work, else sleeps until the
    first cycle a channel delivers to it (a step without work and arrivals changes nothing)."""

    def __init__(self, env: simpy.Environment, clock: Clock):
        self.env, self.clock = env, clock
        self.inbox: dict[int, list] = {}  # arrival cycle -> (input, flit)
        self._wake: simpy.Event | None = None  # while asleep
        self._alarm = 0  # while asleep: the cycle to wake at
        env.process(self._run())

    def wake(self, cycle: int) -> None:
        """Something arrives at `cycle`: wake then at the latest."""
        if self._wake is not None and cycle < self._alarm:
            self._alarm = cycle
            self.clock.at(cycle).callbacks.append(self._ring)

    def _ring(self, event: simpy.Event) -> None:
        if self._wake is not None and self._alarm == self.env.now:
            self._wake.succeed()
            self._wake = None

    def _run(self):
        env, clock, inbox = self.env, self.clock, self.inbox
        now = env.now
        while True:
            if not self.busy() and now not in inbox:  # (arrivals now: step without sleeping)
                self._wake, self._alarm = env.event(), FOREVER
                if inbox:
                    self.wake(min(inbox))
                yield self._wake
                now = env.now
            self.step(now)
            now += 1
            yield clock.at(now)

    def busy(self) -> bool:
        raise NotImplementedError

    def step(self, now: int) -> None:
        raise NotImplementedError


class Stage:
    """One pipeline stage's entries. New entries wait in `new` until the previous `batch` has
    left; a batch evaluated at cycle t is updated (leaves) at t + delay - 1, so there is at most
    one. Allocation `results` map the granted input VCs of the batch to what they won."""

    __slots__ = ("wait", "new", "batch", "due", "results")

    def __init__(self, delay: int):
        self.wait, self.new, self.batch, self.due, self.results = delay - 1, [], [], 0, {}

    def evaluate(self, now: int) -> None:
        self.batch = self.new
        self.new = []
        self.due = now + self.wait


class Router(_Sleeper):
    """One 5-port input-queued router (BookSim2 IQRouter semantics, see module docstring).

    Input VC c = port * V + vc; output VC likewise.
    """

    def __init__(self, env: simpy.Environment, clock: Clock, params: RouterParams, node: int,
                 stats: NocCounters):
        V = self.V = params.num_vcs
        self.link_flits = stats.link_flits[node]  # flits sent on each output
        self.routes = [route(params, node, dst) for dst in range(params.nodes)]  # output port
        self.buf = [deque() for _ in range(PORTS * V)]
        self.state = [IDLE] * (PORTS * V)
        self.out_port = [-1] * (PORTS * V)
        self.out_vc = [-1] * (PORTS * V)  # the output VC allocated to the packet in front
        self.free = [(1 << V) - 1] * PORTS  # per output: mask of the VCs no packet owns
        self.credits = Credits(PORTS * V, params.vc_buf)  # per output VC
        self.held = 0  # flits in this router
        self.stages = tuple(Stage(d) for d in (params.routing_delay, params.va_delay,
                                               params.sa_delay, params.st_delay))
        self.routing, self.vc_alloc, self.sw_alloc, self.xbar = self.stages
        self.va_gptr, self.va_aptr = [0] * (PORTS * V), [0] * (PORTS * V)
        self.sa_gptr, self.sa_aptr = [0] * PORTS, [0] * PORTS
        self.sa_next = [0] * PORTS  # per input: the VC first in line for the switch
        self.out_buf = [deque() for _ in range(PORTS)]  # traversed flits, one leaves per cycle
        self.sending: list[int] = []  # the outputs with flits in out_buf
        self.out_flit: list[Channel | None] = [None] * PORTS
        self.credit_back: list[tuple[deque, int] | None] = [None] * (PORTS * V)  # per input VC
        super().__init__(env, clock)

    def busy(self) -> bool:
        return bool(self.held)

    def step(self, now: int) -> None:
        routing, vc_alloc, sw_alloc, xbar = self.stages
        arrivals = self.inbox.pop(now, None)
        if arrivals:
            self._input_queuing(arrivals)
        # evaluate
        if routing.new and not routing.batch:
            routing.evaluate(now)
        if vc_alloc.new and not vc_alloc.batch:
            self._va_evaluate(now)
        if sw_alloc.new and not sw_alloc.batch:
            self._sa_evaluate(now)
        if xbar.new and not xbar.batch:
            xbar.evaluate(now)
        # update
        if routing.batch and routing.due <= now:
            out_port, routes, buf, state = self.out_port, self.routes, self.buf, self.state
            for c in routing.batch:
                out_port[c] = routes[buf[c][0].dst]
                state[c] = VC_ALLOC
            vc_alloc.new += routing.batch
            routing.batch = []
        if vc_alloc.batch and vc_alloc.due <= now:
            won, V, free, out_vc = vc_alloc.results, self.V, self.free, self.out_vc
            state = self.state
            for c in vc_alloc.batch:
                out = won.get(c)
                if out is None:
                    vc_alloc.new.append(c)
                else:
                    free[out // V] &= ~(1 << out % V)
                    out_vc[c] = out
                    state[c] = ACTIVE
                    sw_alloc.new.append(c)
            vc_alloc.batch = []
        if sw_alloc.batch and sw_alloc.due <= now:
            won = sw_alloc.results
            for c in sw_alloc.batch:
                o = won.get(c)
                if o is None:
                    sw_alloc.new.append(c)
                else:
                    self._traverse(now, c, o)
            sw_alloc.batch = []
        if xbar.batch and xbar.due <= now:
            out_buf, sending = self.out_buf, self.sending
            for f, o in xbar.batch:
                if not out_buf[o]:
                    sending.append(o)
                out_buf[o].append(f)
            xbar.batch = []
        # write outputs
        if self.sending:
            sending, self.sending = self.sending, []
            out_buf, out_flit, link_flits = self.out_buf, self.out_flit, self.link_flits
            for o in sending:
                q = out_buf[o]
                out_flit[o].send(now, q.popleft())
                link_flits[o] += 1
                if q:
                    self.sending.append(o)
            self.held -= len(sending)

    def _traverse(self, now: int, c: int, o: int) -> None:
        """The flit in front of input VC c won output o: it enters the crossbar, and the credit
        for its buffer slot goes upstream."""
        q = self.buf[c]
        f = q.popleft()
        out = self.out_vc[c]
        f.hops += 1
        f.vc = vc = out % self.V
        self.credits.used[out] += 1
        self.xbar.new.append((f, o))
        returns, delay = self.credit_back[c]
        returns.append(now + delay)
        if not f.tail:
            if q:
                self.sw_alloc.new.append(c)
            return
        self.free[o] |= 1 << vc
        if q:
            self._start_packet(c)
        else:
            self.state[c] = IDLE

    def _start_packet(self, c: int) -> None:
        """The head flit at the front of input VC c starts its pipeline."""
        if self.routing.wait >= 0:
            self.state[c] = ROUTING
            self.routing.new.append(c)
        else:  # lookahead routing: the route is known on arrival
            self.out_port[c] = self.routes[self.buf[c][0].dst]
            self.state[c] = VC_ALLOC
            self.vc_alloc.new.append(c)

    def _input_queuing(self, flits: list[tuple[int, Flit]]) -> None:
        V, buf, state = self.V, self.buf, self.state
        for ip, f in flits:
            c = ip * V + f.vc
            q = buf[c]
            q.append(f)
            st = state[c]
            if st == IDLE:
                self._start_packet(c)
            elif st == ACTIVE and len(q) == 1:
                self.sw_alloc.new.append(c)
        self.held += len(flits)

    def _va_evaluate(self, now: int) -> None:
        """Each new entry asks for every free VC of its output port."""
        V, stage, free, out_port = self.V, self.vc_alloc, self.free, self.out_port
        if len(stage.new) == 1:  # a lone request wins without arbitration
            c = stage.new[0]
            o = out_port[c]
            won = {}
            if free[o]:
                out = won[c] = round_robin(free[o] << o * V, self.va_aptr[c])
                self.va_gptr[out] = (c + 1) % (PORTS * V)
                self.va_aptr[c] = (out + 1) % (PORTS * V)
            stage.results = won
            stage.evaluate(now)
            return
        asking: dict[int, int] = {}  # output port -> mask of the input VCs asking for it
        for c in stage.new:
            o = out_port[c]
            if free[o]:
                asking[o] = asking.get(o, 0) | 1 << c
        # iSLIP, a port at a time (an input VC asks for one port only)
        gptr, granted = self.va_gptr, {}  # input VC -> mask of the output VCs granting it
        for o, ins in asking.items():
            if not ins & (ins - 1):  # one input VC asks: every free VC grants it
                granted[ins.bit_length() - 1] = free[o] << o * V
                continue
            vcs = free[o]
            while vcs:
                low = vcs & -vcs
                out = o * V + low.bit_length() - 1
                c = round_robin(ins, gptr[out])
                granted[c] = granted.get(c, 0) | 1 << out
                vcs ^= low
        stage.results = accept(granted, PORTS * V, PORTS * V, gptr, self.va_aptr)
        stage.evaluate(now)

    def _sa_evaluate(self, now: int) -> None:
        """Each input asks for the outputs its new entries with a credit want; per (input,
        output) the VC first in line from the input's `sa_next` gets it."""
        V, stage, credits, out_vc, out_port = (self.V, self.sw_alloc, self.credits, self.out_vc,
                                               self.out_port)
        used, vc_buf = credits.used, credits.vc_buf
        if len(stage.new) == 1:  # a lone request wins without arbitration
            c = stage.new[0]
            out = out_vc[c]
            won = {}
            if used[out] < vc_buf or not credits.full(out, now):
                ip, o = c // V, out_port[c]
                won[c] = o
                self.sa_gptr[o] = (ip + 1) % PORTS
                self.sa_aptr[ip] = (o + 1) % PORTS
                self.sa_next[ip] = (c % V + 1) % V
            stage.results = won
            stage.evaluate(now)
            return
        asked: dict[int, int] = {}  # output -> mask of the inputs asking for it
        asking: dict[int, int] = {}  # input * PORTS + output -> mask of VCs
        for c in stage.new:
            out = out_vc[c]
            if used[out] >= vc_buf and credits.full(out, now):
                continue
            ip, o = c // V, out_port[c]
            asked[o] = asked.get(o, 0) | 1 << ip
            key = ip * PORTS + o
            asking[key] = asking.get(key, 0) | 1 << c % V
        winners = {}  # input VC -> output
        sa_next = self.sa_next
        for ip, o in islip(asked, PORTS, PORTS, self.sa_gptr, self.sa_aptr).items():
            v = round_robin(asking[ip * PORTS + o], sa_next[ip])
            sa_next[ip] = (v + 1) % V
            winners[ip * V + v] = o
        stage.results = winners
        stage.evaluate(now)


class NocCounters:
    """Flits sent on each router output (links and ejection ports)."""

    def __init__(self, nodes: int):
        self.link_flits = [[0] * PORTS for _ in range(nodes)]


class Terminals(_Sleeper):
    """The network interfaces of all nodes: source queues, injection, ejection (BookSim's
    traffic manager). Unbounded source queues; one flit in and one out per node per cycle."""

    def __init__(self, env: simpy.Environment, clock: Clock, params: RouterParams,
                 packets: Packets, records: Records):
        self.p, self.pk, self.rec = params, packets, records
        n, V = params.nodes, params.num_vcs
        self.queue = [deque() for _ in range(n)]
        self.sources: set[int] = set()  # the nodes with queued packets
        self.next_seq, self.cur_vc, self.last_vc = [0] * n, [0] * n, [-1] * n
        self.in_use = [[False] * V for _ in range(n)]
        self.credits = Credits(n * V, params.vc_buf)  # per injection VC n * V + vc
        self.inject: list[Channel] = [None] * n  # node -> router
        self.credit_back: list[tuple[deque, int]] = [None] * (n * V)  # per ejection VC
        self.ready = packets.cycle.astype("int64").tolist()
        self.src, self.dst, self.flits, self.group = [], [], [], []  # as lists: quicker per item
        self._columns(packets)
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
        super().__init__(env, clock)

    def busy(self) -> bool:
        return bool(self.pending or self.in_flight)

    def step(self, now: int) -> None:
        rec, V = self.rec, self.p.num_vcs
        arrived = sorted(self.inbox.pop(now, ()), key=itemgetter(0))  # node order
        while self.pending and self.pending[0][0] <= now:
            t, i = heapq.heappop(self.pending)
            rec.created[i] = t
            self.queue[self.src[i]].append(i)
            self.sources.add(self.src[i])
        for n in sorted(self.sources):
            i, seq = self.queue[n][0], self.next_seq[n]
            if seq == 0:
                vc = -1
                for k in range(1, V + 1):
                    c = 0 if self.last_vc[n] < 0 else (self.last_vc[n] + k) % V
                    if not self.in_use[n][c] and not self.credits.full(n * V + c, now):
                        vc = c
                        break
                if vc < 0:
                    continue
                self.in_use[n][vc] = True
                self.last_vc[n] = self.cur_vc[n] = vc
                rec.head_injected[i] = now
            else:
                vc = self.cur_vc[n]
                if self.credits.full(n * V + vc, now):
                    continue
            tail = seq == self.flits[i] - 1
            self.credits.used[n * V + vc] += 1
            if tail:
                self.in_use[n][vc] = False
                self.queue[n].popleft()
                if not self.queue[n]:
                    self.sources.discard(n)
                self.next_seq[n] = 0
            else:
                self.next_seq[n] = seq + 1
            if seq == 0:
                self.in_flight += 1
            self.inject[n].send(now, Flit(i, tail, self.dst[i], vc, now))
        for n, f in arrived:
            self.ejected += 1
            rec.flit_latency_sum[f.pkt] += now - f.itime
            returns, delay = self.credit_back[n * V + f.vc]
            returns.append(now + delay)
            if f.tail:
                rec.tail_ejected[f.pkt] = now
                rec.hops[f.pkt] = f.hops - 1
                self.in_flight -= 1
                g = self.group[f.pkt]
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
        self._columns(more)
        self.wake(self.env.now)

    def _columns(self, packets: Packets) -> None:
        for column, values in ((self.src, packets.src), (self.dst, packets.dst),
                               (self.flits, packets.flits), (self.group, packets.group)):
            column.extend(np.asarray(values, dtype=np.int64).tolist())


class ProcessMesh:
    """The mesh as SimPy processes: routers, channels and terminals in one Environment."""

    def __init__(self, params: RouterParams, packets: Packets,
                 env: simpy.Environment | None = None):
        self.params, self.packets = params, packets
        self.env = env or simpy.Environment()
        self.records = Records.empty(len(packets))
        self.counters = NocCounters(params.nodes)
        clock = Clock(self.env)
        self.terminals = t = Terminals(self.env, clock, params, packets, self.records)
        self.routers = [Router(self.env, clock, params, r, self.counters)
                        for r in range(params.nodes)]
        V, link = params.num_vcs, params.link_delay
        for r, router in enumerate(self.routers):
            t.inject[r] = Channel(1, router, LOCAL)
            t.credit_back[r * V:r * V + V] = credit_path(router.credits, LOCAL * V, V, 1)
            router.out_flit[LOCAL] = Channel(1, t, r)
            router.credit_back[LOCAL * V:] = credit_path(t.credits, r * V, V, 1)
            for o in range(4):
                nb = neighbour(params, r, o)
                if nb >= 0:  # output o feeds input o ^ 1 of the neighbour, and takes its credits
                    router.out_flit[o] = Channel(link, self.routers[nb], o ^ 1)
                    router.credit_back[o * V:o * V + V] = credit_path(self.routers[nb].credits,
                                                                      (o ^ 1) * V, V, link)

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
