"""Process model of the mesh NoC: BookSim2's input-queued router as SimPy processes.

This is the readable reference; `enasim.noc.compiled` is the same model compiled with Numba, and
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
  queue, stamped with the cycle it was returned, and is counted only when the sender needs it,
  so it wakes nobody). The processes stepping in a cycle share one timeout to the next.
* Every channel takes at least two cycles, so what a router reads at cycle t + 1 was sent by
  t - 1, which every process has finished by cycle t: a router steps t and t + 1 in one resume
  (never past the end of the current run), with the same result and half the resumes.
* An allocation with a single request grants it without running iSLIP, and switch requests
  that share neither an input nor an output all win (the pointers move alike): most
  allocations below saturation.
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

from enasim.errors import ConfigError
from enasim.noc.packets import PacketLog, Packets, Records, group_counts

LOCAL = 4
PORTS = 5
# input VC states: empty; head flit in routing or VC allocation; holding an output VC
IDLE, ROUTING, ACTIVE = range(3)
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


# Memory a mesh model may take: far beyond any chip enasim maps (a 128x128 mesh of the bundled
# routers needs ~0.25 GiB) while a 2000x2000 one (~60 GiB) is refused before allocating.
MESH_MEMORY_LIMIT = 2**31


def mesh_bytes(params: RouterParams, model: str, per_node: int = 0) -> int:
    """Estimated memory of a mesh model: the compiled model's int64 state per router (VC state
    and buffers, output queues, channel time wheels of link_delay + 3 slots, router fields); the
    process model measured at about twice that, so four times is assumed. `per_node` adds
    the caller's own per-node arrays (e.g. a chunk of synthetic traffic)."""
    v, b = params.num_vcs, params.vc_buf

    def ring(n: int) -> int:
        return 1 << (n - 1).bit_length()

    words = (PORTS * v * (8 + 4 * ring(b)) + 25 * ring(v * b)
             + 52 * ring(params.link_delay + 3) + 96)
    return params.nodes * (8 * words * (4 if model == "process" else 1) + per_node)


