"""Compiled mesh NoC: the process model of `enasim.noc.router`, cycle by cycle in Numba.

Same semantics, same arbitration order, same packets: the two models give identical per-packet
records (tested). State lives in flat integer arrays so the kernel can run long stretches
without returning to Python; `CompiledMesh` wraps them with the process model's API.

Layout (R routers; a VC of a router is addressed by its flat index c = port * V + vc, and VC c
of router r by its global index r * PORTS * V + c; the field names are the constants below):

- `vcs[VC, field]`: VC state (VF fields per VC); OCC describes the *output* VC c, OUT_VC is c's
  allocated output VC, VA_OUT and VA_IN the VC allocator's round-robin pointers;
- `buf[VC, slot, (packet, flit sequence number, injection cycle)]`: input VC buffers;
- `rtr[r, field]`: per router (RF fields): route computation, VC and switch allocation (at
  offsets RQ, VQ, SQ) as bitmasks of input VCs (hence at most COMPILED_MAX_VCS VCs), each with NEW
  queued, CUR the group being evaluated, due in cycle DUE, WIN its allocation winners. BookSim's
  stage queues hold one such group at a time and both allocators are independent of queue
  order, so sets suffice. Also FREE, the bitmask of the output VCs not held by a packet; XLAST,
  the leave cycle of the last switch traversal group; PO, the outputs with flits; per output the
  head and count of its `ob` queue and its flit count; the switch allocator's round-robin
  pointers; the neighbours;
- `ob[r, port, slot, (leave cycle, packet, seq, injection cycle, vc)]`: flits in switch
  traversal or waiting for the link;
- `fch[node, port, slot, (packet, seq, injection cycle, vc)]`, `cch[node, port, slot]` (the
  vc): the flits and credits on their way to input `port` of router `node`; rows R.. are the
  channels to the terminals (ejection, credits for injection). A channel has one sender, which
  sends at most one flit and one credit per cycle with a fixed latency, and its receiver reads
  each in the cycle it is due: so the slot of one due in cycle t is t & (capacity - 1), a time
  wheel;
- `due[node, slot]`: bitmasks of the ports with a flit (bit p) or a credit (bit CR + p) due in
  the cycles of that slot, so a node visits only those ports, and only when due.
- the due sets (`_mark`): per slot, bit sets of the routers and of the terminals with something
  due, and the live set: the routers with work besides arrivals (a stage or an output not
  empty, unless stalled: `_stalled`) and the terminals with packets queued. A cycle visits
  only the nodes in these sets, in node order, so its cost follows the traffic, not the mesh
  (the engine's meshes are large and mostly idle: vgg8 on flash_imc is 14 x 15 nodes).

Three shortcuts keep a router's steps to the cycles that need it, with the same results (the
process model takes every stage in its own cycle; tested equal packet by packet): with 1-cycle
VC allocation after a route computation of a cycle or more, a router allocates VCs for the
next cycle at the end of its step (`_early_va`), so a cycle in which it would only allocate
VCs is not visited; with 1-cycle switch traversal a flit that wins the switch is put on its
link at once, due when it would have arrived (`_depart`; `link_flits` counts it from the cycle
it leaves); credits alone to a router with nothing queued only return its buffer space.

The kernel gets these arrays flattened, with the field strides as constants, and indexes them
with unsigned indices (`_u`): Numba then skips its negative-index wraparound and LLVM folds the
field offsets into the addressing, where a multi-dimensional index costs a multiplication by a
stride and a compare-and-select per dimension.

Allocators walk bitmasks with count-trailing-zeros; `_pick` is a round-robin pick.

Every queue is a ring buffer of power-of-two capacity (index & (capacity - 1)), large enough
never to overflow: the channels are time wheels (above), the others have their (head, count) in
a separate array (`rtr`; BUF_HEAD and BUF_CNT for `buf`). The kernels avoid division (routes,
neighbours and the port of a VC come from tables) and only index arrays owned by their caller
(`_run` gets its scratch arrays too), so every kernel is compiled without reference counting:
Numba would otherwise incref and decref every array argument of every call with atomic
operations, which cost more than the simulation itself. Helpers are inlined into `_run` (Numba
`inline="always"`): calls with dozens of array arguments cost more than their bodies.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from enasim.config.schema import COMPILED_MAX_VCS
from enasim.noc.packets import PacketLog, Packets, Records, group_counts
from enasim.noc.router import LOCAL, PORTS, RouterParams, neighbour

# fields of a VC in `vcs` (VF apart); OUT_VC: the index of a VC within its router (the VC
# allocation result until the VC is ACTIVE); VA_OUT, VA_IN: the VC allocator's round-robin
# pointers of the output VC and of the input VC
BUF_HEAD, BUF_CNT, STATE, OUT_PORT, OUT_VC, OCC, VA_OUT, VA_IN = range(8)
VF = 8
BF = 4  # fields of a `buf` slot: packet, flit sequence number, injection cycle (and a pad)
CF = 5  # fields of an `ob` slot (leave cycle, packet, seq, injection cycle, vc)
FF = 4  # fields of a `fch` slot (packet, seq, injection cycle, vc)
IDLE, ROUTING, VC_ALLOC, ACTIVE = range(4)
# fields of a router in `rtr` (RF apart): pipeline stages route computation, VC and switch
# allocation at offsets RQ, VQ, SQ, each with fields NEW, CUR, WIN, DUE; FREE, XLAST, PO (the
# outputs with flits); per output o: its `ob` queue's head and count at OB_HEAD + 2 * o and
# OB_CNT + 2 * o, the flits it sent at LINK + o; the switch allocator's round-robin pointers of
# output o at SA_OUT + o, of input i at SA_IN + i and over its VCs at SA_VC + i; the neighbour
# on side o (< LOCAL) at NB + o
RQ, VQ, SQ = 0, 4, 8
NEW, CUR, WIN, DUE = range(4)
FREE, XLAST, PO, STALL, OB_HEAD, OB_CNT, LINK, SA_OUT, SA_IN, SA_VC, NB = \
    12, 13, 14, 15, 16, 17, 26, 32, 37, 42, 48
# early VC allocation (`_early_va`): its cycle, its winners (not yet queued for switch
# allocation); per output o at LEAVE + o, the cycle its last flit leaves switch traversal
# when traversal is folded into switch allocation (st_delay 1: `_depart`)
EARLY, SQP, LEAVE = 53, 54, 55
RF = 64
CR = 8  # bit of port 0's credit in `due`
PORT_BITS = (1 << PORTS) - 1
WAKE = 1 << (CR - 1)  # a bit of `due` that only makes its router step
# fields of a terminal in `trm` (TF apart): its source queue (a linked list through
# nxt_in_q), the next flit of its head packet, the VCs it used; per VC v of its router's local
# input, at TV_BUSY + 2 * v and TV_CNT + 2 * v: held by a packet, credits in use
Q_HEAD, Q_TAIL, NEXT_SEQ, CUR_VC, LAST_VC, TV_BUSY, TV_CNT = range(7)
TF = 32
# params; P_BCAP, P_CCAP, P_OCAP: capacity of the `buf`, channel and `ob` rings
P_ROWS, P_COLS, P_V, P_B, P_RD, P_VA, P_SA, P_ST, P_LINK, P_BCAP, P_CCAP, P_OCAP = range(12)
# totals; T_QUEUED: packets released whose tail is still in the source queue
T_INJECTED, T_EJECTED, T_IN_FLIGHT, T_RELEASED, T_QUEUED, T_LAST_BUSY = range(6)

_kernel = njit(cache=True, _nrt=False, inline="always")  # no reference counting (see above)


@_kernel
def _u(i):
    """Index i (>= 0) as unsigned: Numba then drops its negative-index wraparound (a compare and
    select per access) and LLVM folds constant field offsets into the address."""
    return np.uint64(i)


@_kernel
def _pick(mask, s):
    """Round-robin pick: the first set bit of `mask` (nonzero) at or after bit s, cyclically.
    `mask >> s << s` clears the bits below s; if none is left, wrap to the lowest set bit."""
    later = mask >> s << s
    return trailing_zeros(later if later else mask)


@_kernel
def _wrap(i, n):
    """i mod n for 0 <= i < 2n."""
    return i - n if i >= n else i


@_kernel
def _route(xy, here, dst):
    """Dimension-order (X then Y) output port."""
    x, y = xy[_u(2 * here)], xy[_u(2 * here + 1)]
    dx, dy = xy[_u(2 * dst)], xy[_u(2 * dst + 1)]
    if dx > x:
        return 0
    if dx < x:
        return 1
    if dy > y:
        return 2
    if dy < y:
        return 3
    return LOCAL


@_kernel
def _stage_eval(rtr, k, now, delay):
    """Evaluate the stage at rtr[k:]: if no group is in it, the VCs queued since form one, due
    `delay` cycles on (BookSim evaluates nothing while an earlier group is still in the stage).
    Returns the new group (bitmask of input VCs), else 0."""
    g = rtr[_u(k + NEW)]
    if rtr[_u(k + CUR)] or not g:
        return 0
    rtr[_u(k + CUR)] = g
    rtr[_u(k + NEW)] = 0
    rtr[_u(k + WIN)] = 0
    rtr[_u(k + DUE)] = now + delay - 1
    return g


@_kernel
def _traversed(rtr, rb, now, delay):
    """The cycle in which a flit that wins switch allocation now leaves switch traversal (and
    may go out). BookSim's traversal stage handles groups like the stages above: the flits
    queued while a group traverses form the next group once it has left, so a flit joins the
    pending group (leaving at XLAST) if that has not started yet, else starts one after the
    last group has left (or next cycle)."""
    d = max(delay, 1)
    last = rtr[_u(rb + XLAST)]
    if last < now + d:  # the last group has started: a new one
        last = max(last, now) + d
        rtr[_u(rb + XLAST)] = last
    return last


@_kernel
def _stage_due(rtr, k, now):
    """Update the stage at rtr[k:]: its group, which leaves the stage, if its delay has elapsed,
    else 0."""
    g = rtr[_u(k + CUR)]
    if not g or rtr[_u(k + DUE)] > now:
        return 0
    rtr[_u(k + CUR)] = 0
    return g


@_kernel
def _heap_push(hr, hi, hm, ready, idx):
    n = hm[0]
    hr[n] = ready
    hi[n] = idx
    hm[0] = n + 1
    while n > 0:
        parent = (n - 1) >> 1
        if (hr[parent], hi[parent]) <= (hr[n], hi[n]):
            break
        hr[parent], hr[n] = hr[n], hr[parent]
        hi[parent], hi[n] = hi[n], hi[parent]
        n = parent


@_kernel
def _heap_pop(hr, hi, hm):
    n = hm[0] - 1
    hm[0] = n
    hr[0], hi[0] = hr[n], hi[n]
    i = 0
    while True:
        a, b, m = 2 * i + 1, 2 * i + 2, i
        if a < n and (hr[a], hi[a]) < (hr[m], hi[m]):
            m = a
        if b < n and (hr[b], hi[b]) < (hr[m], hi[m]):
            m = b
        if m == i:
            break
        hr[m], hr[i] = hr[i], hr[m]
        hi[m], hi[i] = hi[i], hi[m]
        i = m


@_kernel
def _start_packet(rd, xy, dst, vcs, buf, rtr, r, rb, x, bx, c):
    """The head flit at the front of input VC c (at vcs[x:], its buffer at buf[bx * BF:]) starts
    route computation (or VC allocation directly with lookahead routing, routing_delay 0)."""
    if rd > 0:
        vcs[_u(x + STATE)] = ROUTING
        rtr[_u(rb + RQ + NEW)] |= 1 << c
    else:
        pkt = buf[_u((bx + vcs[_u(x + BUF_HEAD)]) * BF)]
        vcs[_u(x + OUT_PORT)] = _route(xy, r, dst[_u(pkt)])
        vcs[_u(x + STATE)] = VC_ALLOC
        rtr[_u(rb + VQ + NEW)] |= 1 << c


@_kernel
def _mark(ds, R, W, n, s):
    """Note in the due sets that row n (a router, or at n >= R the terminal n - R) has
    something due in the cycles of slot s: `ds` holds per slot a bit set of the routers, then
    one of the terminals, W 32-bit words each, so a cycle visits only the nodes with work."""
    half = 0
    if n >= R:
        n -= R
        half = 1
    ds[_u((2 * s + half) * W + (n >> 5))] |= 1 << (n & 31)


@_kernel
def _send_flit(fch, due, ds, R, W, ccap, n, p, t, pkt, seq, itime, vc):
    """Send a flit to input port p of node n (a router, or at n >= R a terminal), due at t."""
    s = t & (ccap - 1)
    due[_u(n * ccap + s)] |= 1 << p
    _mark(ds, R, W, n, s)
    i = ((n * PORTS + p) * ccap + s) * FF
    fch[_u(i)] = pkt
    fch[_u(i + 1)] = seq
    fch[_u(i + 2)] = itime
    fch[_u(i + 3)] = vc


@_kernel
def _send_credit(cch, due, ds, R, W, ccap, n, p, t, vc):
    """Send a credit for VC vc to port p of node n, due at t."""
    s = t & (ccap - 1)
    due[_u(n * ccap + s)] |= 1 << (CR + p)
    _mark(ds, R, W, n, s)
    cch[_u((n * PORTS + p) * ccap + s)] = vc


@njit(cache=True, _nrt=False, inline="always")
def _vc_alloc(group, V, vcs, vb, free, reqm, gm):
    """iSLIP VC allocation, one iteration, for the input VCs of `group` (bitmask) of the router
    whose VCs start at vcs[vb * VF]: each asks every free VC of its output port (`free`:
    bitmask). Sets OUT_VC of the winners; returns them (bitmask)."""
    PV, vmask = PORTS * V, (1 << V) - 1
    ports = 0  # output ports with requests; reqm[o]: the input VCs asking port o
    m = group
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        o = vcs[_u((vb + c) * VF + OUT_PORT)]
        if free >> (o * V) & vmask:  # only VCs with a free output VC to ask for request
            if not ports >> o & 1:
                ports |= 1 << o
                reqm[_u(o)] = 0
            reqm[_u(o)] |= 1 << c
            gm[_u(c)] = 0  # output VCs of port o granting input VC c (bit j: VC o * V + j)
    win = 0
    while ports:
        o = trailing_zeros(ports)
        ports &= ports - 1
        base, req = o * V, reqm[_u(o)]
        f = free >> base & vmask
        if req & (req - 1) == 0:  # a single requester: every free output VC grants it
            gm[_u(trailing_zeros(req))] = f
        else:
            while f:  # grant: each free output VC picks the next requester after its pointer
                j = trailing_zeros(f)
                f &= f - 1
                gm[_u(_pick(req, vcs[_u((vb + base + j) * VF + VA_OUT)]))] |= 1 << j
        while req:  # accept: each input VC picks the next granting VC after its pointer
            c = trailing_zeros(req)
            req &= req - 1
            g = gm[_u(c)]
            if g:
                x = (vb + c) * VF
                a = vcs[_u(x + VA_IN)] - base  # a pointer over all PV outputs; seen from port
                # o, one pointing outside the port's VCs starts at its first
                out = base + _pick(g, a if 0 <= a < V else 0)
                vcs[_u((vb + out) * VF + VA_OUT)] = _wrap(c + 1, PV)
                vcs[_u(x + VA_IN)] = _wrap(out + 1, PV)
                vcs[_u(x + OUT_VC)] = out
                win |= 1 << c
    return win


@njit(cache=True, _nrt=False, inline="always")
def _sw_alloc(group, V, B, vcs, vb, rtr, rb, port_of, sreq, sin, sgnt, svc):
    """iSLIP switch allocation over ports, one iteration, for the input VCs of `group` whose
    output VC has a credit; an input's VCs asking the same output are served round robin.
    Returns the winners (bitmask of input VCs, at most one per input and per output)."""
    req = ins = outs = clash = 0  # requesting VCs, their inputs and outputs; two share one
    m = group
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        x = (vb + c) * VF
        if vcs[_u((vb + vcs[_u(x + OUT_VC)]) * VF + OCC)] < B:
            ip, o = port_of[_u(c)], vcs[_u(x + OUT_PORT)]
            clash |= (ins >> ip | outs >> o) & 1
            ins |= 1 << ip
            outs |= 1 << o
            req |= 1 << c
    if not clash:  # no two requests share an input or an output: every one wins
        m = req
        while m:
            c = trailing_zeros(m)
            m &= m - 1
            ip, o = port_of[_u(c)], vcs[_u((vb + c) * VF + OUT_PORT)]
            rtr[_u(rb + SA_OUT + o)] = _wrap(ip + 1, PORTS)
            rtr[_u(rb + SA_IN + ip)] = _wrap(o + 1, PORTS)
            rtr[_u(rb + SA_VC + ip)] = _wrap(c - ip * V + 1, V)
        return req
    ins = outs = 0
    m = req
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        ip, o = port_of[_u(c)], vcs[_u((vb + c) * VF + OUT_PORT)]
        if not ins >> ip & 1:
            ins |= 1 << ip
            sreq[_u(ip)] = 0  # outputs requested by input ip
        if not outs >> o & 1:
            outs |= 1 << o
            sin[_u(o)] = 0  # inputs requesting output o
        k = _u(ip * PORTS + o)
        if not sreq[_u(ip)] >> o & 1:
            sreq[_u(ip)] |= 1 << o
            sin[_u(o)] |= 1 << ip
            svc[k] = 0  # VCs of input ip asking output o
        svc[k] |= 1 << (c - ip * V)
    granted = 0  # inputs with a grant; sgnt[i]: the outputs granting input i
    while outs:  # grant: the next requesting input after the output's pointer
        o = trailing_zeros(outs)
        outs &= outs - 1
        i = _pick(sin[_u(o)], rtr[_u(rb + SA_OUT + o)])
        if not granted >> i & 1:
            granted |= 1 << i
            sgnt[_u(i)] = 0
        sgnt[_u(i)] |= 1 << o
    win = 0
    while granted:  # accept: the next granting output after the input's pointer
        i = trailing_zeros(granted)
        granted &= granted - 1
        o = _pick(sgnt[_u(i)], rtr[_u(rb + SA_IN + i)])
        rtr[_u(rb + SA_OUT + o)] = _wrap(i + 1, PORTS)
        rtr[_u(rb + SA_IN + i)] = _wrap(o + 1, PORTS)
        v = _pick(svc[_u(i * PORTS + o)], rtr[_u(rb + SA_VC + i)])
        rtr[_u(rb + SA_VC + i)] = _wrap(v + 1, V)
        win |= 1 << (i * V + v)
    return win


@_kernel
def _queued(rtr, rb):
    """The VCs in a stage and the outputs with flits of the router at rtr[rb:] (bitmasks, OR-ed:
    nonzero when there are any)."""
    return rtr[_u(rb + RQ + NEW)] | rtr[_u(rb + RQ + CUR)] | rtr[_u(rb + VQ + NEW)] | \
        rtr[_u(rb + VQ + CUR)] | rtr[_u(rb + SQ + NEW)] | rtr[_u(rb + SQ + CUR)] | \
        rtr[_u(rb + PO)]


@_kernel
def _idle(rtr, rb):
    """No VC in any stage or awaiting one, no flit at an output: a step would find nothing to
    do but take what arrives."""
    return (_queued(rtr, rb) | rtr[_u(rb + SQP)]) == 0


@_kernel
def _take_vcs(m, vcs, vb, rtr, rb):
    """VC allocation winners (bitmask `m`) take their output VC and become active."""
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        x = (vb + c) * VF
        rtr[_u(rb + FREE)] ^= 1 << vcs[_u(x + OUT_VC)]
        vcs[_u(x + STATE)] = ACTIVE


@_kernel
def _early_va(r, t, V, vcs, vb, rtr, rb, reqm, gm, R, W, ccap, due, ds):
    """VC allocation of cycle t (eval and update, 1-cycle stage) at the end of the router's
    step of cycle t - 1, exact when route computation takes a cycle or more: its group (the
    VCs queued by then: only route computation adds to it, after the evaluation of the
    cycle), the free output VCs and the pointers change only at the router's own VC and
    switch allocation updates, and a winner's output VC is one no packet holds, so t's switch
    allocation update (a tail releasing its VC) touches other bits. The winners join the
    switch allocation queue at t after t's evaluation (`SQP`, merged by the step of t, or by
    the router's next step); the router steps at t + 1 to allocate them the switch, which a
    wake-up in `due` ensures even if nothing else brings it there. A router that has only VC
    allocation to do at t is then not visited at t at all."""
    g = rtr[_u(rb + VQ + NEW)]
    rtr[_u(rb + VQ + NEW)] = 0
    win = _vc_alloc(g, V, vcs, vb, rtr[_u(rb + FREE)], reqm, gm)
    rtr[_u(rb + VQ + NEW)] = g ^ win  # they try again at t + 1
    _take_vcs(win, vcs, vb, rtr, rb)
    rtr[_u(rb + SQP)] = win
    rtr[_u(rb + EARLY)] = t
    if win:
        s = (t + 1) & (ccap - 1)
        due[_u(r * ccap + s)] |= WAKE
        _mark(ds, R, W, r, s)


@_kernel
def _depart(r, o, t, link, R, W, ccap, rtr, rb, due, ds, fch, pkt, seq, itime, vc):
    """A flit leaves router r's output o in cycle t for the next router (or its terminal)."""
    rtr[_u(rb + LINK + o)] += 1
    if o == LOCAL:  # ejection channels live at rows R.. of the channel arrays
        _send_flit(fch, due, ds, R, W, ccap, R + r, LOCAL, t + 2, pkt, seq, itime, vc)
    else:
        _send_flit(fch, due, ds, R, W, ccap, rtr[_u(rb + NB + o)], o ^ 1, t + link + 1, pkt,
                   seq, itime, vc)


