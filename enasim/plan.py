"""LayerPlan: the static work of each weight layer, shared by the analytical model and the engine.

A layer computes in *steps*: in each step its `copies` weight copies work on `copies` different
input vectors (the last step may have fewer; those vectors' mux positions are then shared among
the copies). A step reads its vectors from the tile input buffers (`read` cycles through the
layer's tiles' ports), converts them (`compute` cycles: input_bits x read phases x mux positions
x cycles per conversion), shift-adds and accumulates them (a fixed `lag`) and writes the outputs
(`write` cycles). Event counts and energies scale with the vectors of a step, so both engines
charge exactly the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import ceil, log2

from enasim.config.schema import HardwareConfig
from enasim.cost import (
    cell_read_energy_pj,
    chip_area_um2,
    conversion_energy_pj,
    leakage_uw,
)
from enasim.errors import EnasimError
from enasim.kernels.mac_spec import MacActivity, MacSpec
from enasim.mapping import LayerMap, Mapping
from enasim.stats import LayerStats, Stats
from enasim.workload.ir import Add, Linear, Node, Pool

# Event count of each tile unit (the others count `<unit>_ops`).
UNIT_COUNTS = {"accumulator": "accumulator_ops", "depthwise_unit": "depthwise_macs"}
PER_VECTOR_EVENTS = ("adc_conversions", "input_buffer_read_bits", "output_buffer_write_bits",
                     "output_buffer_read_bits", "accumulator_ops")


@dataclass(frozen=True)
class DigitalStage:
    """A digital layer run by one of the tile's units after (or, pipelined, during) the layer."""

    name: str
    unit: str  # "activation" | "pooling" | "accumulator"
    work: float  # elements processed
    throughput: int  # elements per cycle: the unit's ops_per_cycle x the layer's tiles
    latency: int  # the unit's pipeline cycles
    energy_pj: float

    def cycles(self, share: float = 1.0) -> int:
        """Cycles to process `share` of the work."""
        return ceil(self.work * share / self.throughput) + self.latency


@dataclass(frozen=True)
class LayerPlan:
    lm: LayerMap
    copies: int
    n_full: int  # steps with `copies` vectors
    rem: int  # vectors of the last, smaller step (0: none)
    lag: int  # shift-add + accumulation-tree cycles between compute and write
    rows: int
    out_channels: int
    per_vector_counts: dict[str, float]
    per_vector_energy_pj: dict[str, float]
    rows_at_once: int  # rows driven per read phase (fewer than rows_parallel with partial_rows)
    input_write_bits: float  # the input tensor written into the tile buffers once
    input_write_energy_pj: float
    digital: tuple[DigitalStage, ...]
    hw: HardwareConfig
    images: int = 1  # inputs run back to back as one stream of vectors (a batch)

    def step_cycles(self, v: int) -> tuple[int, int, int]:
        """(read, compute, write) cycles of a step of v vectors."""
        hw, tiles = self.hw, self.lm.tiles
        prec, adc = hw.precision, hw.adc
        r = ceil(v * self.rows * prec.input_bits / (tiles * hw.tile.input_buffer.port_bits))
        phases = ceil(max(self.lm.tiling.block_rows) / self.rows_at_once)
        c = prec.input_bits * phases * ceil(v * adc.cols_per_adc / self.copies)
        w = ceil(v * self.out_channels * prec.output_bits
                 / (tiles * hw.tile.output_buffer.port_bits))
        return r, c * adc.cycles_per_conversion, w

    @cached_property
    def steps(self) -> tuple[int, ...]:
        """Vectors of each step, in order."""
        return (self.copies,) * self.n_full + ((self.rem,) if self.rem else ())


