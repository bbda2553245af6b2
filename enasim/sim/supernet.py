"""ENASA's accelerator: a whole supernet preloaded on crossbars, evaluating groups of sub-nets.

`SupernetChip` maps every operator of a supernet once (nothing is rewritten between sub-nets):
dense convs / FC by FLASH's tiling (K*K*C_in rows x C_out*slices columns in R x C arrays),
depthwise convs either packed block-diagonally (floor(R / k^2) channels per array, each channel
its own k^2 rows and slice columns) or on the digital depthwise units of the tiles of the pw
conv that reads them (`enasa.depthwise_mapping`). Operators get whole CEs (ISAAC's IMAs), packed
CE after CE into tiles; with `mapping.duplication: tile` the idle arrays of an operator's CEs
hold weight copies. Per-operator latency and energy come from `enasim.plan` (the same per-step
timing and per-vector energies as the main engine; a batch of images is vectors x images, run
as one step pipeline). Data moves between operators as the main engine's messages (every
producer tile to every consumer tile) at zero-load mesh latency (`IdealInterconnect`'s model).

`run_group` simulates one NAS iteration: a group of sub-nets on a batch of images, in one of
three modes on the same chip:

* `ops`: the OPS unit (`enasim.hw.ops`) schedules all sub-nets at once, and an operator whose
  choices agree with another sub-net's at every layer up to it (same prefix) is computed once,
  its output fanned out;
* `concurrent`: the same scheduler, no sharing (every sub-net computes its own operators);
* `sequential`: one sub-net at a time, one operator at a time (receive input, compute), as the
  main engine's layer-by-layer mode; no OPS.

In the two scheduled modes a finished operator pushes its output into the input buffers of its
consumers' tiles (capacity: the consumer's share of its tiles' input buffers, least recently
delivered evicted first); whatever was evicted is fetched again when the consumer starts.
Digital glue (ReLU, concat, residual add, pooling) is not charged here: it is the same in every
mode and small next to the convolutions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from math import ceil

import numpy as np
import simpy

from enasim.analytical.perf import step_pipeline
from enasim.config.schema import HardwareConfig
from enasim.cost import chip_area_um2, leakage_uw
from enasim.cost.area import COMPONENTS
from enasim.errors import ConfigError
from enasim.hw.ops import Computation, OpsUnit
from enasim.mapping import LayerMap, LayerTiling, MappingError
from enasim.mapping.placement import mesh_shape, place
from enasim.nas.spaces.supernet import Arch, Supernet, SupernetOp
from enasim.noc.interconnect import zero_load_cycles
from enasim.plan import LayerPlan, plan_layer
from enasim.stats import Span
from enasim.workload.ir import Conv2d, Linear, Node

MODES = ("ops", "concurrent", "sequential")
ENERGY_KEYS = (*COMPONENTS, "depthwise_unit", "ops_unit")


@dataclass(frozen=True)
class OpPlacement:
    """One supernet operator on the chip."""

    op: SupernetOp
    digital: bool  # a depthwise conv on the tiles' digital units
    arrays: int  # arrays of one weight copy (0 when digital)
    copies: int
    ces: int  # CEs allocated (0 when digital)
    tile_ids: tuple[int, ...]
    nodes: tuple[int, ...]  # mesh node of each tile
    resource: str  # what one computation occupies: its crossbars or a depthwise unit
    buffer_bits: float  # its share of its tiles' input buffers
    plan: LayerPlan | None  # crossbar timing and energy (None when digital)

    @property
    def busy_arrays(self) -> int:
        """Arrays working while one computation runs (all copies)."""
        return self.arrays * self.copies


@dataclass
class GroupRun:
    """What one simulated NAS iteration (a group on a batch of images) produced."""

    mode: str
    group: tuple[Arch, ...]
    images: int
    clock_period_ns: float
    latency_cycles: int = 0
    energy_pj: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ENERGY_KEYS, 0.0))
    op_instances: int = 0  # operator instances the sub-nets need (one per sub-net and op)
    computations: int = 0  # operator instances actually computed
    conflicts: int = 0
    ranked_conflicts: int = 0
    decisions: int = 0
    ops_busy_cycles: int = 0
    busy_array_cycles: float = 0.0
    total_arrays: int = 0
    busy_depthwise_array_cycles: float = 0.0  # the part spent in packed depthwise convs
    depthwise_arrays: int = 0  # arrays allocated to packed depthwise convs
    intervals: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, arrays
    spans: list[Span] = field(default_factory=list)

    @property
    def shared_ops(self) -> int:
        """Operator instances not computed because another sub-net's identical one was."""
        return self.op_instances - self.computations

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())

    @property
    def energy_per_subnet_pj(self) -> float:
        return self.total_energy_pj / len(self.group)

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_period_ns

    @property
    def subnets_per_s(self) -> float:
        """Sub-net evaluations (each on the whole batch) per second of chip time."""
        return len(self.group) / (self.latency_ns * 1e-9) if self.latency_cycles else 0.0

    @property
    def utilization(self) -> float:
        """Crossbar time utilisation: busy array-cycles / (all arrays x run cycles)."""
        if not self.latency_cycles or not self.total_arrays:
            return 0.0
        return self.busy_array_cycles / (self.total_arrays * self.latency_cycles)

    @property
    def utilization_depthwise(self) -> float:
        """Time utilisation of the arrays holding packed depthwise convs (0 if none)."""
        if not self.latency_cycles or not self.depthwise_arrays:
            return 0.0
        return self.busy_depthwise_array_cycles / (self.depthwise_arrays * self.latency_cycles)

    @property
    def utilization_dense(self) -> float:
        """Time utilisation of the arrays holding conv / pw conv / FC weights."""
        arrays = self.total_arrays - self.depthwise_arrays
        if not self.latency_cycles or not arrays:
            return 0.0
        busy = self.busy_array_cycles - self.busy_depthwise_array_cycles
        return busy / (arrays * self.latency_cycles)

    def utilization_curve(self, bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """(bin start cycles, fraction of all arrays busy in each bin)."""
        edges = np.linspace(0, max(self.latency_cycles, 1), bins + 1)
        busy = np.zeros(bins)
        for start, end, arrays in self.intervals:
            lo = np.clip(edges[:-1], start, end)
            hi = np.clip(edges[1:], start, end)
            busy += (hi - lo) * arrays
        width = np.diff(edges)
        return edges[:-1], busy / (width * max(self.total_arrays, 1))


class SupernetChip:
    """Every operator of `net` preloaded on the chip `hw` (see the module docstring)."""

    def __init__(self, net: Supernet, hw: HardwareConfig, depthwise: str | None = None):
        self.net, self.hw = net, hw
        self.depthwise = depthwise or hw.enasa.depthwise_mapping
        if self.depthwise not in ("packed", "digital"):
            raise ConfigError("", "depthwise", f"expected 'packed' or 'digital', got "
                              f"{self.depthwise!r}")
        self.placements = self._place()
        self._transfers: dict[tuple, tuple[int, float]] = {}
        self._costs: dict[tuple[str, int], tuple[int, dict[str, float]]] = {}

    # -- mapping ----------------------------------------------------------------------------

    def _place(self) -> dict[str, OpPlacement]:
        hw, xb = self.hw, self.hw.crossbar
        per_ce, ces_per_tile = hw.ce.pes_per_ce, hw.tile.ces_per_tile
        if not isinstance(per_ce, int) or not isinstance(ces_per_tile, int):
            raise ConfigError(hw.name, "ce.pes_per_ce", "the supernet chip needs integer "
                              "ce.pes_per_ce and tile.ces_per_tile (not 'auto')")
        dense: list[tuple[SupernetOp, LayerTiling, int]] = []
        ce = 0
        for op in self.net.all_ops:
            if op.kind == "dwconv" and self.depthwise == "digital":
                continue
            node = _node(op)
            block_rows, cols, arrays = self._tiling_shape(op)
            ces = -(-arrays // per_ce)
            copies = 1
            if hw.mapping.duplication == "tile":
                useful = node.input_vectors() * hw.adc.cols_per_adc
                copies = max(1, min(ces * per_ce // arrays, useful))
            rows = op.k**2 * op.c_in  # unrolled rows; a packed dw's channels each own k^2
            tiling = LayerTiling(rows, cols, block_rows, -(-cols // xb.cols), arrays, copies,
                                 0, per_ce * ces, "dw_packed" if op.kind == "dwconv" else "flash")
            dense.append((op, tiling, ce))
            ce += ces
        self.total_ces = ce
        self.total_tiles = -(-ce // ces_per_tile)
        rows, cols = mesh_shape(self.total_tiles, hw.noc.mesh_rows, hw.noc.mesh_cols)
        if self.total_tiles > rows * cols:
            raise MappingError(f"supernet '{self.net.name}' needs {self.total_tiles} tiles "
                               f"({self.total_ces} CEs) but {hw.name} has {rows}x{cols} "
                               f"(noc.mesh_rows x noc.mesh_cols); enlarge the mesh or use 'auto'")
        self.mesh_rows, self.mesh_cols = rows, cols
        tile_nodes = place(self.total_tiles, cols, hw.mapping.placement)
        in_buf = hw.tile.input_buffer.capacity_bits
        out: dict[str, OpPlacement] = {}
        for index, (op, tiling, first) in enumerate(dense, start=1):
            ces = tiling.arrays_per_tile // per_ce
            tiles = tuple(range(first // ces_per_tile, (first + ces - 1) // ces_per_tile + 1))
            tiling = LayerTiling(tiling.rows, tiling.cols, tiling.block_rows, tiling.col_blocks,
                                 tiling.arrays, tiling.copies, len(tiles),
                                 tiling.arrays_per_tile, tiling.style)
            node = _node(op)
            lm = LayerMap(index, node, tiling, node.input_vectors(), tiles, ())
            out[op.key] = OpPlacement(op, False, tiling.arrays, tiling.copies, ces, tiles,
                                      tuple(tile_nodes[t] for t in tiles), op.key,
                                      in_buf * ces / ces_per_tile, plan_layer(lm, hw))
        if self.depthwise == "digital":
            for b in (*self.net.pre, *(b for layer in self.net.layers for b in layer),
                      *self.net.post):
                for i, op in enumerate(b.ops):
                    if op.kind != "dwconv":
                        continue
                    reader = next((b.ops[j] for j, after in enumerate(b.after) if i in after),
                                  None)
                    if reader is None or reader.key not in out:
                        raise MappingError(f"depthwise op '{op.key}' has no crossbar op reading "
                                           f"it in its block; use depthwise_mapping 'packed'")
                    host = out[reader.key]
                    out[op.key] = OpPlacement(op, True, 0, 1, 0, host.tile_ids, host.nodes,
                                              f"dw@{reader.key}", host.buffer_bits, None)
        return {op.key: out[op.key] for op in self.net.all_ops}

    def _tiling_shape(self, op: SupernetOp) -> tuple[tuple[int, ...], int, int]:
        """(rows per row block, physical columns, arrays) of one weight copy."""
        R, C = self.hw.crossbar.rows, self.hw.crossbar.cols
        slices = self.hw.weight_slices
        if op.kind == "dwconv":
            kk = op.k**2
            per_array = min(R // kk, C // slices)
            if per_array < 1:
                raise MappingError(f"depthwise op '{op.key}': a {op.k}x{op.k} kernel needs "
                                   f"{kk} rows, the arrays have {R}; use depthwise_mapping "
                                   f"'digital'")
            return (kk,), op.c_out * slices, -(-op.c_out // per_array)
        rows = op.k**2 * op.c_in
        cols = op.c_out * slices
        block_rows = tuple(min(R, rows - i) for i in range(0, rows, R))
        return block_rows, cols, len(block_rows) * -(-cols // C)

    # -- static figures ---------------------------------------------------------------------

    @cached_property
    def total_arrays(self) -> int:
        return self.total_ces * self.hw.ce.pes_per_ce

    @cached_property
    def depthwise_arrays(self) -> int:
        """Arrays allocated to depthwise convs (0 when they run on digital units)."""
        return sum(p.ces for p in self.placements.values()
                   if p.op.kind == "dwconv" and not p.digital) * self.hw.ce.pes_per_ce

    def memory_utilization(self, kinds: tuple[str, ...] | None = None) -> float:
        """Cells holding weights (all copies) / cells of the arrays allocated, over the
        operators of `kinds` (None: all) that sit on crossbars."""
        cells = self.hw.crossbar.rows * self.hw.crossbar.cols
        used = alloc = 0
        for p in self.placements.values():
            if p.digital or (kinds is not None and p.op.kind not in kinds):
                continue
            used += p.op.weights * self.hw.weight_slices * p.copies
            alloc += p.ces * self.hw.ce.pes_per_ce * cells
        return used / alloc if alloc else 0.0

    @cached_property
    def area_um2(self) -> dict[str, float]:
        area = chip_area_um2(self.hw, self.total_arrays, self.total_tiles)
        area["depthwise_unit"] = (self.hw.enasa.dw_area_um2 * self.total_tiles
                                  if self.depthwise == "digital" else 0.0)
        area["ops_unit"] = self.hw.enasa.ops_area_um2
        return area

    @cached_property
    def leakage_uw(self) -> float:
        return leakage_uw(self.hw, self.total_arrays, self.total_tiles)

    def summary(self) -> dict:
        dense = ("conv", "pwconv", "linear")
        return {"supernet": self.net.name, "depthwise_mapping": self.depthwise,
                "weights": self.net.total_weights, "operators": len(self.placements),
                "tiles": self.total_tiles, "ces": self.total_ces, "arrays": self.total_arrays,
                "mesh": [self.mesh_rows, self.mesh_cols],
                "area_mm2": sum(self.area_um2.values()) / 1e6,
                "memory_utilization": self.memory_utilization(),
                "memory_utilization_dense": self.memory_utilization(dense),
                "memory_utilization_depthwise": self.memory_utilization(("dwconv",))}

    # -- costs ------------------------------------------------------------------------------

    def op_cost(self, key: str, images: int) -> tuple[int, dict[str, float]]:
        """(cycles, energy by component) of one computation of operator `key` on a batch."""
        hit = self._costs.get((key, images))
        if hit is not None:
            return hit
        p, hw = self.placements[key], self.hw
        op, prec = p.op, hw.precision
        in_bits = op.c_in * op.h_in * op.w_in * prec.input_bits * images
        out_bits = op.c_out * op.h_out * op.w_out * prec.output_bits * images
        energy = dict.fromkeys(ENERGY_KEYS, 0.0)
        if p.digital:
            e = hw.enasa
            cycles = ceil(op.macs * images / (e.dw_macs_per_cycle * len(p.tile_ids))) \
                + e.dw_cycles
            energy["depthwise_unit"] = op.macs * images * e.dw_energy_pj_per_mac
            energy["buffer"] = (in_bits * hw.tile.input_buffer.read_energy_pj_per_bit
                                + out_bits * hw.tile.output_buffer.write_energy_pj_per_bit)
        else:
            plan = p.plan
            vectors = plan.lm.vectors * images
            n_full, rem = divmod(vectors, plan.copies)
            last = plan.step_cycles(rem) if rem else None
            cycles = step_pipeline(*plan.step_cycles(plan.copies), plan.lag, n_full, last)
            for k, v in plan.per_vector_energy_pj.items():
                energy[k] += v * vectors
            energy["buffer"] += plan.input_write_energy_pj * images
        self._costs[(key, images)] = (cycles, energy)
        return cycles, energy

    def transfer(self, sources: tuple[str, ...], key: str, bits: float) -> tuple[int, float]:
        """(zero-load cycles, NoC energy pJ) of moving `bits` from the tiles of `sources` to
        the tiles of operator `key`: every source tile sends an equal share to every tile."""
        if not sources or bits <= 0:
            return 0, 0.0
        cache_key = (sources, key, bits)
        hit = self._transfers.get(cache_key)
        if hit is not None:
            return hit
        src = np.array(sorted({n for s in sources for n in self.placements[s].nodes}))
        dst = np.array(sorted(set(self.placements[key].nodes)))
        s, d = np.repeat(src, len(dst)), np.tile(dst, len(src))
        hops = np.abs(s % self.mesh_cols - d % self.mesh_cols) \
            + np.abs(s // self.mesh_cols - d // self.mesh_cols)
        noc = self.hw.noc
        flits = max(1, ceil(bits / (len(s) * noc.flit_bits)))
        cycles = int(zero_load_cycles(noc, hops, flits).max())
        energy = flits * float((hops + 1).sum() * noc.router_energy_pj_per_flit
                               + hops.sum() * noc.link_energy_pj_per_flit)
        self._transfers[cache_key] = (cycles, energy)
        return cycles, energy


def _node(op: SupernetOp) -> Node:
    """The operator as an IR node (for the mapping and plan code)."""
    if op.kind == "linear":
        return Node(op.key, Linear(op.c_out, op.bias), ("x",), ((op.c_in, 1, 1),),
                    (op.c_out, 1, 1))
    return Node(op.key, Conv2d(op.c_out, (op.k, op.k), op.stride, op.pad, op.groups),
                ("x",), ((op.c_in, op.h_in, op.w_in),), (op.c_out, op.h_out, op.w_out))


# -- one NAS iteration -------------------------------------------------------------------------


def build_computations(chip: SupernetChip, group: tuple[Arch, ...], share: bool,
                       images: int) -> tuple[list[Computation], int]:
    """The operator instances of a group (deduplicated by input prefix when `share`), wired
    to their predecessors; also the instances the sub-nets need without sharing."""
    net = chip.net
    comps: list[Computation] = []
    ident: dict[tuple, Computation] = {}
    needed = 0
    bits_per = chip.hw.precision.input_bits * images
    pre = len(net.pre)
    for s, arch in enumerate(group):
        prev_sinks: list[Computation] = []
        prev_keys: tuple[str, ...] = ()
        for pos, block in enumerate(net.blocks(arch)):
            layer = pos - pre
            if layer < 0:
                prefix: tuple = ()
            elif layer < net.num_layers:
                prefix = arch[:layer + 1]
            else:
                prefix = ("head", *arch)
            tag = prefix if share else (s, prefix)
            local: list[Computation] = []
            for i, (op, after) in enumerate(zip(block.ops, block.after, strict=True)):
                needed += 1
                key = (pos, i, tag)
                c = ident.get(key)
                if c is not None:
                    c.subnets = (*c.subnets, s)
                    local.append(c)
                    continue
                preds = [local[j] for j in after] if after else prev_sinks
                sources = tuple(block.ops[j].key for j in after) if after else prev_keys
                c = Computation(len(comps), op.key, chip.placements[op.key].resource, pos, (s,),
                                op.c_in * op.h_in * op.w_in * bits_per, sources, len(preds))
                for p in preds:
                    p.successors.append(c.index)
                ident[key] = c
                comps.append(c)
                local.append(c)
            read = {j for after in block.after for j in after}
            sinks = [i for i in range(len(block.ops)) if i not in read]
            prev_sinks = [local[i] for i in sinks]
            prev_keys = tuple(block.ops[i].key for i in sinks)
    return comps, needed


def run_group(chip: SupernetChip, group: tuple[Arch, ...] | list[Arch], mode: str = "ops",
              images: int = 1, trace: bool = False) -> GroupRun:
    """Simulate one NAS iteration: every sub-net of `group` on `images` images."""
    if mode not in MODES:
        raise ConfigError("", "mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise ConfigError("", "images", f"expected an integer >= 1, got {images!r}")
    group = tuple(chip.net.check_arch(a) for a in group)
    if not group:
        raise ConfigError("", "group", "expected at least one sub-net")
    comps, needed = build_computations(chip, group, mode == "ops", images)
    run = GroupRun(mode, group, images, chip.hw.clock_period_ns, op_instances=needed,
                   computations=len(comps), total_arrays=chip.total_arrays,
                   depthwise_arrays=chip.depthwise_arrays)
    env = simpy.Environment()
    spans = run.spans if trace else None
    if mode == "sequential":
        env.process(_sequential(env, chip, comps, run, images, spans))
    else:
        _Scheduled(env, chip, comps, run, images, spans).start()
    env.run()
    run.latency_cycles = int(env.now)
    run.energy_pj["leakage"] = chip.leakage_uw * run.latency_ns * 1e-3
    return run


def _charge(run: GroupRun, energy: dict[str, float]) -> None:
    for k, v in energy.items():
        run.energy_pj[k] += v


def _computed(chip: SupernetChip, run: GroupRun, c: Computation, start: int, end: int,
              spans: list[Span] | None) -> None:
    """Book-keeping of a finished computation: busy arrays and its timeline span."""
    p = chip.placements[c.key]
    c.start_cycle, c.end_cycle = start, end
    if p.busy_arrays:
        run.busy_array_cycles += p.busy_arrays * (end - start)
        if p.op.kind == "dwconv":
            run.busy_depthwise_array_cycles += p.busy_arrays * (end - start)
        run.intervals.append((start, end, p.busy_arrays))
    if spans is not None:
        track = f"tile {p.tile_ids[0]} {p.resource}"
        spans.append(Span("tiles", track, f"{c.key} s{','.join(map(str, c.subnets))}",
                          start, end, c.block))


def _sequential(env, chip: SupernetChip, comps: list[Computation], run: GroupRun, images: int,
                spans):
    """Process: one sub-net at a time, one operator at a time (receive, then compute)."""
    for c in comps:  # built sub-net after sub-net, each in topological order
        start = env.now
        cycles, energy = chip.op_cost(c.key, images)
        fetch, noc_pj = chip.transfer(c.sources, c.key, c.input_bits)
        _charge(run, energy)
        run.energy_pj["noc"] += noc_pj
        yield env.timeout(fetch + cycles)
        _computed(chip, run, c, start + fetch, env.now, spans)


class _Scheduled:
    """The `ops` and `concurrent` modes: the OPS unit dispatches; outputs are pushed."""

    def __init__(self, env, chip: SupernetChip, comps: list[Computation], run: GroupRun,
                 images: int, spans):
        self.env, self.chip, self.comps, self.run, self.images = env, chip, comps, run, images
        self.spans = spans
        # per resource: computation index -> input bits resident in its tile buffers (LRU)
        self.resident_bits: dict[str, OrderedDict[int, float]] = {}
        self.ops = OpsUnit(env, chip.hw.enasa, comps, self.execute, self.resident_fraction,
                           spans)

    def start(self) -> None:
        self.env.process(self._finish(self.env.process(self.ops.run())))
        for c in self.comps:
            if c.pending == 0:
                self.deliver(c)

    def _finish(self, proc):
        yield proc
        ops, run, e = self.ops, self.run, self.chip.hw.enasa
        run.conflicts, run.ranked_conflicts = ops.conflicts, ops.ranked_conflicts
        run.decisions, run.ops_busy_cycles = ops.decisions, ops.busy_cycles
        run.energy_pj["ops_unit"] += ops.decisions * e.ops_energy_pj_per_decision

    def resident_fraction(self, c: Computation) -> float:
        if not c.sources:
            return 1.0
        held = self.resident_bits.get(c.resource, {}).get(c.index, 0.0)
        return held / c.input_bits

    def deliver(self, c: Computation) -> None:
        """Push `c`'s input to its tiles; it becomes ready when the input has arrived."""
        cycles, noc_pj = self.chip.transfer(c.sources, c.key, c.input_bits)
        self.run.energy_pj["noc"] += noc_pj
        if cycles == 0:
            self._arrived(c)
            return
        ev = self.env.timeout(cycles)
        ev.callbacks.append(lambda _event: self._arrived(c))

    def _arrived(self, c: Computation) -> None:
        if c.sources:
            lru = self.resident_bits.setdefault(c.resource, OrderedDict())
            capacity = self.chip.placements[c.key].buffer_bits
            lru[c.index] = min(c.input_bits, capacity)
            excess = sum(lru.values()) - capacity
            while excess > 0:
                oldest = next(iter(lru))
                cut = min(excess, lru[oldest])
                lru[oldest] -= cut
                excess -= cut
                if lru[oldest] <= 0:
                    del lru[oldest]
        self.ops.ready(c)

    def execute(self, c: Computation):
        """Process: fetch the evicted part of the input, compute, hand the output on."""
        env, chip, run = self.env, self.chip, self.run
        start = env.now
        missing = c.input_bits * (1.0 - self.resident_fraction(c))
        self.resident_bits.get(c.resource, {}).pop(c.index, None)
        fetch, noc_pj = chip.transfer(c.sources, c.key, missing)
        cycles, energy = chip.op_cost(c.key, self.images)
        _charge(run, energy)
        run.energy_pj["noc"] += noc_pj
        yield env.timeout(fetch + cycles)
        _computed(chip, run, c, start + fetch, env.now, self.spans)
        self.ops.finished(c)
        for i in c.successors:
            s = self.comps[i]
            s.pending -= 1
            if s.pending == 0:
                self.deliver(s)
