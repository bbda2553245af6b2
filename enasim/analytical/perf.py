"""Closed-form performance model: per-layer latency without contention, energy from event counts.

This is the fast path (`--engine analytical`) and the reference the event engine is checked
against. Per weight layer, in `layer_by_layer` mode:

1. **Receive** its input (and later its residual operands) over an ideal mesh: every message
   takes its own zero-load latency (`enasim.noc.interconnect.zero_load_cycles`), with no
   contention; the phase lasts as long as its slowest message.
2. **Compute** in steps (`enasim.plan`): read, convert, shift-add/accumulate (lag d), write,
   overlapped across steps: n identical steps take r + c + d + w + (n - 1) max(r, c, w).
   Summed over steps, c gives NeuroSim's ADC latency, vectors x input_bits x cols_per_adc /
   speed-up.
3. **Digital layers** it owns (activation, batchnorm, pooling, add) run after it.

Energy is event count x per-event energy, plus chip leakage for the layer's time.
"""

from __future__ import annotations

from enasim.errors import EnasimError
from enasim.kernels.mac_spec import MacActivity
from enasim.mapping import Mapping
from enasim.noc.interconnect import pairs, zero_load_cycles
from enasim.plan import (
    charge_leakage,
    charge_noc,
    charge_once,
    charge_steps,
    new_layer_stats,
    new_stats,
    plan_layer,
)
from enasim.stats import Stats


def run_analytical(mapping: Mapping, activity: dict[str, MacActivity] | None = None,
                   images: int = 1) -> Stats:
    """Latency and energy of `images` inferences of `mapping.network` on `mapping.hw`, back to
    back (each as long as the first: nothing is shared between them); `activity` (per weight
    layer name) makes the ADC energy data-dependent (see `plan_layer`). A chip with
    `timing.accounting: neurosim` gets NeuroSim's serial accounting (`run_neurosim`)."""
    hw = mapping.hw
    if hw.timing.accounting == "neurosim":
        from enasim.analytical.neurosim import run_neurosim

        return run_neurosim(mapping, "analytical", activity, images)
    if hw.execution.mode != "layer_by_layer":
        raise EnasimError(f"the analytical model covers execution.mode 'layer_by_layer' only, "
                          f"not '{hw.execution.mode}'; use the event engine (--engine sim)")
    stats = new_stats("analytical", mapping)
    noc = noc_phases(mapping)
    plans = [plan_layer(lm, hw, (activity or {}).get(lm.name)) for lm in mapping.layers]
    stats.layers = [new_layer_stats(plan) for plan in plans]
    stats.images = images
    now, ends, occupied = 0, [], [0] * len(plans)
    for image in range(images):
        for i, (plan, ls) in enumerate(zip(plans, stats.layers, strict=True)):
            charge_steps(ls, plan, plan.lm.vectors)
            charge_once(ls, plan)
            phases = noc.get(plan.lm.name, {})
            for phase in phases.values():
                charge_noc(ls, hw, phase.router_flits, phase.link_flits)
            noc_cycles = sum(ph.cycles for ph in phases.values())
            full = plan.step_cycles(plan.copies)
            last = plan.step_cycles(plan.rem) if plan.rem else None
            pipeline = step_pipeline(*full, plan.lag, plan.n_full, last)
            adc = plan.n_full * full[1] + (last[1] if last else 0)
            digital = plan.lag + sum(d.cycles() for d in plan.digital)
            latency = noc_cycles + pipeline + sum(d.cycles() for d in plan.digital)
            ls.noc_cycles += noc_cycles
            ls.adc_cycles += adc
            ls.buffer_cycles += pipeline - adc - plan.lag
            ls.digital_cycles += digital
            ls.busy_cycles_per_image = latency - noc_cycles
            if image == 0:
                ls.start_cycle = now
            ls.end_cycle = now + latency
            occupied[i] += latency
            now += latency
        ends.append(now)
    stats.image_end_cycles = tuple(ends)
    for ls, cycles in zip(stats.layers, occupied, strict=True):
        charge_leakage(ls, stats, cycles)
        if images > 1:
            ls.macs, ls.ops, ls.vectors = (x * images for x in (ls.macs, ls.ops, ls.vectors))
    return stats


def step_pipeline(r: int, c: int, w: int, d: int, n: int,
                  last: tuple[int, int, int] | None) -> int:
    """Cycles of n identical read/compute/write steps (lag d before write), then `last`."""
    cr = cc = cw = 0
    if n:
        cr = n * r
        cc = max(r + n * c, n * r + c)
        cw = r + c + d + w + (n - 1) * max(r, c, w)
    if last:
        r2, c2, w2 = last
        cr += r2
        cc = max(cr, cc) + c2
        cw = max(cc + d, cw) + w2
    return cw


class NocPhase:
    """One receive phase of a layer on the ideal mesh: duration and flit traversals."""

    def __init__(self) -> None:
        self.cycles, self.router_flits, self.link_flits = 0, 0.0, 0.0


def noc_phases(mapping: Mapping) -> dict[str, dict[str, NocPhase]]:
    """Per consumer layer and purpose ('input', 'add'): its receive phase on the ideal mesh."""
    out: dict[str, dict[str, NocPhase]] = {}
    for tr in mapping.transfers:
        ms = pairs(mapping, tr)
        ph = out.setdefault(tr.dst, {}).setdefault(tr.purpose, NocPhase())
        routers, links, longest = ms.hop_sums
        ph.cycles = max(ph.cycles, int(zero_load_cycles(mapping.hw.noc, longest, ms.flits)))
        ph.router_flits += float(ms.flits * routers)
        ph.link_flits += float(ms.flits * links)
    return out