def plan_layer(lm: LayerMap, hw: HardwareConfig, activity: MacActivity | None = None,
               images: int = 1) -> LayerPlan:
    """The layer's static work on `images` inputs (their vectors stream through the crossbars
    as one sequence of steps). With `activity` (what its crossbars measured on real data,
    `enasim.functional.measure_activity`), each conversion's ADC / cell-read energy uses the
    measured mean rows driven in its row block instead of `activity.input_bit_density`."""
    node, t = lm.node, lm.tiling
    if activity is not None:
        _check_activity(lm, hw, activity)
    prec = hw.precision
    c_out = node.weight_cols
    blocks = len(t.block_rows)
    lag = hw.pe.shift_add_cycles + (hw.tile.accumulator.cycles * ceil(log2(blocks))
                                    if blocks > 1 else 0)
    # Each row block's columns convert once per input bit and read phase, per vector.
    density = hw.activity.input_bit_density
    at_once = MacSpec.from_hw(hw).rows_at_once
    conv = adc_pj = cell_pj = 0.0
    for b, rows in enumerate(t.block_rows):
        for p in range(0, rows, at_once):
            active = (activity.block_active_rows[b] if activity is not None
                      else min(at_once, rows - p) * density)
            n = prec.input_bits * t.cols
            conv += n
            adc_pj += n * conversion_energy_pj(hw, active)
            cell_pj += n * cell_read_energy_pj(hw, active)
    ib, ob = hw.tile.input_buffer, hw.tile.output_buffer
    out_bits = c_out * prec.output_bits
    counts = {
        "adc_conversions": conv,
        "input_buffer_read_bits": float(t.rows * prec.input_bits),
        "output_buffer_write_bits": float(out_bits),
        "output_buffer_read_bits": float(out_bits),
        "accumulator_ops": float(c_out * (blocks - 1)),
    }
    energy = {
        "adc": adc_pj,
        "crossbar": cell_pj,
        "shift_add": conv * hw.pe.shift_add_energy_pj,
        "periphery": conv * hw.pe.switch_matrix_energy_pj,
        "buffer": (counts["input_buffer_read_bits"] * ib.read_energy_pj_per_bit
                   + out_bits * (ob.write_energy_pj_per_bit + ob.read_energy_pj_per_bit)),
        "accumulator": counts["accumulator_ops"] * hw.tile.accumulator.energy_pj_per_op,
    }
    c, h, w = node.in_shapes[0]
    in_bits = float(c * h * w * prec.input_bits * images)
    digital = []
    for owned in lm.owned:
        work = _digital_work(owned)
        if work is not None:
            digital.append(digital_stage(owned.name, *work, hw, lm.tiles, images))
    n_full, rem = divmod(lm.vectors * images, t.copies)
    return LayerPlan(lm, t.copies, n_full, rem, lag, t.rows, c_out, counts, energy, at_once,
                     in_bits, in_bits * ib.write_energy_pj_per_bit, tuple(digital), hw, images)


def _check_activity(lm: LayerMap, hw: HardwareConfig, act: MacActivity) -> None:
    """The measured activity must come from this layer's crossbars under this hwconfig."""
    t = lm.tiling
    if (tuple(act.block_rows) != tuple(t.block_rows) or act.columns != t.cols
            or act.groups != t.groups or act.input_bits != hw.precision.input_bits):
        raise EnasimError(f"layer '{lm.name}': measured activity (row blocks "
                          f"{list(act.block_rows)}, {act.columns} columns) does not fit its "
                          f"mapping (row blocks {list(t.block_rows)}, {t.cols} columns)")


def digital_stage(name: str, unit_name: str, work: float, hw: HardwareConfig, tiles: int,
                  images: int = 1) -> DigitalStage:
    """`work` ops per image on the tile unit `unit_name` of `tiles` tiles, for `images`."""
    unit = getattr(hw.tile, unit_name)
    n = work * images
    return DigitalStage(name, unit_name, n, unit.ops_per_cycle * tiles, unit.cycles,
                        n * unit.energy_pj_per_op)


def _digital_work(node: Node) -> tuple[str, float] | None:
    """(tile unit, ops it does) for a digital layer; None for pure data routing. A weight
    layer here is a depthwise conv on the depthwise units (mapping.depthwise digital)."""
    if node.has_weights:
        return "depthwise_unit", float(node.macs)
    out = node.out_shape[0] * node.out_shape[1] * node.out_shape[2]
    if isinstance(node.op, Pool):
        return "pooling", float(out * node.op.window(node.in_shapes[0]))
    if isinstance(node.op, Add):
        return "accumulator", float(out * (len(node.inputs) - 1))
    if node.kind in ("activation", "batchnorm"):
        return "activation", float(out)
    return None  # concat, select: wiring only