def check_mesh_memory(params: RouterParams, model: str, field: str, per_node: int = 0) -> None:
    """Refuse (ConfigError naming `field`) a mesh whose model would not fit in memory."""
    need = mesh_bytes(params, model, per_node)
    if need > MESH_MEMORY_LIMIT:
        raise ConfigError("", field, f"a {params.rows}x{params.cols} mesh with {params.num_vcs} "
                          f"VCs of {params.vc_buf} flits and link delay {params.link_delay} "
                          f"needs about {need / 2**30:.3g} GiB in the {model} model, more than "
                          f"the {MESH_MEMORY_LIMIT / 2**30:g} GiB allowed; use a smaller mesh, "
                          f"fewer or shallower VCs")


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
    in the receiver's inbox under that cycle and, if the receiver sleeps, tells it when to wake.
    """

    __slots__ = ("delay", "sink", "inbox", "port")

    def __init__(self, latency: int, sink: _Sleeper, port: int):
        self.delay, self.sink, self.inbox, self.port = latency + 1, sink, sink.inbox, port

    def send(self, now: int, flit: Flit) -> None:
        t = now + self.delay
        arrivals = self.inbox.get(t)
        if arrivals is None:
            arrivals = self.inbox[t] = []
            if self.sink.sleeping is not None:
                self.sink.wake(t)
        arrivals.append((self.port, flit))


class Credits:
    """Free downstream buffer slots per output VC. A credit returned at cycle s is seen at
    s + `lag` but only counted when the VC looks full: the same answer as counting it on
    arrival, without waking the sender for it."""

    __slots__ = ("vc_buf", "used", "returns", "lag")

    def __init__(self, vcs: int, vc_buf: int):
        self.vc_buf = vc_buf
        self.used = [0] * vcs  # flits sent, less the credits counted
        self.returns = [deque() for _ in range(vcs)]  # cycles uncounted credits were returned
        self.lag = [0] * vcs

    def full(self, vc: int, now: int) -> bool:
        if self.used[vc] < self.vc_buf:
            return False
        returns, sent_by = self.returns[vc], now - self.lag[vc]
        while returns and returns[0] <= sent_by:
            returns.popleft()
            self.used[vc] -= 1
        return self.used[vc] >= self.vc_buf


def credit_path(upstream: Credits, first: int, vcs: int, latency: int) -> list[deque]:
    """Where the input VCs fed by a channel of `latency` return their credits: the return
    queues of the upstream output VCs first.., seen s + latency + 1 after return at s (like
    flits)."""
    upstream.lag[first:first + vcs] = [latency + 1] * vcs
    return upstream.returns[first:first + vcs]


class Clock:
    """Timeouts to given cycles, shared by every process waiting for the same one: one SimPy
    event per cycle instead of one per process. The value of each is its cycle."""

    __slots__ = ("env", "events", "limit")

    def __init__(self, env: simpy.Environment):
        self.env, self.events = env, {}
        self.limit = 0  # the end of the current run: no process steps that cycle ahead

    def at(self, cycle: int) -> simpy.Event:
        return self.events.get(cycle) or self._timeout(cycle)

    def _timeout(self, cycle: int) -> simpy.Event:
        event = self.events[cycle] = self.env.timeout(cycle - self.env.now, cycle)
        event.callbacks.append(self._expire)
        return event

    def _expire(self, event: simpy.Event) -> None:
        del self.events[event.value]


class _Sleeper:
    """A SimPy process that steps once per cycle while it holds work, else sleeps until the
    first cycle a channel delivers to it (a step without work and arrivals changes nothing)."""

    def __init__(self, env: simpy.Environment, clock: Clock, ahead: bool):
        self.env, self.clock, self.ahead = env, clock, ahead  # ahead: step two cycles a resume
        self.inbox: dict[int, list] = {}  # arrival cycle -> (input, flit)
        self.sleeping: simpy.Event | None = None  # while asleep: the event that wakes it
        self._alarm = 0  # while asleep: the cycle to wake at
        env.process(self._run())

    def wake(self, cycle: int) -> None:
        """Something arrives at `cycle`: wake then at the latest."""
        if self.sleeping is not None and cycle < self._alarm:
            self._alarm = cycle
            self.clock.at(cycle).callbacks.append(self._ring)

    def _ring(self, event: simpy.Event) -> None:
        if self.sleeping is not None and self._alarm == event.value:
            self.sleeping.succeed()
            self.sleeping = None

    def _run(self):
        env, clock, inbox, timeouts = self.env, self.clock, self.inbox, self.clock.events
        ahead, now = self.ahead, env.now
        while True:
            busy = self.step(now)
            now += 1
            if ahead and (busy or now in inbox) and now < clock.limit:
                busy = self.step(now)
                now += 1
            # awake while there is work or an arrival this cycle or the next (stepping idle
            # once is cheaper than sleeping and waking)
            if busy or now in inbox or now + 1 in inbox:
                yield timeouts.get(now) or clock.at(now)
            else:  # asleep until the first arrival, also one not sent yet
                self.sleeping, self._alarm = env.event(), FOREVER
                if inbox:
                    self.wake(min(inbox))
                yield self.sleeping
                now = env.now

    def step(self, now: int) -> bool:
        """Simulate cycle `now`; true while there is work left without further arrivals."""
        raise NotImplementedError


class Stage:
    """One pipeline stage. Entries wait in `new` until the stage is free; those evaluated at
    cycle t (all, or an allocator's winners) form the `batch`, which leaves (is updated) at
    `due` = t + delay - 1, and the stage is free again the cycle after. Allocation losers stay
    in `new` for the next evaluation."""

    __slots__ = ("wait", "new", "batch", "due")

    def __init__(self, delay: int):
        self.wait, self.new, self.batch, self.due = delay - 1, [], [], -1


class Router(_Sleeper):
    """One 5-port input-queued router (BookSim2 IQRouter semantics, see module docstring).

    Input VC c = port * V + vc; output VC likewise. The route of a packet is computed when its
    head reaches the front of the input VC (the routing stage only delays it), and an output VC
    is taken when VC allocation grants it: nothing reads either before the stage's batch leaves.
    """

    def __init__(self, env: simpy.Environment, clock: Clock, params: RouterParams, node: int,
                 stats: NocCounters):
        V = self.V = params.num_vcs
        self.link_flits = stats.link_flits[node]  # flits sent on each output
        self.routes = [route(params, node, dst) for dst in range(params.nodes)]  # output port
        self.buf = [deque() for _ in range(PORTS * V)]
        self.state = [IDLE] * (PORTS * V)
        self.out_port = [-1] * (PORTS * V)  # the route of the packet in front
        self.out_vc = [-1] * (PORTS * V)  # the output VC allocated to the packet in front
        self.free = [(1 << V) - 1] * PORTS  # per output: mask of the VCs no packet owns
        self.credits = Credits(PORTS * V, params.vc_buf)  # per output VC
        self.held = 0  # flits in this router
        self.stages = tuple(Stage(d) for d in (params.routing_delay, params.va_delay,
                                               params.sa_delay, params.st_delay))
        self.routing, self.vc_alloc, self.sw_alloc, self.xbar = self.stages
        self.first = self.routing if self.routing.wait >= 0 else self.vc_alloc  # of a head flit
        self.va_gptr, self.va_aptr = [0] * (PORTS * V), [0] * (PORTS * V)
        self.sa_gptr, self.sa_aptr = [0] * PORTS, [0] * PORTS
        self.sa_next = [0] * PORTS  # per input: the VC first in line for the switch
        self.out_buf = [deque() for _ in range(PORTS)]  # traversed flits waiting for the output
        self.backlog: list[int] = []  # the outputs with flits in out_buf
        self.out_flit: list[Channel | None] = [None] * PORTS
        self.credit_back: list[deque | None] = [None] * (PORTS * V)  # per input VC
        super().__init__(env, clock, ahead=True)

    def step(self, now: int) -> int:
        routing, vc_alloc, sw_alloc, xbar = self.stages
        arrivals = self.inbox.pop(now, None)
        if arrivals:  # input queuing
            V, buf, state = self.V, self.buf, self.state
            for ip, f in arrivals:
                c = ip * V + f.vc
                q = buf[c]
                q.append(f)
                if state[c] == IDLE:  # a head flit, at the front: as `_start_packet`
                    self.out_port[c] = self.routes[f.dst]
                    state[c] = ROUTING
                    self.first.new.append(c)
                elif state[c] == ACTIVE and len(q) == 1:
                    sw_alloc.new.append(c)
            self.held += len(arrivals)
        # evaluate
        if routing.new and routing.due < now:
            routing.batch, routing.new, routing.due = routing.new, routing.batch, now + routing.wait
        if vc_alloc.new and vc_alloc.due < now:
            self._va_evaluate(now)
        if sw_alloc.new and sw_alloc.due < now:
            self._sa_evaluate(now)
        if xbar.new and xbar.due < now:
            xbar.batch, xbar.new, xbar.due = xbar.new, xbar.batch, now + xbar.wait
        # update
        if routing.batch and routing.due <= now:
            vc_alloc.new += routing.batch
            routing.batch.clear()
        if vc_alloc.batch and vc_alloc.due <= now:
            sw_alloc.new += vc_alloc.batch
            vc_alloc.batch.clear()
        if sw_alloc.batch and sw_alloc.due <= now:
            for c in sw_alloc.batch:
                self._traverse(now, c)
            sw_alloc.batch.clear()
        # write outputs: each sends one flit a cycle, those waiting first
        sent = 0  # mask of the outputs that have sent
        if self.backlog:
            backlog, self.backlog = self.backlog, []
            for o in backlog:
                q = self.out_buf[o]
                self.out_flit[o].send(now, q.popleft())
                self.link_flits[o] += 1
                sent |= 1 << o
                if q:
                    self.backlog.append(o)
            self.held -= len(backlog)
        if xbar.batch and xbar.due <= now:
            out_flit, link_flits = self.out_flit, self.link_flits
            for f, o in xbar.batch:
                if sent >> o & 1:
                    if not self.out_buf[o]:
                        self.backlog.append(o)
                    self.out_buf[o].append(f)
                else:
                    out_flit[o].send(now, f)
                    link_flits[o] += 1
                    sent |= 1 << o
                    self.held -= 1
            xbar.batch.clear()
        return self.held

    def _traverse(self, now: int, c: int) -> None:
        """The flit in front of input VC c won the switch: it enters the crossbar, and the
        credit for its buffer slot goes upstream."""
        q = self.buf[c]
        f = q.popleft()
        o, out = self.out_port[c], self.out_vc[c]
        f.hops += 1
        f.vc = vc = out % self.V
        self.credits.used[out] += 1
        self.xbar.new.append((f, o))
        self.credit_back[c].append(now)
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
        """The head flit at the front of input VC c starts its pipeline: routing, or with
        lookahead routing (delay 0) straight to VC allocation."""
        self.out_port[c] = self.routes[self.buf[c][0].dst]
        self.state[c] = ROUTING
        self.first.new.append(c)

    def _va_evaluate(self, now: int) -> None:
        """Each new entry asks for every free VC of its output port; winners take theirs.

        An input VC asks for one port only. When each port is asked by one input VC (below
        saturation, nearly always), every free VC grants it and it accepts the first from its
        pointer: iSLIP's outcome and pointer moves, granted here without building its requests."""
        V, stage, free, out_port = self.V, self.vc_alloc, self.free, self.out_port
        gptr, aptr, out_vc, state = self.va_gptr, self.va_aptr, self.out_vc, self.state
        new = stage.new
        stage.due = now + stage.wait
        if len(new) == 1:  # a lone request (the loop below without its list)
            c = new[0]
            o = out_port[c]
            if free[o]:
                out = round_robin(free[o] << o * V, aptr[c])
                gptr[out] = (c + 1) % (PORTS * V)
                aptr[c] = (out + 1) % (PORTS * V)
                free[o] &= ~(1 << out % V)
                out_vc[c] = out
                state[c] = ACTIVE
                stage.batch, stage.new = new, stage.batch
            return
        ports = 0
        for c in new:
            ports |= 1 << out_port[c]
        won = []
        if ports.bit_count() == len(new):
            for c in new:
                o = out_port[c]
                if free[o]:
                    out = round_robin(free[o] << o * V, aptr[c])
                    gptr[out] = (c + 1) % (PORTS * V)
                    aptr[c] = (out + 1) % (PORTS * V)
                    free[o] &= ~(1 << out % V)
                    out_vc[c] = out
                    state[c] = ACTIVE
                    won.append(c)
        else:
            asking: dict[int, int] = {}  # output port -> mask of the input VCs asking for it
            for c in new:
                o = out_port[c]
                asking[o] = asking.get(o, 0) | 1 << c
            granted: dict[int, int] = {}  # input VC -> mask of the output VCs granting it
            for o, ins in asking.items():
                if not ins & (ins - 1):  # one input VC asks: every free VC grants it
                    if free[o]:
                        granted[ins.bit_length() - 1] = free[o] << o * V
                    continue
                vcs = free[o]
                while vcs:  # each free VC grants an asking input VC
                    low = vcs & -vcs
                    out = o * V + low.bit_length() - 1
                    c = round_robin(ins, gptr[out])
                    granted[c] = granted.get(c, 0) | 1 << out
                    vcs ^= low
            for c, out in accept(granted, PORTS * V, PORTS * V, gptr, aptr).items():
                free[out // V] &= ~(1 << out % V)
                out_vc[c] = out
                state[c] = ACTIVE
                won.append(c)
        if won:
            stage.batch = won
            stage.new = [] if len(won) == len(new) else [c for c in new if c not in won]

    def _sa_evaluate(self, now: int) -> None:
        """Each input asks for the outputs its new entries with a credit want; per (input,
        output) the VC first in line from the input's `sa_next` gets it. Requests that share
        neither input nor output all win, as iSLIP would grant them, without running it."""
        V, stage, credits, out_vc, out_port = (self.V, self.sw_alloc, self.credits, self.out_vc,
                                               self.out_port)
        used, vc_buf = credits.used, credits.vc_buf
        new = stage.new
        stage.due = now + stage.wait
        if len(new) == 1:  # a lone request wins without arbitration
            c = new[0]
            out = out_vc[c]
            if used[out] < vc_buf or not credits.full(out, now):
                ip, o = c // V, out_port[c]
                self.sa_gptr[o] = (ip + 1) % PORTS
                self.sa_aptr[ip] = (o + 1) % PORTS
                self.sa_next[ip] = (c % V + 1) % V
                stage.batch, stage.new = new, stage.batch
            return
        ready, inputs, outputs = [], 0, 0  # the entries with a credit, their inputs, outputs
        for c in new:
            out = out_vc[c]
            if used[out] < vc_buf or not credits.full(out, now):
                inputs |= 1 << c // V
                outputs |= 1 << out_port[c]
                ready.append(c)
        if not ready:
            return
        gptr, aptr, sa_next = self.sa_gptr, self.sa_aptr, self.sa_next
        if inputs.bit_count() < len(ready) or outputs.bit_count() < len(ready):
            asked: dict[int, int] = {}  # output -> mask of the inputs asking for it
            asking: dict[int, int] = {}  # input * PORTS + output -> mask of VCs
            for c in ready:
                ip, o = c // V, out_port[c]
                asked[o] = asked.get(o, 0) | 1 << ip
                key = ip * PORTS + o
                asking[key] = asking.get(key, 0) | 1 << c % V
            won = []
            for ip, o in islip(asked, PORTS, PORTS, gptr, aptr).items():
                v = round_robin(asking[ip * PORTS + o], sa_next[ip])
                sa_next[ip] = (v + 1) % V
                won.append(ip * V + v)
        else:
            for c in ready:
                ip, o = c // V, out_port[c]
                gptr[o] = (ip + 1) % PORTS
                aptr[ip] = (o + 1) % PORTS
                sa_next[ip] = (c % V + 1) % V
            won = ready
        stage.batch = won
        stage.new = [] if len(won) == len(new) else [c for c in new if c not in won]


class NocCounters:
    """Flits sent on each router output (links and ejection ports)."""

    def __init__(self, nodes: int):
        self.link_flits = [[0] * PORTS for _ in range(nodes)]


class Terminals(_Sleeper):
    """The network interfaces of all nodes: source queues, injection, ejection (BookSim's
    traffic manager). Unbounded source queues; one flit in and one out per node per cycle.
    Each cycle: retire the flits ejected, create the packets due, inject (see `step`)."""

    def __init__(self, env: simpy.Environment, clock: Clock, params: RouterParams,
                 packets: Packets):
        self.p = params
        n, V = params.nodes, params.num_vcs
        # per packet, as in `Records` (Python lists: quicker per item)
        self.created, self.head_injected, self.tail_ejected = [], [], []
        self.flit_latency_sum, self.hops = [], []
        self._grow(len(packets))
        self.queue = [deque() for _ in range(n)]
        self.sources: set[int] = set()  # the nodes with queued packets
        self.next_seq, self.cur_vc, self.last_vc = [0] * n, [0] * n, [-1] * n
        self.in_use = [[False] * V for _ in range(n)]
        self.credits = Credits(n * V, params.vc_buf)  # per injection VC n * V + vc
        self.inject: list[Channel] = [None] * n  # node -> router
        self.credit_back: list[deque] = [None] * (n * V)  # per ejection VC
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
        self.last_created = -1  # creation cycle of the last packet released
        self.group_left = group_counts(packets.group, None)
        self.done: list[int] = []  # groups completed during the current run
        self.stop: Callable[[int], None] | None = None  # called when a group completes
        # not ahead: a run may stop, and packets be added, at any cycle
        super().__init__(env, clock, ahead=False)

    def step(self, now: int) -> bool:
        # the flits ejected now first: BookSim's _Step reads them (ReadFlit) before it creates
        # and injects packets, and the trace fork releases a packet in the cycle the last tail
        # it waits for is read; so such a packet is created, and may inject, now
        arrived = self.inbox.pop(now, None)
        if arrived:
            self._eject(now, arrived)
        pending = self.pending
        while pending and pending[0][0] <= now:  # created: into its source queue
            t, i = heapq.heappop(pending)
            self.created[i] = self.last_created = t
            n = self.src[i]
            self.queue[n].append(i)
            self.sources.add(n)
        if self.sources:
            self._inject(now)
        if self.sources or pending and pending[0][0] == now + 1:
            return True
        if pending:  # wake when the next packet is created, as if something arrived
            self.inbox.setdefault(pending[0][0], [])
        return False

    def _inject(self, now: int) -> None:
        """One flit from the front of each source queue, if its VC has a credit; a head flit
        takes the first VC after the last one used that is free and has a credit."""
        V, credits, queue, next_seq, cur_vc, in_use = (self.p.num_vcs, self.credits, self.queue,
                                                       self.next_seq, self.cur_vc, self.in_use)
        used, vc_buf = credits.used, credits.vc_buf
        for n in sorted(self.sources):
            q = queue[n]
            i, seq = q[0], next_seq[n]
            if seq == 0:
                last, taken = self.last_vc[n], in_use[n]
                for k in range(1, V + 1):
                    vc = 0 if last < 0 else (last + k) % V
                    x = n * V + vc
                    if not taken[vc] and (used[x] < vc_buf or not credits.full(x, now)):
                        break
                else:
                    continue
                taken[vc] = True
                self.last_vc[n] = cur_vc[n] = vc
                self.head_injected[i] = now
                self.in_flight += 1
            else:
                vc = cur_vc[n]
                x = n * V + vc
                if used[x] >= vc_buf and credits.full(x, now):
                    continue
            used[x] += 1
            tail = seq == self.flits[i] - 1
            if tail:
                in_use[n][vc] = False
                q.popleft()
                if not q:
                    self.sources.discard(n)
                next_seq[n] = 0
            else:
                next_seq[n] = seq + 1
            self.inject[n].send(now, Flit(i, tail, self.dst[i], vc, now))

    def _eject(self, now: int, arrived: list[tuple[int, Flit]]) -> None:
        """Take the flits arrived at their destinations, in node order, and return credits."""
        if len(arrived) > 1:
            arrived.sort(key=itemgetter(0))
        V, credit_back, latency_sum = self.p.num_vcs, self.credit_back, self.flit_latency_sum
        self.ejected += len(arrived)
        for n, f in arrived:
            p = f.pkt
            credit_back[n * V + f.vc].append(now)
            latency_sum[p] += now - f.itime
            if not f.tail:
                continue
            self.tail_ejected[p] = now
            self.hops[p] = f.hops - 1
            self.in_flight -= 1
            g = self.group[p]
            if g >= 0:
                self.group_left[g] -= 1
                if self.group_left[g] == 0:
                    self.done.append(g)
                    if self.stop is not None:
                        self.stop(now + 1)
            for d in self.rev[p]:
                self.ready[d] = max(self.ready[d], now)
                self.waiting[d] -= 1
                if not self.waiting[d]:
                    heapq.heappush(self.pending, (self.ready[d], d))

    def add(self, more: Packets) -> None:
        """Offer more dependency-free packets, appended after the existing ones."""
        first = len(self.src)
        self._grow(len(more))
        self.group_left = group_counts(more.group, self.group_left)
        self._columns(more)
        for i, t in enumerate(more.cycle.tolist(), first):
            self.ready.append(t)
            self.waiting.append(0)
            self.rev.append([])
            heapq.heappush(self.pending, (t, i))
        self.inbox.setdefault(self.env.now, [])  # step this cycle, even if idle
        self.wake(self.env.now)

    def _grow(self, n: int) -> None:
        for column, empty in ((self.created, -1), (self.head_injected, -1),
                              (self.tail_ejected, -1), (self.flit_latency_sum, 0), (self.hops, 0)):
            column.extend([empty] * n)

    @property
    def records(self) -> Records:
        return Records(*(np.array(column, dtype=np.int64) for column in (
            self.created, self.head_injected, self.tail_ejected, self.flit_latency_sum)),
            np.array(self.hops, dtype=np.int32))

    def _columns(self, packets: Packets) -> None:
        for column, values in ((self.src, packets.src), (self.dst, packets.dst),
                               (self.flits, packets.flits), (self.group, packets.group)):
            column.extend(np.asarray(values, dtype=np.int64).tolist())


class ProcessMesh:
    """The mesh as SimPy processes: routers, channels and terminals in one Environment."""

    def __init__(self, params: RouterParams, packets: Packets,
                 env: simpy.Environment | None = None):
        self.params, self._log = params, PacketLog(packets)
        self.env = env or simpy.Environment()
        self.counters = NocCounters(params.nodes)
        clock = self.clock = Clock(self.env)
        self.terminals = t = Terminals(self.env, clock, params, packets)
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
        self.clock.limit = until
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
        """Offer more dependency-free packets (appended after the existing ones), created no
        earlier than the ones released."""
        if len(more) and more.cycle.min() < self.terminals.last_created:
            raise ValueError("appended packets must not be created before released ones")
        self._log.append(more)
        self.terminals.add(more)

    @property
    def packets(self) -> Packets:
        """Every packet offered so far."""
        return self._log.packets

    @property
    def records(self) -> Records:
        """Per-packet outcome so far (a copy)."""
        return self.terminals.records

    @property
    def ejected_flits(self) -> int:
        return self.terminals.ejected

    @property
    def link_flits(self) -> list[list[int]]:
        return self.counters.link_flits