@njit(cache=True, _nrt=False, inline="always")
def _router_step(r, now, arrived, par, xy, dst, flits, vcs, buf, rtr, due, fch, cch, ob,
                 scratch):
    """Router r's cycle `now`; `arrived`: its `due` entry of the cycle; `par`: the params as a
    tuple, whose values stay in registers (loads from `prm` would be repeated after every store
    to an array, as LLVM must assume that any two arrays may alias)."""
    reqm, gm, sreq, sin, sgnt, svc, credit, port_of, ds, _ = scratch
    R, V, B = par[P_ROWS] * par[P_COLS], par[P_V], par[P_B]
    W = (R + 31) >> 5
    bcap, ccap, ocap = par[P_BCAP], par[P_CCAP], par[P_OCAP]
    vb, rb = r * PORTS * V, r * RF  # r's first VC, its `rtr` fields
    s = now & (ccap - 1)
    if (arrived & PORT_BITS) == 0 and _idle(rtr, rb):
        # credits alone to a router with nothing queued: they are all that changes
        m = arrived >> CR
        while m:
            o = trailing_zeros(m)
            m &= m - 1
            vcs[_u((vb + o * V + cch[_u((r * PORTS + o) * ccap + s)]) * VF + OCC)] -= 1
        rtr[_u(rb + STALL)] = 1
        return
    # input queuing: flits (port order), then credits
    m = arrived & PORT_BITS
    while m:
        ip = trailing_zeros(m)
        m &= m - 1
        i = ((r * PORTS + ip) * ccap + s) * FF
        c = ip * V + fch[_u(i + 3)]
        x, bx = (vb + c) * VF, (vb + c) * bcap
        cnt = vcs[_u(x + BUF_CNT)]
        j = (bx + ((vcs[_u(x + BUF_HEAD)] + cnt) & (bcap - 1))) * BF
        buf[_u(j)] = fch[_u(i)]
        buf[_u(j + 1)] = fch[_u(i + 1)]
        buf[_u(j + 2)] = fch[_u(i + 2)]
        vcs[_u(x + BUF_CNT)] = cnt + 1
        st = vcs[_u(x + STATE)]
        if st == IDLE:
            _start_packet(par[P_RD], xy, dst, vcs, buf, rtr, r, rb, x, bx, c)
        elif st == ACTIVE and cnt == 0:
            rtr[_u(rb + SQ + NEW)] |= 1 << c
    m = arrived >> CR & PORT_BITS
    while m:
        o = trailing_zeros(m)
        m &= m - 1
        vcs[_u((vb + o * V + cch[_u((r * PORTS + o) * ccap + s)]) * VF + OCC)] -= 1
    # evaluate: route computation, VC allocation, switch allocation
    early = par[P_RD] > 0 and par[P_VA] == 1  # VC allocation runs a cycle ahead (_early_va)
    _stage_eval(rtr, rb + RQ, now, par[P_RD])
    if early:
        if rtr[_u(rb + EARLY)] < now:  # not stepped in the cycle of the early allocation
            rtr[_u(rb + SQ + NEW)] |= rtr[_u(rb + SQP)]
            rtr[_u(rb + SQP)] = 0
    else:
        g = _stage_eval(rtr, rb + VQ, now, par[P_VA])
        if g:
            rtr[_u(rb + VQ + WIN)] = _vc_alloc(g, V, vcs, vb, rtr[_u(rb + FREE)], reqm, gm)
    if par[P_VA] > 1 and rtr[_u(rb + VQ + CUR)] and rtr[_u(rb + VQ + DUE)] <= now:
        w = m = rtr[_u(rb + VQ + WIN)]  # due now: drop the winners whose output VC was taken
        while m:
            c = trailing_zeros(m)
            m &= m - 1
            if not rtr[_u(rb + FREE)] >> vcs[_u((vb + c) * VF + OUT_VC)] & 1:
                w ^= 1 << c
        rtr[_u(rb + VQ + WIN)] = w
    g = _stage_eval(rtr, rb + SQ, now, par[P_SA])
    if g:
        rtr[_u(rb + SQ + WIN)] = _sw_alloc(g, V, B, vcs, vb, rtr, rb, port_of, sreq, sin, sgnt,
                                           svc)
    # route update
    m = _stage_due(rtr, rb + RQ, now)
    rtr[_u(rb + VQ + NEW)] |= m
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        x = (vb + c) * VF
        pkt = buf[_u(((vb + c) * bcap + vcs[_u(x + BUF_HEAD)]) * BF)]
        vcs[_u(x + OUT_PORT)] = _route(xy, r, dst[_u(pkt)])
        vcs[_u(x + STATE)] = VC_ALLOC
    # VC allocation update: winners take their output VC (OUT_VC), the others try again
    if early:
        rtr[_u(rb + SQ + NEW)] |= rtr[_u(rb + SQP)]  # this cycle's, allocated a cycle ahead
        rtr[_u(rb + SQP)] = 0
    else:
        g = _stage_due(rtr, rb + VQ, now)
        m = g & rtr[_u(rb + VQ + WIN)]
        rtr[_u(rb + VQ + NEW)] |= g ^ m
        rtr[_u(rb + SQ + NEW)] |= m
        _take_vcs(m, vcs, vb, rtr, rb)
    # switch allocation update: winners send a flit through switch traversal to their output
    # and a credit back
    credits = 0  # bitmask of the inputs that send a credit, for VC credit[input]
    g = _stage_due(rtr, rb + SQ, now)
    m = g & rtr[_u(rb + SQ + WIN)]
    rtr[_u(rb + SQ + NEW)] |= g ^ m
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        ip = port_of[_u(c)]
        x, bx = (vb + c) * VF, (vb + c) * bcap
        h = vcs[_u(x + BUF_HEAD)]
        j = (bx + h) * BF
        pkt, seq, itime = buf[_u(j)], buf[_u(j + 1)], buf[_u(j + 2)]
        vcs[_u(x + BUF_HEAD)] = (h + 1) & (bcap - 1)
        cnt = vcs[_u(x + BUF_CNT)] - 1
        vcs[_u(x + BUF_CNT)] = cnt
        out = vcs[_u(x + OUT_VC)]
        o = vcs[_u(x + OUT_PORT)]
        tail = seq == flits[_u(pkt)] - 1
        vcs[_u((vb + out) * VF + OCC)] += 1
        if tail:
            rtr[_u(rb + FREE)] |= 1 << out
        if par[P_ST] == 1:  # it leaves next cycle, the output's only flit then: send it now
            rtr[_u(rb + LEAVE + o)] = now + 1
            _depart(r, o, now + 1, par[P_LINK], R, W, ccap, rtr, rb, due, ds, fch, pkt, seq,
                    itime, out - o * V)
        else:
            n = rtr[_u(rb + OB_CNT + 2 * o)]
            j = ((r * PORTS + o) * ocap + ((rtr[_u(rb + OB_HEAD + 2 * o)] + n) & (ocap - 1))) \
                * CF
            ob[_u(j)] = _traversed(rtr, rb, now, par[P_ST])
            ob[_u(j + 1)] = pkt
            ob[_u(j + 2)] = seq
            ob[_u(j + 3)] = itime
            ob[_u(j + 4)] = out - o * V  # downstream VC
            rtr[_u(rb + OB_CNT + 2 * o)] = n + 1
            rtr[_u(rb + PO)] |= 1 << o
        credit[_u(ip)] = c - ip * V
        credits |= 1 << ip
        if cnt == 0:
            if tail:
                vcs[_u(x + STATE)] = IDLE
        elif tail:
            _start_packet(par[P_RD], xy, dst, vcs, buf, rtr, r, rb, x, bx, c)
        else:
            rtr[_u(rb + SQ + NEW)] |= 1 << c
    # write outputs: one traversed flit per output, one credit per input
    m = rtr[_u(rb + PO)]
    while m:
        o = trailing_zeros(m)
        m &= m - 1
        h = rtr[_u(rb + OB_HEAD + 2 * o)]
        j = ((r * PORTS + o) * ocap + h) * CF
        if ob[_u(j)] > now:
            continue
        rtr[_u(rb + OB_HEAD + 2 * o)] = (h + 1) & (ocap - 1)
        n = rtr[_u(rb + OB_CNT + 2 * o)] - 1
        rtr[_u(rb + OB_CNT + 2 * o)] = n
        if n == 0:
            rtr[_u(rb + PO)] ^= 1 << o
        _depart(r, o, now, par[P_LINK], R, W, ccap, rtr, rb, due, ds, fch, ob[_u(j + 1)],
                ob[_u(j + 2)], ob[_u(j + 3)], ob[_u(j + 4)])
    while credits:
        ip = trailing_zeros(credits)
        credits &= credits - 1
        if ip == LOCAL:
            _send_credit(cch, due, ds, R, W, ccap, R + r, LOCAL, now + 2, credit[_u(ip)])
        else:
            _send_credit(cch, due, ds, R, W, ccap, rtr[_u(rb + NB + ip)], ip ^ 1,
                         now + par[P_LINK] + 1, credit[_u(ip)])
    if early and rtr[_u(rb + VQ + NEW)]:
        _early_va(r, now + 1, V, vcs, vb, rtr, rb, reqm, gm, R, W, ccap, due, ds)
    rtr[_u(rb + STALL)] = _stalled(V, B, par[P_VA], par[P_SA], vcs, vb, rtr, rb)


