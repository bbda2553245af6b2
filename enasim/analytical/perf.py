"""Closed-form performance model: per-layer latency without contention, energy from event counts.

This is the fast path (`--engine analytical`) and the reference the event engine is checked
against. Per weight layer, in `layer_by_layer` mode:

1. **Receive** its input (and later its residual operands) over an ideal mesh: every message
   takes its own zero-load latency, (D+1)(routing+VA+SA+ST) + D*link + io + (L-1) cycles for
   L flits over D links, with no contention; the phase lasts as long as its slowest message.
   Each producer tile sends an equal share of its layer's contribution to each consumer tile.
2. **Compute** in steps. In each step the layer's copies work on `copies` different input
   vectors (a last, smaller step shares the mux positions of its vectors among the copies):
   read the vectors from the tile input buffers (r cycles through tiles x port_bits), convert
   (c = input_bits x read phases x ceil(v * cols_per_adc / copies) x cycles_per_conversion),
   shift-add and accumulate (fixed lag d), write the outputs (w cycles). Stages overlap across
   steps: n identical steps take r + c + d + w + (n - 1) max(r, c, w) cycles.
   Summed over steps, c gives NeuroSim's ADC latency, vectors x input_bits x cols_per_adc /
   speed-up.
3. **Digital layers** it owns (activation, batchnorm, pooling, add) run after it, each
   ceil(elements / (ops_per_cycle x tiles)) + pipeline cycles.

Energy is event count x per-event energy (cost model), plus chip leakage for the layer's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, log2

import numpy as np

from enasim.config.schema import HardwareConfig
from enasim.cost import cell_read_energy_pj, chip_area_um2, conversion_energy_pj, leakage_uw
from enasim.mapping import LayerMap, Mapping
from enasim.stats import LayerStats, Stats
from enasim.workload.ir import Add, Linear, Node, Pool


def run_analytical(mapping: Mapping) -> Stats:
    """Latency and energy of one inference of `mapping.network` on `mapping.hw`."""
    hw = mapping.hw
    area = chip_area_um2(hw, mapping.total_arrays, mapping.total_tiles)
    leak_uw = leakage_uw(hw, mapping.total_arrays, mapping.total_tiles)
    noc = _noc_phases(mapping)
    layers, now = [], 0
    for lm in mapping.layers:
        ls = _layer(lm, hw)
        phases = noc.get(lm.name, (_NocPhase(), _NocPhase()))
        ls.noc_cycles = sum(ph.cycles for ph in phases)
        ls.counts["router_flits"] = sum(ph.router_flits for ph in phases)
        ls.counts["link_flits"] = sum(ph.link_flits for ph in phases)
        ls.energy_pj["noc"] = (ls.counts["router_flits"] * hw.noc.router_energy_pj_per_flit
                               + ls.counts["link_flits"] * hw.noc.link_energy_pj_per_flit)
        latency = ls.noc_cycles + ls.adc_cycles + ls.buffer_cycles + ls.digital_cycles
        ls.start_cycle, ls.end_cycle = now, now + latency
        ls.energy_pj["leakage"] = leak_uw * latency * hw.clock_period_ns * 1e-3
        now += latency
        layers.append(ls)
    return Stats("analytical", hw.clock_period_ns, layers, area, leak_uw)


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


def _layer(lm: LayerMap, hw: HardwareConfig) -> LayerStats:
    node, t = lm.node, lm.tiling
    xb, prec, adc = hw.crossbar, hw.precision, hw.adc
    ops = _ops(node, hw)
    ls = LayerStats(lm.index, lm.name, node.kind, node.in_shapes[0], node.out_shape, node.macs,
                    ops, lm.tiles, t.arrays * t.copies, t.copies, lm.vectors,
                    lm.utilization(hw))
    phases = ceil(min(t.rows, xb.rows) / xb.rows_parallel)
    c_out = node.weight_cols
    in_port = lm.tiles * hw.tile.input_buffer.port_bits
    out_port = lm.tiles * hw.tile.output_buffer.port_bits

    def step(v: int) -> tuple[int, int, int]:
        r = ceil(v * t.rows * prec.input_bits / in_port)
        c = prec.input_bits * phases * ceil(v * adc.cols_per_adc / t.copies)
        w = ceil(v * c_out * prec.output_bits / out_port)
        return r, c * adc.cycles_per_conversion, w

    n_full, rem = divmod(lm.vectors, t.copies)
    r, c, w = step(t.copies)
    last = step(rem) if rem else None
    blocks = len(t.block_rows)
    lag = hw.pe.shift_add_cycles + (hw.tile.accumulator.cycles * ceil(log2(blocks))
                                    if blocks > 1 else 0)
    pipeline = step_pipeline(r, c, w, lag, n_full, last)
    ls.adc_cycles = n_full * c + (last[1] if last else 0)
    ls.buffer_cycles = pipeline - ls.adc_cycles - lag

    # Crossbar events: each row block's columns convert once per input bit and read phase.
    density = hw.activity.input_bit_density
    conversions = adc_pj = cell_pj = 0.0
    for rows in t.block_rows:
        for p in range(0, rows, xb.rows_parallel):
            active = min(xb.rows_parallel, rows - p) * density
            n = lm.vectors * prec.input_bits * t.cols
            conversions += n
            adc_pj += n * conversion_energy_pj(hw, active)
            cell_pj += n * cell_read_energy_pj(hw, active)
    in_elems = node.in_shapes[0][0] * node.in_shapes[0][1] * node.in_shapes[0][2]
    out_bits = lm.vectors * c_out * prec.output_bits
    counts = {
        "adc_conversions": conversions,
        "input_buffer_write_bits": float(in_elems * prec.input_bits),
        "input_buffer_read_bits": float(lm.vectors * t.rows * prec.input_bits),
        "output_buffer_write_bits": float(out_bits),
        "output_buffer_read_bits": float(out_bits),
        "accumulator_ops": float(lm.vectors * c_out * (blocks - 1)),
        "activation_ops": 0.0,
        "pooling_ops": 0.0,
    }
    digital = lag
    for owned in lm.owned:
        work = _digital_work(owned)
        if work is None:
            continue
        kind, n = work
        counts[f"{kind}_ops"] += n
        unit = getattr(hw.tile, kind)
        digital += ceil(n / (unit.ops_per_cycle * lm.tiles)) + unit.cycles
    ls.digital_cycles = digital
    ls.counts.update(counts)
    tile, e = hw.tile, ls.energy_pj
    e["adc"] = adc_pj
    e["crossbar"] = cell_pj
    e["shift_add"] = conversions * hw.pe.shift_add_energy_pj
    e["periphery"] = conversions * hw.pe.switch_matrix_energy_pj
    e["buffer"] = (counts["input_buffer_write_bits"] * tile.input_buffer.write_energy_pj_per_bit
                   + counts["input_buffer_read_bits"] * tile.input_buffer.read_energy_pj_per_bit
                   + out_bits * (tile.output_buffer.write_energy_pj_per_bit
                                 + tile.output_buffer.read_energy_pj_per_bit))
    for kind in ("accumulator", "activation", "pooling"):
        e[kind] = counts[f"{kind}_ops"] * getattr(tile, kind).energy_pj_per_op
    return ls


def _digital_work(node: Node) -> tuple[str, float] | None:
    """(tile unit, elements it processes) for a digital layer; None for pure data routing."""
    out = node.out_shape[0] * node.out_shape[1] * node.out_shape[2]
    if isinstance(node.op, Pool):
        return "pooling", float(out * node.op.window(node.in_shapes[0]))
    if isinstance(node.op, Add):
        return "accumulator", float(out * (len(node.inputs) - 1))
    if node.kind in ("activation", "batchnorm"):
        return "activation", float(out)
    return None  # concat, select: wiring only


@dataclass
class _NocPhase:
    """One receive phase of a layer: its duration and flit traversals."""

    cycles: int = 0
    router_flits: float = 0.0
    link_flits: float = 0.0


def _noc_phases(mapping: Mapping) -> dict[str, tuple[_NocPhase, _NocPhase]]:
    """Per consumer layer: (input phase, residual-operand phase) on the ideal mesh."""
    hw, noc = mapping.hw, mapping.hw.noc
    per_router = noc.routing_delay + noc.va_delay + noc.sa_delay + noc.st_delay
    nodes = np.asarray(mapping.tile_nodes)
    tiles = {lm.name: nodes[list(lm.tile_ids)] for lm in mapping.layers}
    out: dict[str, tuple[_NocPhase, _NocPhase]] = {}
    for tr in mapping.transfers:
        src, dst = tiles[tr.src], tiles[tr.dst]
        bits = tr.elements * hw.precision.output_bits / (len(src) * len(dst))
        flits = max(1, ceil(bits / noc.flit_bits))
        sy, sx = np.divmod(src, mapping.mesh_cols)
        dy, dx = np.divmod(dst, mapping.mesh_cols)
        d = np.abs(sx[:, None] - dx[None, :]) + np.abs(sy[:, None] - dy[None, :])
        latency = int(((d + 1) * per_router + d * noc.link_delay).max()) + noc.io_cycles + flits - 1
        phases = out.setdefault(tr.dst, (_NocPhase(), _NocPhase()))
        ph = phases[0 if tr.purpose == "input" else 1]
        ph.cycles = max(ph.cycles, latency)
        ph.router_flits += float(flits * (d + 1).sum())
        ph.link_flits += float(flits * d.sum())
    return out


def _ops(node: Node, hw: HardwareConfig) -> int:
    """2 x MACs, or NeuroSim's IFM-sized count 2*H*W*C_in*K^2*C_out (neurosim_compat)."""
    if hw.neurosim_compat.ifm_ops and not isinstance(node.op, Linear):
        c, h, w = node.in_shapes[0]
        kh, kw = node.kernel
        return 2 * h * w * c * kh * kw * node.out_shape[0]
    return 2 * node.macs
