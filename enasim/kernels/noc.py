"""Compiled mesh NoC: the process model of `enasim.hw.router`, cycle by cycle in Numba.

Same semantics, same arbitration order, same packets: the two models give identical per-packet
records (tested). State lives in flat integer arrays so the kernel can run long stretches
without returning to Python; `CompiledMesh` wraps them with the process model's API.

Layout (R routers; a VC of a router is addressed by its flat index c = port * V + vc):

- `vcs[r, c, field]`: VC state; IN_USE and OCC describe the *output* VC c;
- `buf[r, c, slot, (packet, flit sequence number, injection cycle)]`: input VC buffers;
- `q[r, stage, slot, (time, port, vc, result)]`: the input VCs waiting in route computation,
  VC allocation and switch allocation (time -1: not evaluated yet), `qm[r, stage, (head, count)]`;
- `xq[r, slot, (time, packet, seq, injection cycle, port, vc)]`: flits in switch traversal;
- `ob[r, port, slot, (packet, seq, injection cycle, vc)]`: traversed flits waiting for the link;
- `fch`/`cch[node, port, slot, ...]`: the flits and credits on their way to input `port` of
  router `node`; rows R.. are the channels to the terminals (ejection, credits for injection);
- `pend[node, (PF, PC, PO)]`: bitmasks of the ports with flits or credits on their way in and
  of the outputs with traversed flits, so a router visits only those ports.

Allocators work on port bitmasks too: `_FIRST[mask, pointer]` is a round-robin pick.

Every queue is a ring buffer of power-of-two capacity (index & (capacity - 1)) with its (head,
count) in a separate array (`qm`, `xm`, `om`, `fm`, `cm`; BUF_HEAD and BUF_CNT for `buf`),
large enough never to overflow. The kernels avoid division (routes and neighbours come from
tables) and only index arrays owned by their caller (`_run` gets its scratch arrays too), so
every kernel is compiled without reference counting: Numba would otherwise incref and decref
every array argument of every call with atomic operations, which cost more than the
simulation itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from enasim.hw.router import LOCAL, PORTS, RouterParams, neighbour
from enasim.noc.packets import Packets, Records, group_counts

# fields of `vcs`
BUF_HEAD, BUF_CNT, STATE, OUT_PORT, OUT_VC, IN_USE, OCC = range(7)  # OUT_VC: flat index
IDLE, ROUTING, VC_ALLOC, ACTIVE = range(4)
STALL = -2
PF, PC, PO = range(3)  # `pend` bitmasks: ports with flits, credits coming in; flits to send
RQ, VQ, SQ = range(3)  # stage queues
# terminal fields
Q_HEAD, Q_TAIL, NEXT_SEQ, CUR_VC, LAST_VC = range(5)
# params
P_ROWS, P_COLS, P_V, P_B, P_RD, P_VA, P_SA, P_ST, P_LINK = range(9)
# totals; T_QUEUED: packets released whose tail is still in the source queue
T_INJECTED, T_EJECTED, T_IN_FLIGHT, T_RELEASED, T_QUEUED, T_LAST_BUSY = range(6)

_kernel = njit(cache=True, _nrt=False)  # no reference counting (see above)


def _first_table(n: int) -> np.ndarray:
    """t[mask, s]: the first set bit of the n-bit `mask` at or after bit s, cyclically: a
    round-robin pick with its pointer at s (-1 for an empty mask)."""
    t = np.full((1 << n, n), -1, dtype=np.int64)
    for mask in range(1, 1 << n):
        for s in range(n):
            t[mask, s] = next((s + k) % n for k in range(n) if mask >> (s + k) % n & 1)
    return t


_FIRST = _first_table(PORTS)  # switch allocation over ports (a compile-time constant)


@_kernel
def _wrap(i, n):
    """i mod n for 0 <= i < 2n."""
    return i - n if i >= n else i


@_kernel
def _rr(d, n):
    """d mod n for -n < d < n: the round-robin distance of a from pointer p, d = a - p."""
    return d + n if d < 0 else d


@_kernel
def _route(xy, here, dst):
    """Dimension-order (X then Y) output port."""
    x, y, dx, dy = xy[here, 0], xy[here, 1], xy[dst, 0], xy[dst, 1]
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
def _q_push(q, qm, r, k, port, vc):
    """Queue input VC (port, vc) for stage k, to be evaluated."""
    i = (qm[r, k, 0] + qm[r, k, 1]) & (q.shape[2] - 1)
    q[r, k, i, 0] = -1
    q[r, k, i, 1] = port
    q[r, k, i, 2] = vc
    q[r, k, i, 3] = -1
    qm[r, k, 1] += 1


@_kernel
def _q_pop_due(q, qm, r, k, now):
    """Pop the head entry of stage queue k if its delay has elapsed: its slot, else -1."""
    if qm[r, k, 1] == 0:
        return -1
    i = qm[r, k, 0]
    t = q[r, k, i, 0]
    if t < 0 or t > now:
        return -1
    qm[r, k, 0] = (i + 1) & (q.shape[2] - 1)
    qm[r, k, 1] -= 1
    return i


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
def _start_packet(prm, xy, dst, vcs, buf, q, qm, r, ip, v):
    """The head flit at the front of VC (ip, v) starts route computation (or VC allocation
    directly with lookahead routing, routing_delay 0)."""
    c = ip * prm[P_V] + v
    if prm[P_RD] > 0:
        vcs[r, c, STATE] = ROUTING
        _q_push(q, qm, r, RQ, ip, v)
    else:
        pkt = buf[r, c, vcs[r, c, BUF_HEAD], 0]
        vcs[r, c, OUT_PORT] = _route(xy, r, dst[pkt])
        vcs[r, c, STATE] = VC_ALLOC
        _q_push(q, qm, r, VQ, ip, v)


@_kernel
def _send_flit(fch, fm, pend, r, p, t, pkt, seq, itime, vc):
    i = (fm[r, p, 0] + fm[r, p, 1]) & (fch.shape[2] - 1)
    pend[r, PF] |= 1 << p
    fch[r, p, i, 0] = t
    fch[r, p, i, 1] = pkt
    fch[r, p, i, 2] = seq
    fch[r, p, i, 3] = itime
    fch[r, p, i, 4] = vc
    fm[r, p, 1] += 1


@_kernel
def _send_credit(cch, cm, pend, r, p, t, vc):
    i = (cm[r, p, 0] + cm[r, p, 1]) & (cch.shape[2] - 1)
    pend[r, PC] |= 1 << p
    cch[r, p, i, 0] = t
    cch[r, p, i, 1] = vc
    cm[r, p, 1] += 1


@njit(cache=True, _nrt=False, inline="always")
def _router_step(r, now, prm, xy, nb, dst, flits, vcs, buf, q, qm, xq, xm, ptr, fch, fm, cch, cm,
                 pend, ob, om, link_flits, scratch):
    req_in, req_port, match, grant, chosen, smatch, credit, sreq, sgnt, sin = scratch
    R, V, B = prm[P_ROWS] * prm[P_COLS], prm[P_V], prm[P_B]
    PV = PORTS * V
    bmask, qmask, xmask = buf.shape[2] - 1, q.shape[2] - 1, xq.shape[1] - 1
    omask, fmask, cmask = ob.shape[2] - 1, fch.shape[2] - 1, cch.shape[2] - 1
    # input queuing: flits (port order), then credits
    m = pend[r, PF]
    while m:
        ip = _FIRST[m, 0]
        m &= m - 1
        h = fm[r, ip, 0]
        if fch[r, ip, h, 0] <= now:
            fm[r, ip, 0] = (h + 1) & fmask
            fm[r, ip, 1] -= 1
            if fm[r, ip, 1] == 0:
                pend[r, PF] ^= 1 << ip
            v = fch[r, ip, h, 4]
            c = ip * V + v
            cnt = vcs[r, c, BUF_CNT]
            slot = (vcs[r, c, BUF_HEAD] + cnt) & bmask
            buf[r, c, slot, 0] = fch[r, ip, h, 1]
            buf[r, c, slot, 1] = fch[r, ip, h, 2]
            buf[r, c, slot, 2] = fch[r, ip, h, 3]
            vcs[r, c, BUF_CNT] = cnt + 1
            st = vcs[r, c, STATE]
            if st == IDLE:
                _start_packet(prm, xy, dst, vcs, buf, q, qm, r, ip, v)
            elif st == ACTIVE and cnt == 0:
                _q_push(q, qm, r, SQ, ip, v)
    m = pend[r, PC]
    while m:
        o = _FIRST[m, 0]
        m &= m - 1
        while cm[r, o, 1] > 0:
            h = cm[r, o, 0]
            if cch[r, o, h, 0] > now:
                break
            vcs[r, o * V + cch[r, o, h, 1], OCC] -= 1
            cm[r, o, 0] = (h + 1) & cmask
            cm[r, o, 1] -= 1
        if cm[r, o, 1] == 0:
            pend[r, PC] ^= 1 << o
    # route evaluate
    for n in range(qm[r, RQ, 1]):
        i = (qm[r, RQ, 0] + n) & qmask
        if q[r, RQ, i, 0] >= 0:
            break
        q[r, RQ, i, 0] = now + prm[P_RD] - 1
    # VC allocation evaluate (iSLIP, one iteration; requests kept sparse)
    nva = qm[r, VQ, 1]
    if nva > 0:
        nr = 0  # requesting input VCs this cycle: req_in[k] asks port req_port[k]
        ports = 0  # bitmask of the ports requested so far, whose grants are reset
        for n in range(nva):
            i = (qm[r, VQ, 0] + n) & qmask
            if q[r, VQ, i, 0] >= 0:
                break
            c = q[r, VQ, i, 1] * V + q[r, VQ, i, 2]
            o = vcs[r, c, OUT_PORT]
            if not ports >> o & 1:
                ports |= 1 << o
                for out in range(o * V, o * V + V):
                    grant[out] = -1
            free = False
            for out in range(o * V, o * V + V):  # grant: each free output VC picks the next
                if vcs[r, out, IN_USE] < 0:      # requester after its pointer
                    free = True
                    g, p = grant[out], ptr[r, out]
                    if g < 0 or _rr(c - p, PV) < _rr(g - p, PV):
                        grant[out] = c
            if free:
                req_in[nr] = c
                req_port[nr] = o
                nr += 1
            else:
                q[r, VQ, i, 3] = STALL
        for k in range(nr):  # accept: each input picks the next granting output after its pointer
            o, c = req_port[k], req_in[k]
            best = -1
            a = ptr[r, PV + c] - o * V  # round robin over all PV outputs, from the port's view
            start = a if 0 <= a < V else 0
            for k in range(V):
                out = o * V + _wrap(start + k, V)
                if grant[out] == c:  # only free output VCs grant
                    best = out
                    break
            match[c] = best
            if best >= 0:
                ptr[r, best] = _wrap(c + 1, PV)
                ptr[r, PV + c] = _wrap(best + 1, PV)
        for n in range(nva):
            i = (qm[r, VQ, 0] + n) & qmask
            if q[r, VQ, i, 0] >= 0:
                break
            q[r, VQ, i, 0] = now + prm[P_VA] - 1
            if q[r, VQ, i, 3] == STALL:
                continue
            m = match[q[r, VQ, i, 1] * V + q[r, VQ, i, 2]]
            q[r, VQ, i, 3] = m if m >= 0 else STALL
        if prm[P_VA] > 1:
            for n in range(nva):
                i = (qm[r, VQ, 0] + n) & qmask
                if q[r, VQ, i, 0] > now:
                    break
                res = q[r, VQ, i, 3]
                if res >= 0 and vcs[r, res, IN_USE] >= 0:
                    q[r, VQ, i, 3] = STALL
    # switch allocation evaluate (iSLIP over ports, one VC per (input, output))
    nsa = qm[r, SQ, 1]
    if nsa > 0:
        for ip in range(PORTS):
            smatch[ip] = -1
            sreq[ip] = 0  # outputs requested by input ip (bitmask)
            sgnt[ip] = 0  # outputs granted to input ip
            sin[ip] = 0  # inputs requesting output ip
        outs = 0  # bitmask of the requested outputs
        for n in range(nsa):
            i = (qm[r, SQ, 0] + n) & qmask
            if q[r, SQ, i, 0] >= 0:
                break
            ip, v = q[r, SQ, i, 1], q[r, SQ, i, 2]
            c = ip * V + v
            if vcs[r, vcs[r, c, OUT_VC], OCC] >= B:
                q[r, SQ, i, 3] = STALL
                continue
            o = vcs[r, c, OUT_PORT]
            off = ptr[r, 2 * PV + 2 * PORTS + ip]
            if not sreq[ip] >> o & 1 or _rr(v - off, V) < _rr(chosen[ip, o] - off, V):
                chosen[ip, o] = v
            sreq[ip] |= 1 << o
            sin[o] |= 1 << ip
            outs |= 1 << o
        if outs:
            while outs:  # grant: the next requesting input after the output's pointer
                o = _FIRST[outs, 0]
                outs &= outs - 1
                sgnt[_FIRST[sin[o], ptr[r, 2 * PV + o]]] |= 1 << o
            for i in range(PORTS):  # accept: the next granting output after the pointer
                if sgnt[i]:
                    o = _FIRST[sgnt[i], ptr[r, 2 * PV + PORTS + i]]
                    smatch[i] = o
                    ptr[r, 2 * PV + o] = _wrap(i + 1, PORTS)
                    ptr[r, 2 * PV + PORTS + i] = _wrap(o + 1, PORTS)
        for n in range(nsa):
            i = (qm[r, SQ, 0] + n) & qmask
            if q[r, SQ, i, 0] >= 0:
                break
            q[r, SQ, i, 0] = now + prm[P_SA] - 1
            if q[r, SQ, i, 3] == STALL:
                continue
            ip, v = q[r, SQ, i, 1], q[r, SQ, i, 2]
            o = smatch[ip]
            if o >= 0 and chosen[ip, o] == v:
                ptr[r, 2 * PV + 2 * PORTS + ip] = _wrap(v + 1, V)
                q[r, SQ, i, 3] = o
            else:
                q[r, SQ, i, 3] = STALL
    # switch traversal evaluate
    for n in range(xm[r, 1]):
        i = (xm[r, 0] + n) & xmask
        if xq[r, i, 0] >= 0:
            break
        xq[r, i, 0] = now + prm[P_ST] - 1
    # route update
    while True:
        i = _q_pop_due(q, qm, r, RQ, now)
        if i < 0:
            break
        ip, v = q[r, RQ, i, 1], q[r, RQ, i, 2]
        c = ip * V + v
        pkt = buf[r, c, vcs[r, c, BUF_HEAD], 0]
        vcs[r, c, OUT_PORT] = _route(xy, r, dst[pkt])
        vcs[r, c, STATE] = VC_ALLOC
        _q_push(q, qm, r, VQ, ip, v)
    # VC allocation update
    while True:
        i = _q_pop_due(q, qm, r, VQ, now)
        if i < 0:
            break
        ip, v, res = q[r, VQ, i, 1], q[r, VQ, i, 2], q[r, VQ, i, 3]
        if res >= 0:
            c = ip * V + v
            vcs[r, res, IN_USE] = c
            vcs[r, c, OUT_VC] = res
            vcs[r, c, STATE] = ACTIVE
            _q_push(q, qm, r, SQ, ip, v)
        else:
            _q_push(q, qm, r, VQ, ip, v)
    # switch allocation update
    credits = 0  # bitmask of the inputs that send a credit, for VC credit[input]
    while True:
        i = _q_pop_due(q, qm, r, SQ, now)
        if i < 0:
            break
        ip, v, o = q[r, SQ, i, 1], q[r, SQ, i, 2], q[r, SQ, i, 3]
        if o < 0:
            _q_push(q, qm, r, SQ, ip, v)
            continue
        c = ip * V + v
        h = vcs[r, c, BUF_HEAD]
        pkt, seq, itime = buf[r, c, h, 0], buf[r, c, h, 1], buf[r, c, h, 2]
        vcs[r, c, BUF_HEAD] = (h + 1) & bmask
        cnt = vcs[r, c, BUF_CNT] - 1
        vcs[r, c, BUF_CNT] = cnt
        out = vcs[r, c, OUT_VC]
        tail = seq == flits[pkt] - 1
        vcs[r, out, OCC] += 1
        if tail:
            vcs[r, out, IN_USE] = -1
        j = (xm[r, 0] + xm[r, 1]) & xmask
        xq[r, j, 0] = -1
        xq[r, j, 1] = pkt
        xq[r, j, 2] = seq
        xq[r, j, 3] = itime
        xq[r, j, 4] = o
        xq[r, j, 5] = out - o * V
        xm[r, 1] += 1
        credit[ip] = v
        credits |= 1 << ip
        if cnt == 0:
            if tail:
                vcs[r, c, STATE] = IDLE
        elif tail:
            _start_packet(prm, xy, dst, vcs, buf, q, qm, r, ip, v)
        else:
            _q_push(q, qm, r, SQ, ip, v)
    # switch traversal update: traversed flits queue at their output
    while xm[r, 1] > 0:
        i = xm[r, 0]
        t = xq[r, i, 0]
        if t < 0 or t > now:
            break
        xm[r, 0] = (i + 1) & xmask
        xm[r, 1] -= 1
        o = xq[r, i, 4]
        j = (om[r, o, 0] + om[r, o, 1]) & omask
        ob[r, o, j, 0] = xq[r, i, 1]  # packet
        ob[r, o, j, 1] = xq[r, i, 2]  # flit sequence number
        ob[r, o, j, 2] = xq[r, i, 3]  # injection cycle
        ob[r, o, j, 3] = xq[r, i, 5]  # downstream VC
        om[r, o, 1] += 1
        pend[r, PO] |= 1 << o
    # write outputs: one flit per output, one credit per input
    m = pend[r, PO]
    while m:
        o = _FIRST[m, 0]
        m &= m - 1
        j = om[r, o, 0]
        om[r, o, 0] = (j + 1) & omask
        om[r, o, 1] -= 1
        if om[r, o, 1] == 0:
            pend[r, PO] ^= 1 << o
        link_flits[r, o] += 1
        if o == LOCAL:  # ejection channels live at rows R.. of the channel arrays
            dest_r, dest_p, lat = R + r, LOCAL, 1
        else:
            dest_r, dest_p, lat = nb[r, o], o ^ 1, prm[P_LINK]
        _send_flit(fch, fm, pend, dest_r, dest_p, now + lat + 1, ob[r, o, j, 0],
                   ob[r, o, j, 1], ob[r, o, j, 2], ob[r, o, j, 3])
    while credits:
        ip = _FIRST[credits, 0]
        credits &= credits - 1
        if ip == LOCAL:
            _send_credit(cch, cm, pend, R + r, LOCAL, now + 2, credit[ip])
        else:
            _send_credit(cch, cm, pend, nb[r, ip], ip ^ 1, now + prm[P_LINK] + 1, credit[ip])


@_kernel
def _busy(r, qm, xm, pend):
    return qm[r, RQ, 1] or qm[r, VQ, 1] or qm[r, SQ, 1] or xm[r, 1] or pend[r, PF] or \
        pend[r, PC] or pend[r, PO]


@_kernel
def _run(t0, until, stop, prm, xy, nb, src, dst, flits, cycle, group, group_left, done, order,
         order_pos, rev_ptr, rev_idx, waiting, ready, nxt_in_q, rec, term, tvc, hr, hi, hm, vcs,
         buf, q, qm, xq, xm, ptr, fch, fm, cch, cm, pend, ob, om, link_flits, totals, scratch):
    """Simulate cycles t0 .. until-1; with `stop`, return after the first cycle in which a
    group completes. Completed groups go to done[1:done[0]+1]. Returns the next cycle."""
    R = prm[P_ROWS] * prm[P_COLS]
    V, B = prm[P_V], prm[P_B]
    fmask, cmask = fch.shape[2] - 1, cch.shape[2] - 1
    # a flit or credit sent in cycle s is read by cycle s + drain
    drain = max(prm[P_LINK] + 1, 2)
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
        # terminals: read ejected flits and credits (kept at rows R.. of the channel arrays)
        for n in range(R):
            if cm[R + n, LOCAL, 1] > 0:
                h = cm[R + n, LOCAL, 0]
                if cch[R + n, LOCAL, h, 0] <= now:
                    tvc[n, cch[R + n, LOCAL, h, 1], 1] -= 1
                    cm[R + n, LOCAL, 0] = (h + 1) & cmask
                    cm[R + n, LOCAL, 1] -= 1
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
            rec[i, 0] = t
            s = src[i]
            nxt_in_q[i] = -1
            if term[s, Q_TAIL] >= 0:
                nxt_in_q[term[s, Q_TAIL]] = i
            else:
                term[s, Q_HEAD] = i
            term[s, Q_TAIL] = i
            totals[T_RELEASED] += 1
            totals[T_QUEUED] += 1
        # inject one flit per node
        for n in range(R):
            i = term[n, Q_HEAD]
            if i < 0:
                continue
            seq = term[n, NEXT_SEQ]
            if seq == 0:
                vc = -1
                last = term[n, LAST_VC]
                for k in range(1, V + 1):
                    c = 0 if last < 0 else _wrap(last + k, V)
                    if tvc[n, c, 0] == 0 and tvc[n, c, 1] < B:
                        vc = c
                        break
                if vc < 0:
                    continue
                tvc[n, vc, 0] = 1
                term[n, LAST_VC] = vc
                term[n, CUR_VC] = vc
                rec[i, 1] = now
                totals[T_IN_FLIGHT] += 1
            else:
                vc = term[n, CUR_VC]
                if tvc[n, vc, 1] >= B:
                    continue
            tail = seq == flits[i] - 1
            tvc[n, vc, 1] += 1
            if tail:
                tvc[n, vc, 0] = 0
                term[n, Q_HEAD] = nxt_in_q[i]
                if nxt_in_q[i] < 0:
                    term[n, Q_TAIL] = -1
                term[n, NEXT_SEQ] = 0
                totals[T_QUEUED] -= 1
            else:
                term[n, NEXT_SEQ] = seq + 1
            totals[T_INJECTED] += 1
            _send_flit(fch, fm, pend, n, LOCAL, now + 2, i, seq, now, vc)
        # retire flits ejected this cycle
        for n in range(R):
            if fm[R + n, LOCAL, 1] == 0:
                continue
            h = fm[R + n, LOCAL, 0]
            if fch[R + n, LOCAL, h, 0] > now:
                continue
            i, seq, itime, vc = fch[R + n, LOCAL, h, 1], fch[R + n, LOCAL, h, 2], \
                fch[R + n, LOCAL, h, 3], fch[R + n, LOCAL, h, 4]
            fm[R + n, LOCAL, 0] = (h + 1) & fmask
            fm[R + n, LOCAL, 1] -= 1
            rec[i, 3] += now - itime
            totals[T_EJECTED] += 1
            _send_credit(cch, cm, pend, n, LOCAL, now + 2, vc)
            if seq == flits[i] - 1:
                rec[i, 2] = now
                totals[T_IN_FLIGHT] -= 1
                g = group[i]
                if g >= 0:
                    group_left[g] -= 1
                    if group_left[g] == 0:
                        done[0] += 1
                        done[done[0]] = g
                for k in range(rev_ptr[i], rev_ptr[i + 1]):
                    d = rev_idx[k]
                    if now + 1 > ready[d]:
                        ready[d] = now + 1
                    waiting[d] -= 1
                    if waiting[d] == 0:
                        _heap_push(hr, hi, hm, ready[d], d)
        for r in range(R):
            if _busy(r, qm, xm, pend):
                _router_step(r, now, prm, xy, nb, dst, flits, vcs, buf, q, qm, xq, xm, ptr, fch,
                             fm, cch, cm, pend, ob, om, link_flits, scratch)
                totals[T_LAST_BUSY] = now
        now += 1
        if stop and done[0] > 0:
            return now
    return now


def _ring(n: int) -> int:
    """Ring buffer capacity for up to n entries: the next power of two."""
    return 1 << (n - 1).bit_length()


class CompiledMesh:
    """The mesh as one Numba kernel; API of `enasim.hw.router.ProcessMesh`."""

    def __init__(self, params: RouterParams, packets: Packets):
        self.params = params
        R, V, B = params.nodes, params.num_vcs, params.vc_buf
        PV = PORTS * V
        self.prm = np.array([params.rows, params.cols, V, B, params.routing_delay,
                             params.va_delay, params.sa_delay, params.st_delay,
                             params.link_delay], dtype=np.int64)
        nodes = np.arange(R)
        self.xy = np.stack([nodes % params.cols, nodes // params.cols], axis=1).astype(np.int64)
        self.nb = np.array([[neighbour(params, r, o) for o in range(PORTS - 1)]
                            for r in range(R)], dtype=np.int64).reshape(R, PORTS - 1)
        self.now = 0
        self.vcs = np.zeros((R, PV, 7), dtype=np.int64)
        self.vcs[:, :, IN_USE] = -1
        self.buf = np.zeros((R, PV, _ring(B), 3), dtype=np.int64)
        self.q = np.zeros((R, 3, _ring(PV * 2 + 4), 4), dtype=np.int64)
        self.qm = np.zeros((R, 3, 2), dtype=np.int64)
        xcap = _ring(PORTS * (params.st_delay + 2))
        self.xq = np.zeros((R, xcap, 6), dtype=np.int64)
        self.xm = np.zeros((R, 2), dtype=np.int64)
        self.ptr = np.zeros((R, 2 * PV + 3 * PORTS), dtype=np.int64)
        ccap = _ring(max(params.link_delay, 1) + 3)
        self.fch = np.zeros((2 * R, PORTS, ccap, 5), dtype=np.int64)  # rows R..: ejection
        self.fm = np.zeros((2 * R, PORTS, 2), dtype=np.int64)
        self.cch = np.zeros((2 * R, PORTS, ccap, 2), dtype=np.int64)  # rows R..: to terminals
        self.cm = np.zeros((2 * R, PORTS, 2), dtype=np.int64)
        self.pend = np.zeros((2 * R, 3), dtype=np.int64)  # rows R..: set, never read
        self.ob = np.zeros((R, PORTS, xcap, 4), dtype=np.int64)
        self.om = np.zeros((R, PORTS, 2), dtype=np.int64)
        self.link_flits_arr = np.zeros((R, PORTS), dtype=np.int64)
        self.totals = np.zeros(6, dtype=np.int64)
        self.totals[T_LAST_BUSY] = -(1 << 40)
        self.term = np.full((R, 5), -1, dtype=np.int64)
        self.term[:, NEXT_SEQ] = 0
        self.tvc = np.zeros((R, V, 2), dtype=np.int64)
        self.order_pos = np.zeros(1, dtype=np.int64)
        self.hm = np.zeros(1, dtype=np.int64)
        # router step scratch: VC allocation requests, match and grants; switch allocation
        # choices, match, credits, requests, grants and requesters (port bitmasks)
        self.scratch = (*np.zeros((4, PV), dtype=np.int64), np.zeros((PORTS, PORTS), np.int64),
                        *np.zeros((5, PORTS), dtype=np.int64))
        self._set_packets(packets)

    def _set_packets(self, pk: Packets, old: int = 0) -> None:
        """Packet arrays for `pk`; the first `old` packets keep their run state."""
        n = len(pk)
        counts = np.diff(pk.dep_ptr)
        free = np.flatnonzero(counts == 0)  # released in (cycle, index) order; others via heap
        order = free[np.lexsort((free, pk.cycle[free]))].astype(np.int64)
        pos = int(self.order_pos[0])
        if old and not np.array_equal(order[:pos], self.order[:pos]):
            raise ValueError("appended packets must not be created before released ones")
        self.packets, self.order = pk, order
        self.src, self.dst, self.flits, self.cycle = pk.src, pk.dst, pk.flits, pk.cycle
        self.group_left = group_counts(pk.group, getattr(self, "group_left", None), old)
        cols = self.params.cols
        self.hops = (np.abs(pk.src % cols - pk.dst % cols)
                     + np.abs(pk.src // cols - pk.dst // cols)).astype(np.int32)
        self.rev_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pk.dep_idx, minlength=n), out=self.rev_ptr[1:])
        owners = np.repeat(np.arange(n), counts)
        self.rev_idx = owners[np.argsort(pk.dep_idx, kind="stable")].astype(np.int64)
        rec = np.full((n, 4), -1, dtype=np.int64)
        rec[:, 3] = 0
        fresh = {"waiting": counts.astype(np.int64), "ready": pk.cycle.astype(np.int64),
                 "nxt_in_q": np.full(n, -1, dtype=np.int64), "rec": rec,
                 "hr": np.zeros(n + 1, dtype=np.int64), "hi": np.zeros(n + 1, dtype=np.int64)}
        for name, arr in fresh.items():
            if old:  # run state of the packets offered before
                prev = getattr(self, name)
                arr[:len(prev)] = prev[:len(arr)]
            setattr(self, name, arr)

    def run(self, until: int, stop: bool = False) -> np.ndarray:
        """Simulate every cycle before `until`; with `stop`, only up to the end of the first
        cycle in which a packet group completes. Returns the groups completed."""
        if until <= self.now:
            return np.zeros(0, dtype=np.int64)
        done = np.zeros(len(self.group_left) + 1, dtype=np.int64)
        self.now = _run(self.now, until, stop, self.prm, self.xy, self.nb, self.src, self.dst,
                        self.flits,
                        self.cycle, self.packets.group, self.group_left, done, self.order,
                        self.order_pos, self.rev_ptr, self.rev_idx, self.waiting, self.ready,
                        self.nxt_in_q, self.rec, self.term, self.tvc, self.hr, self.hi, self.hm,
                        self.vcs, self.buf, self.q, self.qm, self.xq, self.xm, self.ptr, self.fch,
                        self.fm, self.cch, self.cm, self.pend, self.ob, self.om,
                        self.link_flits_arr, self.totals, self.scratch)
        return done[1:done[0] + 1]

    @property
    def records(self) -> Records:
        """Per-packet outcome so far (a copy)."""
        rec = self.rec
        return Records(rec[:, 0].copy(), rec[:, 1].copy(), rec[:, 2].copy(),
                               rec[:, 3].copy(), np.where(rec[:, 2] >= 0, self.hops, 0)
                               .astype(np.int32))

    def extend(self, more: Packets) -> None:
        """Offer more dependency-free packets, created no earlier than the ones offered."""
        self._set_packets(Packets.concat([self.packets, more]), old=len(self.packets))

    @property
    def link_flits(self) -> np.ndarray:
        return self.link_flits_arr

    @property
    def ejected_flits(self) -> int:
        return int(self.totals[T_EJECTED])