@_kernel
def _busy(r, rtr):
    """Router r has work this cycle besides arrivals: VCs in a stage, flits at its outputs."""
    rb = r * RF
    if rtr[_u(rb + STALL)]:
        return 0
    return _queued(rtr, rb)


@_kernel
def _stalled(V, B, va, sa, vcs, vb, rtr, rb):
    """After its step, router r (VCs at vcs[vb * VF:], fields at rtr[rb:]) can do nothing until
    a flit or a credit arrives: no group in a stage, no flit at an output, and every VC queued
    for VC allocation finds no free output VC at its port and every VC queued for switch
    allocation has no credit. Its steps until then would change nothing (allocators move their
    pointers only for winners), so they are skipped; an arrival steps it again (exact). Only
    with 1-cycle allocation stages (va, sa: their delays): a longer stage holds a group for
    several cycles, and when an arrival comes, where the skipped groups would be matters."""
    if rtr[_u(rb + RQ + NEW)] | rtr[_u(rb + RQ + CUR)] | rtr[_u(rb + VQ + CUR)] | \
            rtr[_u(rb + SQ + CUR)] | rtr[_u(rb + PO)]:
        return 0
    if rtr[_u(rb + VQ + NEW)] and va > 1 or rtr[_u(rb + SQ + NEW)] and sa > 1:
        return 0
    free, vmask = rtr[_u(rb + FREE)], (1 << V) - 1
    m = rtr[_u(rb + VQ + NEW)]
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        if free >> (vcs[_u((vb + c) * VF + OUT_PORT)] * V) & vmask:
            return 0
    m = rtr[_u(rb + SQ + NEW)]
    while m:
        c = trailing_zeros(m)
        m &= m - 1
        if vcs[_u((vb + vcs[_u((vb + c) * VF + OUT_VC)]) * VF + OCC)] < B:
            return 0
    return 1