def layer_ops(node: Node, hw: HardwareConfig) -> int:
    """2 x MACs, or NeuroSim's IFM-sized count 2*H*W*C_in*K^2*C_out (neurosim_compat)."""
    if hw.neurosim_compat.ifm_ops and not isinstance(node.op, Linear):
        c, h, w = node.in_shapes[0]
        kh, kw = node.kernel
        return 2 * h * w * c * kh * kw * node.out_shape[0]
    return 2 * node.macs


# -- charging a layer's work to Stats (the analytical model and the engine alike) -----------


def new_stats(engine: str, mapping: Mapping) -> Stats:
    hw = mapping.hw
    return Stats(engine, hw.clock_period_ns, [],
                 chip_area_um2(hw, mapping.total_arrays, mapping.total_tiles),
                 leakage_uw(hw, mapping.total_arrays, mapping.total_tiles))


def new_layer_stats(plan: LayerPlan) -> LayerStats:
    """The layer's row, its MACs and ops including those of the depthwise convs it runs on
    its tiles' digital units."""
    lm, hw = plan.lm, plan.hw
    node = lm.node
    counts = dict.fromkeys(("input_buffer_write_bits", *plan.per_vector_counts,
                            "activation_ops", "pooling_ops", "router_flits", "link_flits"), 0.0)
    n = plan.images
    dw = [o for o in lm.owned if o.has_weights]
    macs = node.macs + sum(o.macs for o in dw)
    ops = layer_ops(node, hw) + sum(layer_ops(o, hw) for o in dw)
    return LayerStats(lm.index, lm.name, node.kind, node.in_shapes[0], node.out_shape,
                      macs * n, ops * n, lm.tiles, lm.tiling.arrays * lm.tiling.copies,
                      lm.tiling.copies, lm.vectors * n, lm.utilization(hw), counts=counts)


def charge_steps(ls: LayerStats, plan: LayerPlan, vectors: int) -> None:
    """Crossbar, ADC, shift-add, buffer and accumulation work of `vectors` input vectors."""
    for k, v in plan.per_vector_counts.items():
        ls.counts[k] += v * vectors
    for k, v in plan.per_vector_energy_pj.items():
        ls.energy_pj[k] += v * vectors


def charge_once(ls: LayerStats, plan: LayerPlan) -> None:
    """Work done once per layer: its input tensor written into the tile buffers, and the
    digital layers it owns."""
    ls.counts["input_buffer_write_bits"] += plan.input_write_bits
    ls.energy_pj["buffer"] += plan.input_write_energy_pj
    for d in plan.digital:
        key = UNIT_COUNTS.get(d.unit, f"{d.unit}_ops")
        ls.counts[key] = ls.counts.get(key, 0.0) + d.work
        ls.energy_pj[d.unit] = ls.energy_pj.get(d.unit, 0.0) + d.energy_pj


def charge_noc(ls: LayerStats, hw, router_flits: float, link_flits: float) -> None:
    ls.counts["router_flits"] += router_flits
    ls.counts["link_flits"] += link_flits
    ls.energy_pj["noc"] += (router_flits * hw.noc.router_energy_pj_per_flit
                            + link_flits * hw.noc.link_energy_pj_per_flit)


def leakage_pj(stats: Stats, cycles: float) -> float:
    """The whole chip's leakage over `cycles` (every block stays powered)."""
    return stats.leakage_uw * cycles * stats.clock_period_ns * 1e-3


def charge_leakage(ls: LayerStats, stats: Stats, cycles: float | None = None) -> None:
    """The chip leaks while the layer runs: over its latency, or over `cycles`, its share of
    the run when layers overlap (pipelined)."""
    ls.energy_pj["leakage"] = leakage_pj(stats, ls.latency_cycles if cycles is None else cycles)