@_kernel
def _terminal_read(n, now, s, R, W, ccap, flits, group, group_left, done, rev_ptr, rev_idx,
                   waiting, ready, rec, trm, hr, hi, hm, due, ds, fch, cch, totals):
    """Terminal n reads what is due now: a credit, and an ejected flit, which it retires
    (recording a tail's packet, completing its group, readying its dependents now)."""
    tb = n * TF
    ta = due[_u((R + n) * ccap + s)]  # terminal channels live at rows R.. of the channels
    due[_u((R + n) * ccap + s)] = 0
    if ta >> (CR + LOCAL) & 1:
        trm[_u(tb + TV_CNT + 2 * cch[_u(((R + n) * PORTS + LOCAL) * ccap + s)])] -= 1
    if ta >> LOCAL & 1:
        j = (((R + n) * PORTS + LOCAL) * ccap + s) * FF
        i, seq, itime = fch[_u(j)], fch[_u(j + 1)], fch[_u(j + 2)]
        rec[_u(4 * i + 3)] += now - itime
        totals[T_EJECTED] += 1
        totals[T_LAST_BUSY] = now  # its credit is on its way (see the idle skip)
        _send_credit(cch, due, ds, R, W, ccap, n, LOCAL, now + 2, fch[_u(j + 3)])
        if seq == flits[_u(i)] - 1:
            rec[_u(4 * i + 2)] = now
            totals[T_IN_FLIGHT] -= 1
            g = group[_u(i)]
            if g >= 0:
                group_left[g] -= 1
                if group_left[g] == 0:
                    done[0] += 1
                    done[done[0]] = g
            for k in range(rev_ptr[_u(i)], rev_ptr[_u(i + 1)]):
                d = rev_idx[k]
                if now > ready[d]:
                    ready[d] = now
                waiting[d] -= 1
                if waiting[d] == 0:
                    _heap_push(hr, hi, hm, ready[d], d)


@_kernel
def _inject(n, now, V, B, R, W, ccap, flits, nxt_in_q, rec, trm, due, ds, fch, totals):
    """Terminal n injects the next flit of the packet at the front of its source queue, if its
    VC has a credit (a head flit takes the first VC after the last one used that is free and
    has one). Returns whether it is idle until a credit arrives or a packet is queued: its
    queue is now empty, or it found no credit (only a credit changes that)."""
    tb = n * TF
    i = trm[_u(tb + Q_HEAD)]
    seq = trm[_u(tb + NEXT_SEQ)]
    vc = -1
    if seq == 0:
        last = trm[_u(tb + LAST_VC)]
        for k in range(1, V + 1):
            c = 0 if last < 0 else _wrap(last + k, V)
            if trm[_u(tb + TV_BUSY + 2 * c)] == 0 and trm[_u(tb + TV_CNT + 2 * c)] < B:
                vc = c
                break
        if vc >= 0:
            trm[_u(tb + TV_BUSY + 2 * vc)] = 1
            trm[_u(tb + LAST_VC)] = vc
            trm[_u(tb + CUR_VC)] = vc
            rec[_u(4 * i + 1)] = now
            totals[T_IN_FLIGHT] += 1
    elif trm[_u(tb + TV_CNT + 2 * trm[_u(tb + CUR_VC)])] < B:
        vc = trm[_u(tb + CUR_VC)]
    if vc < 0:
        return True
    trm[_u(tb + TV_CNT + 2 * vc)] += 1
    empty = False
    if seq == flits[_u(i)] - 1:  # tail
        trm[_u(tb + TV_BUSY + 2 * vc)] = 0
        trm[_u(tb + Q_HEAD)] = nxt_in_q[_u(i)]
        if nxt_in_q[_u(i)] < 0:
            trm[_u(tb + Q_TAIL)] = -1
            empty = True
        trm[_u(tb + NEXT_SEQ)] = 0
        totals[T_QUEUED] -= 1
    else:
        trm[_u(tb + NEXT_SEQ)] = seq + 1
    totals[T_INJECTED] += 1
    _send_flit(fch, due, ds, R, W, ccap, n, LOCAL, now + 2, i, seq, now, vc)
    return empty


@_kernel
def _run(t0, until, stop, prm, xy, src, dst, flits, cycle, group, group_left, done, order,
         order_pos, rev_ptr, rev_idx, waiting, ready, nxt_in_q, rec, trm, hr, hi, hm, vcs,
         buf, rtr, due, fch, cch, ob, totals, scratch):
    """Simulate cycles t0 .. until-1; with `stop`, return after the first cycle in which a
    group completes. Completed groups go to done[1:done[0]+1]. Returns the next cycle."""
    par = (prm[P_ROWS], prm[P_COLS], prm[P_V], prm[P_B], prm[P_RD], prm[P_VA], prm[P_SA],
           prm[P_ST], prm[P_LINK], prm[P_BCAP], prm[P_CCAP], prm[P_OCAP])  # see _router_step
    R = prm[P_ROWS] * prm[P_COLS]
    V, B, ccap = prm[P_V], prm[P_B], prm[P_CCAP]
    # a flit or credit sent in cycle s is read by cycle s + drain; T_LAST_BUSY: the last cycle
    # a router or an ejecting terminal sent one
    drain = max(prm[P_LINK] + 1, 2)
    # the nodes to visit: the due sets (see _mark), and `live`: the routers with work besides
    # arrivals (W words of bits), then the terminals with packets queued (W words)
    ds, live, W = scratch[8], scratch[9], (R + 31) >> 5
    now = t0
    while now < until:
        if totals[T_IN_FLIGHT] == 0 and totals[T_QUEUED] == 0 and \
                now > totals[T_LAST_BUSY] + drain:
            # nothing in the network and every channel empty: skip to the next release
            nxt = until
            if order_pos[0] < len(order):
                nxt = min(nxt, cycle[order[order_pos[0]]])
            if hm[0] > 0:
                nxt = min(nxt, hr[0])
            if nxt > now:
                now = nxt
                continue
        # the terminals first read what arrived: credits, and the flits ejected, which they
        # retire (BookSim's _Step reads the ejected flits before it creates and injects
        # packets, and the trace fork releases a packet in the cycle the last tail it waits for
        # is read); so a packet whose last dependency arrives now is created, and may inject, now
        s = now & (ccap - 1)
        for w in range(W):
            k = (2 * s + 1) * W + w
            m = ds[_u(k)]
            ds[_u(k)] = 0
            while m:
                n = (w << 5) + trailing_zeros(m)
                m &= m - 1
                _terminal_read(n, now, s, R, W, ccap, flits, group, group_left, done, rev_ptr,
                               rev_idx, waiting, ready, rec, trm, hr, hi, hm, due, ds, fch, cch,
                               totals)
                if trm[_u(n * TF + Q_HEAD)] >= 0:  # a credit may let it inject again
                    live[_u(W + w)] |= 1 << (n & 31)
        # release packets whose creation cycle has come, in (cycle, index) order
        while True:
            a = order[order_pos[0]] if order_pos[0] < len(order) else -1
            if hm[0] > 0 and (a < 0 or (hr[0], hi[0]) < (cycle[a], a)):
                if hr[0] > now:
                    break
                t, i = hr[0], hi[0]
                _heap_pop(hr, hi, hm)
            elif a >= 0 and cycle[a] <= now:
                t, i = cycle[a], a
                order_pos[0] += 1
            else:
                break
            rec[_u(4 * i)] = t
            n = src[_u(i)]
            tb = n * TF
            nxt_in_q[_u(i)] = -1
            if trm[_u(tb + Q_TAIL)] >= 0:
                nxt_in_q[_u(trm[_u(tb + Q_TAIL)])] = i
            else:
                trm[_u(tb + Q_HEAD)] = i
                live[_u(W + (n >> 5))] |= 1 << (n & 31)
            trm[_u(tb + Q_TAIL)] = i
            totals[T_RELEASED] += 1
            totals[T_QUEUED] += 1
        # each node with work, in order: its terminal injects, then its router steps (nothing
        # sent in this cycle arrives in it, so no other node's work changes this cycle's sets)
        for w in range(W):
            k = 2 * s * W + w
            m = ds[_u(k)] | live[_u(w)] | live[_u(W + w)]
            ds[_u(k)] = 0
            while m:
                b = trailing_zeros(m)
                m &= m - 1
                n = (w << 5) + b
                if live[_u(W + w)] >> b & 1 and _inject(n, now, V, B, R, W, ccap, flits,
                                                        nxt_in_q, rec, trm, due, ds, fch,
                                                        totals):
                    live[_u(W + w)] ^= 1 << b  # until a packet or a credit comes
                a = due[_u(n * ccap + s)]
                if a or live[_u(w)] >> b & 1:  # its live bit is `_busy` as of its last step
                    if a:
                        due[_u(n * ccap + s)] = 0
                    _router_step(n, now, a, par, xy, dst, flits, vcs, buf, rtr, due, fch, cch,
                                 ob, scratch)
                    totals[T_LAST_BUSY] = now
                    if _busy(n, rtr):
                        live[_u(w)] |= 1 << b
                    else:
                        live[_u(w)] &= ~(1 << b)
        now += 1
        if stop and done[0] > 0:
            return now
    return now


def _ring(n: int) -> int:
    """Ring buffer capacity for up to n entries: the next power of two."""
    return 1 << (n - 1).bit_length()


class CompiledMesh:
    """The mesh as one Numba kernel; API of `enasim.noc.router.ProcessMesh`."""

    def __init__(self, params: RouterParams, packets: Packets):
        self.params = params
        R, V, B = params.nodes, params.num_vcs, params.vc_buf
        if V > COMPILED_MAX_VCS:
            raise ValueError(f"the compiled mesh supports up to {COMPILED_MAX_VCS} VCs, got {V}; "
                             "use the process model")
        PV = PORTS * V
        ccap = _ring(max(params.link_delay, 1) + 3)
        ocap = _ring(V * B)  # credits bound the flits at an output
        self.prm = np.array([params.rows, params.cols, V, B, params.routing_delay,
                             params.va_delay, params.sa_delay, params.st_delay,
                             params.link_delay, _ring(B), ccap, ocap], dtype=np.int64)
        nodes = np.arange(R)
        self.xy = np.stack([nodes % params.cols, nodes // params.cols], axis=1).ravel()
        self.now = 0
        self.vcs = np.zeros((R, PV, VF), dtype=np.int64)
        self.buf = np.zeros((R, PV, _ring(B), BF), dtype=np.int64)
        self.rtr = np.zeros((R, RF), dtype=np.int64)
        self.rtr[:, FREE] = (1 << PV) - 1  # output VCs not in use
        self.rtr[:, XLAST] = -(1 << 40)  # see _traversed
        self.rtr[:, EARLY] = -(1 << 40)
        self.rtr[:, LEAVE:LEAVE + PORTS] = -(1 << 40)
        self.rtr[:, NB:NB + PORTS - 1] = [[neighbour(params, r, o) for o in range(PORTS - 1)]
                                          for r in range(R)]
        self.due = np.zeros((2 * R, ccap), dtype=np.int64)  # rows R..: the terminals
        self.fch = np.zeros((2 * R, PORTS, ccap, FF), dtype=np.int64)
        self.cch = np.zeros((2 * R, PORTS, ccap), dtype=np.int64)
        self.ob = np.zeros((R, PORTS, ocap, CF), dtype=np.int64)
        self.totals = np.zeros(6, dtype=np.int64)
        self.totals[T_LAST_BUSY] = -(1 << 40)
        self.trm = np.zeros((R, TF), dtype=np.int64)
        self.trm[:, [Q_HEAD, Q_TAIL, LAST_VC]] = -1
        self.order_pos = np.zeros(1, dtype=np.int64)
        self.hm = np.zeros(1, dtype=np.int64)
        # router step scratch (bitmasks): VC allocation requests per port and grants per input
        # VC; switch allocation requests per input, per output, grants per input and VC
        # requests per (input, output); the VC of each input's credit; the port of each VC;
        # the due sets and the live set of `_run`
        W = (R + 31) >> 5
        self.scratch = (np.zeros(PORTS, np.int64), np.zeros(PV, np.int64),
                        *np.zeros((3, PORTS), np.int64), np.zeros(PORTS * PORTS, np.int64),
                        np.zeros(PORTS, np.int64), np.arange(PV, dtype=np.int64) // V,
                        np.zeros(ccap * 2 * W, np.int64), np.zeros(2 * W, np.int64))
        self._log = PacketLog(packets)
        self._first(packets)

    # per-packet columns, grown by doubling as packets are appended: (name, dtype, value of a
    # new packet where `_put` does not copy one from the batch)
    _COLUMNS = (("src", np.int32, 0), ("dst", np.int32, 0), ("flits", np.int32, 1),
                ("cycle", np.int64, 0), ("group", np.int32, -1), ("hops", np.int32, 0),
                ("waiting", np.int64, 0), ("ready", np.int64, 0), ("nxt_in_q", np.int64, -1),
                ("order", np.int64, None))  # (release order: written as packets queue)

    def _first(self, pk: Packets) -> None:
        """Packet arrays for the first batch, which may have dependencies (a trace)."""
        n = len(pk)
        self.n = self.n_order = 0
        self._cap = 0
        self._grow(max(n, 16))
        counts = np.diff(pk.dep_ptr)
        self.rev_ptr = np.zeros(self._cap + 1, dtype=np.int64)  # grown by _grow
        np.cumsum(np.bincount(pk.dep_idx, minlength=n), out=self.rev_ptr[1:n + 1])
        self.rev_ptr[n + 1:] = self.rev_ptr[n]  # appended packets have no dependents
        owners = np.repeat(np.arange(n), counts)
        self.rev_idx = owners[np.argsort(pk.dep_idx, kind="stable")].astype(np.int64)
        self.hr = np.zeros(n + 1, dtype=np.int64)  # the dependents' heap (only these)
        self.hi = np.zeros(n + 1, dtype=np.int64)
        self.group_left = np.zeros(0, dtype=np.int64)  # counted by _put
        self.done = np.zeros(1, dtype=np.int64)  # grown by _put with the groups
        self._put(pk, free=np.flatnonzero(counts == 0))
        self.waiting[:n] = counts

    def _grow(self, need: int) -> None:
        """Room for `need` packets in every per-packet column (doubling)."""
        if need <= self._cap:
            return
        cap, old = max(need, 2 * self._cap), self._cap
        # np.empty: the room past the packets held is written only when `_put` fills it, so
        # growing touches (and page-faults) no memory the run never uses
        for name, dtype, _ in self._COLUMNS:
            col = np.empty(cap, dtype=dtype)
            if old:
                col[:old] = getattr(self, name)
            setattr(self, name, col)
        rec = np.empty((cap, 4), dtype=np.int64)
        if old:
            rec[:old] = self.rec
        self.rec = rec
        if old:  # the dependents' index: appended packets have none
            self.rev_ptr = np.concatenate(
                [self.rev_ptr, np.full(cap - old, self.rev_ptr[-1], dtype=np.int64)])
        self._cap = cap

    def _put(self, pk: Packets, free: np.ndarray) -> None:
        """Store the columns of `pk` after the packets held; queue its `free` packets (local
        indices, no dependencies) for release in (cycle, index) order."""
        first, n = self.n, self.n + len(pk)
        self._grow(n)
        for name, _, fill in self._COLUMNS:
            if name in ("src", "dst", "flits", "cycle", "group"):
                getattr(self, name)[first:n] = getattr(pk, name)
            elif fill is not None:
                getattr(self, name)[first:n] = fill
        self.rec[first:n, :3] = -1  # created, head injected, tail ejected: not yet
        self.rec[first:n, 3] = 0
        self.ready[first:n] = pk.cycle
        cols = self.params.cols
        self.hops[first:n] = (np.abs(pk.src % cols - pk.dst % cols)
                              + np.abs(pk.src // cols - pk.dst // cols))
        self.n = n
        new = (first + free[np.lexsort((free, pk.cycle[free]))]).astype(np.int64)
        pos, k, order, cycle = int(self.order_pos[0]), self.n_order, self.order, self.cycle
        if len(new) and k > pos and cycle[order[k - 1]] > cycle[new[0]]:
            new = np.concatenate([order[pos:k], new])  # merge with the unreleased ones
            new = new[np.lexsort((new, cycle[new]))]
            k = pos
        order[k:k + len(new)] = new
        self.n_order = k + len(new)
        self.group_left = group_counts(pk.group, self.group_left)
        if len(self.done) < len(self.group_left) + 1:
            self.done = np.zeros(len(self.group_left) + 1, dtype=np.int64)

    @property
    def packets(self) -> Packets:
        """Every packet offered so far."""
        return self._log.packets

    def run(self, until: int, stop: bool = False) -> np.ndarray:
        """Simulate every cycle before `until`; with `stop`, only up to the end of the first
        cycle in which a packet group completes. Returns the groups completed."""
        if until <= self.now:
            return np.zeros(0, dtype=np.int64)
        n, done = self.n, self.done
        done[0] = 0
        self.now = _run(self.now, until, stop, self.prm, self.xy, self.src[:n], self.dst[:n],
                        self.flits[:n], self.cycle[:n], self.group[:n], self.group_left, done,
                        self.order[:self.n_order], self.order_pos, self.rev_ptr, self.rev_idx,
                        self.waiting[:n], self.ready[:n], self.nxt_in_q[:n],
                        self.rec[:n].reshape(-1), self.trm.reshape(-1), self.hr, self.hi,
                        self.hm, self.vcs.reshape(-1), self.buf.reshape(-1),
                        self.rtr.reshape(-1), self.due.reshape(-1), self.fch.reshape(-1),
                        self.cch.reshape(-1), self.ob.reshape(-1), self.totals, self.scratch)
        return done[1:done[0] + 1].copy()

    @property
    def records(self) -> Records:
        """Per-packet outcome so far (a copy)."""
        rec, n = self.rec, self.n
        return Records(rec[:n, 0].copy(), rec[:n, 1].copy(), rec[:n, 2].copy(),
                       rec[:n, 3].copy(), np.where(rec[:n, 2] >= 0, self.hops[:n], 0)
                       .astype(np.int32))

    def extend(self, more: Packets) -> None:
        """Offer more dependency-free packets, created no earlier than the ones released."""
        pos = int(self.order_pos[0])
        if len(more) and pos and more.cycle.min() < self.cycle[self.order[pos - 1]]:
            raise ValueError("appended packets must not be created before released ones")
        self._log.append(more)
        self._put(more, free=np.arange(len(more)))

    @property
    def link_flits(self) -> np.ndarray:
        """Flits each router has sent on each output; a flit sent ahead (`_depart` at switch
        allocation) counts from the cycle it leaves."""
        return self.rtr[:, LINK:LINK + PORTS] - (self.rtr[:, LEAVE:LEAVE + PORTS] >= self.now)

    @property
    def ejected_flits(self) -> int:
        return int(self.totals[T_EJECTED])
