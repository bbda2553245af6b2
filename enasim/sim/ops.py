"""The `ops` schedule: a group of sub-nets on a supernet chip, ENASA's NAS iteration.

Every operator of the supernet is preloaded (`enasim.mapping.supernet.SupernetChip`); a group of
sub-nets (choice vectors) runs on a batch of images. Each operator instance of the group is a
`Computation` (`enasim.hw.ops`); it computes on the operator's crossbars with the same tile
blocks and plan as any weight layer (`LayerTiles`, `plan_layer` on the batch), a depthwise conv
on the tiles' digital units as a digital stage, and receives its input over the run's
interconnect (ideal, or the cycle-level mesh where sub-nets' transfers contend), as messages
from every tile of its source operators to every tile of its own; operators share tiles, and
the share a tile sends to itself stays in its buffers, off the NoC. Three variants:

* `ops`: the OPS unit (`enasim.hw.ops.OpsUnit`) schedules all sub-nets at once, and an operator
  whose choices agree with another sub-net's at every layer up to it (same prefix) is computed
  once, its output fanned out;
* `concurrent`: the same scheduler, no sharing (every sub-net computes its own operators);
* `sequential`: one sub-net at a time, one operator at a time (receive its input, compute), as
  the `layer_by_layer` schedule runs a network; no OPS unit.

In the two scheduled variants a finished operator pushes its output into the input buffers of
its consumers' tiles (capacity: the consumer's share of its tiles' input buffers, least
recently delivered evicted first); whatever was evicted is fetched again when the consumer
starts. Digital glue (ReLU, concat, residual add, pooling) is not charged: it is the same in
every variant and small next to the convolutions. Computations overlap, so the chip's leakage
is charged once over the run (`Stats.chip_energy_pj`), with the OPS unit's decisions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from math import ceil
from typing import TYPE_CHECKING

import numpy as np

from enasim.errors import ConfigError, EnasimError
from enasim.hw.ops import Computation, OpsUnit
from enasim.hw.tile import LayerTiles
from enasim.mapping import Transfer
from enasim.mapping.supernet import SupernetChip
from enasim.noc.interconnect import Pairs
from enasim.plan import (
    DigitalStage,
    LayerPlan,
    charge_once,
    digital_stage,
    layer_ops,
    leakage_pj,
    new_layer_stats,
    plan_layer,
)
from enasim.stats import LayerStats, Span, Stats

if TYPE_CHECKING:
    from enasim.nas.spaces.supernet import Arch

GROUP_SCHEDULES = ("ops", "concurrent", "sequential")
# Packets a group may put on the NoC: the mesh keeps every one (about 300 bytes each), and so
# do the traffic tables of any interconnect, so 2e7 is about 6 GB; a run above is refused.
MAX_GROUP_PACKETS = 2 * 10**7
ENERGY_EXTRA = ("depthwise_unit", "ops_unit")


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


def check_group(chip: SupernetChip, group, mode: str, images: int) -> tuple[Arch, ...]:
    """The group as checked choice vectors; a ConfigError for a bad mode, batch or group."""
    if mode not in GROUP_SCHEDULES:
        raise ConfigError("", "mode", f"expected one of {', '.join(GROUP_SCHEDULES)}, got "
                          f"{mode!r}")
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise ConfigError("", "images", f"expected an integer >= 1, got {images!r}")
    group = tuple(chip.net.check_arch(a) for a in group)
    if not group:
        raise ConfigError("", "group", "expected at least one sub-net")
    return group


@dataclass
class GroupMetrics:
    """What only a group run has: sharing, the OPS unit's work, crossbar occupancy."""

    op_instances: int = 0  # operator instances the sub-nets need (one per sub-net and op)
    computations: int = 0  # operator instances actually computed
    conflicts: int = 0
    ranked_conflicts: int = 0
    decisions: int = 0
    ops_busy_cycles: int = 0
    busy_array_cycles: float = 0.0
    busy_depthwise_array_cycles: float = 0.0  # the part spent in packed depthwise convs
    intervals: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, arrays


class GroupSchedule:
    """Runs a group on the simulator's environment and interconnect (see the module)."""

    def __init__(self, sim, chip: SupernetChip, group: tuple[Arch, ...], mode: str,
                 images: int):
        self.sim, self.env, self.chip, self.hw = sim, sim.env, chip, chip.hw
        self.mode, self.images = mode, images
        self.comps, needed = build_computations(chip, group, mode == "ops", images)
        self.metrics = GroupMetrics(op_instances=needed, computations=len(self.comps))
        self.stats = Stats("sim", chip.hw.clock_period_ns, [], dict(chip.area_um2),
                           chip.leakage_uw)
        self.transfers: list[Transfer] = []
        self.pairs: dict[tuple, tuple[Pairs | None, int, int]] = {}  # `_pairs`, this run
        self.layer_stats = [self._layer_stats(c) for c in self.comps]
        self._check_size(len(group))
        # per tile buffer share (`OpPlacement.buffers`): computation index -> input bits
        # resident there, least recently delivered first
        self.resident_bits: dict[str, OrderedDict[int, float]] = {}
        self.ops: OpsUnit | None = None

    # -- set-up -----------------------------------------------------------------------------

    def _plan(self, key: str) -> LayerPlan:
        cache_key = ("plan", key, self.images)
        plan = self.chip.cache.get(cache_key)
        if plan is None:
            plan = plan_layer(self.chip.placements[key].lm, self.hw, images=self.images)
            self.chip.cache[cache_key] = plan
        return plan

    def _depthwise(self, key: str) -> DigitalStage:
        """A depthwise conv on its host tiles' digital units: one digital stage."""
        p = self.chip.placements[key]
        return digital_stage(key, "depthwise_unit", float(p.op.macs), self.hw, len(p.tile_ids),
                             self.images)

    def _layer_stats(self, c: Computation) -> LayerStats:
        p = self.chip.placements[c.key]
        name = f"{c.key} s{','.join(map(str, c.subnets))}"
        if not p.digital:
            ls = new_layer_stats(self._plan(c.key))
        else:
            n, node = self.images, p.node
            ls = LayerStats(0, "", node.kind, node.in_shapes[0], node.out_shape,
                            node.macs * n, layer_ops(node, self.hw) * n, len(p.tile_ids), 0, 1,
                            node.input_vectors() * n, 0.0,
                            counts=dict.fromkeys(("depthwise_macs", "router_flits",
                                                  "link_flits"), 0.0))
            ls.energy_pj["depthwise_unit"] = 0.0
        ls.index, ls.name = c.index + 1, name
        ls.counts["local_flits"] = 0.0
        return ls

    def _pairs(self, sources: tuple[str, ...], key: str) -> tuple[Pairs | None, int, int]:
        """The tile pairs of `key`'s input: every tile of the source operators sends an equal
        share to every tile of operator `key`. Operators share tiles (they get CEs, packed
        tile after tile), and a share whose producer and consumer tile are the same stays in
        that tile's buffers, off the NoC. Returns the Pairs crossing the NoC (None if none),
        all pairs and the in-tile ones. Node arrays are kept with the chip; the Pairs (which
        cache packet columns per message size) live only as long as this run."""
        hit = self.pairs.get((sources, key))
        if hit is None:
            cache_key = ("pairs", sources, key)
            arrays = self.chip.cache.get(cache_key)
            if arrays is None:
                place, cols = self.chip.placements, self.chip.mesh_cols
                src = np.array(sorted({n for s in sources for n in place[s].nodes}), np.int64)
                dst = np.array(sorted(set(place[key].nodes)), np.int64)
                s, d = np.repeat(src, len(dst)), np.tile(dst, len(src))
                off = s != d
                s, d = s[off], d[off]
                hops = np.abs(s % cols - d % cols) + np.abs(s // cols - d // cols)
                arrays = self.chip.cache[cache_key] = (s, d, hops, len(off),
                                                       int(len(off) - off.sum()))
            s, d, hops, n_all, n_local = arrays
            hit = self.pairs[(sources, key)] = (Pairs(s, d, hops, 1, 1) if len(s) else None,
                                                n_all, n_local)
        return hit

    def _check_size(self, subnets: int) -> None:
        """Refuse a group whose input deliveries alone exceed `MAX_GROUP_PACKETS` packets."""
        noc, packets = self.hw.noc, 0
        for c in self.comps:
            if c.sources:
                p, n_all, _ = self._pairs(c.sources, c.key)
                if p is not None:
                    flits = self._flits(c.input_bits, n_all)
                    packets += len(p.src) * -(-flits // noc.max_packet_flits)
        if packets > MAX_GROUP_PACKETS:
            raise EnasimError(f"a group of {subnets} sub-nets on {self.images} image(s) would "
                              f"put about {packets:.3g} packets on the NoC, more than "
                              f"{MAX_GROUP_PACKETS:.0e} (memory); use fewer --images or a "
                              f"smaller --group")

    # -- running ----------------------------------------------------------------------------

    def run(self):
        """Process: the whole group; then chip-level energy."""
        if self.mode == "sequential":
            for c in self.comps:  # built sub-net after sub-net, each in topological order
                self.layer_stats[c.index].start_cycle = self.env.now
                yield from self._fetch(c, c.input_bits, "input")
                yield from self._compute(c)
        else:
            self.ops = OpsUnit(self.env, self.hw.enasa, self.comps, self._execute,
                               self._resident_fraction, self.stats.spans)
            dispatcher = self.env.process(self.ops.run())
            for c in self.comps:
                if c.pending == 0:
                    self._deliver(c)
            yield dispatcher
            m, ops = self.metrics, self.ops
            m.conflicts, m.ranked_conflicts = ops.conflicts, ops.ranked_conflicts
            m.decisions, m.ops_busy_cycles = ops.decisions, ops.busy_cycles
            self.stats.chip_energy_pj["ops_unit"] = (m.decisions
                                                     * self.hw.enasa.ops_energy_pj_per_decision)
            self.ops = None  # it holds this schedule's methods: no cycle outlives the run
        self.stats.layers = self.layer_stats
        self.stats.chip_energy_pj["leakage"] = leakage_pj(self.stats, self.env.now)
        self.stats.transfers = tuple(self.transfers)

    def _flits(self, bits: float, pairs: int) -> int:
        """Flits per tile pair when `bits` are shared equally among `pairs` pairs."""
        return max(1, ceil(bits / (pairs * self.hw.noc.flit_bits)))

    def _received(self, ls: LayerStats, t0: int, purpose: str) -> None:
        """Book an input delivery or re-fetch that ran from `t0` to now."""
        ls.noc_cycles += self.env.now - t0
        self.stats.spans.append(Span("interconnect", f"{ls.name} receive", f"{ls.name} {purpose}",
                                     t0, self.env.now, ls.index))

    def _send(self, c: Computation, bits: float, purpose: str):
        """Event for `bits` of `c`'s input reaching its tiles (None: nothing crosses the
        NoC). In-tile shares are counted as `local_flits`."""
        if not c.sources or bits <= 0:
            return None
        p, n_all, n_local = self._pairs(c.sources, c.key)
        flits = self._flits(bits, n_all)
        ls = self.layer_stats[c.index]
        ls.counts["local_flits"] += flits * n_local
        if p is None:
            return None
        self.transfers.append(Transfer("+".join(c.sources), ls.name,
                                       bits / self.hw.precision.input_bits, purpose))
        return self.sim.send(p, flits, ls, len(self.transfers) - 1)

    def _fetch(self, c: Computation, bits: float, purpose: str):
        """Process: receive `bits` of `c`'s input and wait for them."""
        t0 = self.env.now
        event = self._send(c, bits, purpose)
        if event is not None:
            yield event
            self._received(self.layer_stats[c.index], t0, purpose)

    def _compute(self, c: Computation):
        """Process: one computation on its crossbars (or depthwise unit)."""
        env, p = self.env, self.chip.placements[c.key]
        ls = self.layer_stats[c.index]
        start = env.now
        if p.digital:
            stage = self._depthwise(c.key)
            yield env.timeout(stage.cycles())
            ls.energy_pj["depthwise_unit"] += stage.energy_pj
            ls.counts["depthwise_macs"] += stage.work
            ls.energy_pj["buffer"] += self._depthwise_buffer_pj(p)
            ls.digital_cycles = env.now - start
        else:
            plan = self._plan(c.key)
            tiles = LayerTiles(env, plan)
            yield from tiles.compute_alone(ls)
            charge_once(ls, plan)
            ls.adc_cycles = tiles.adcs.busy_cycles
            ls.digital_cycles = plan.lag
        ls.end_cycle = env.now
        # idle for any other reason: exposed buffer time, and in the scheduled variants the
        # wait for the OPS unit and for crossbars another computation holds
        ls.buffer_cycles = ls.latency_cycles - ls.adc_cycles - ls.noc_cycles - ls.digital_cycles
        m = self.metrics
        if p.busy_arrays:
            m.busy_array_cycles += p.busy_arrays * (env.now - start)
            if p.op.kind == "dwconv":
                m.busy_depthwise_array_cycles += p.busy_arrays * (env.now - start)
            m.intervals.append((start, env.now, p.busy_arrays))
        c.start_cycle, c.end_cycle = start, env.now
        self.stats.spans.append(Span("tiles", f"tile {p.tile_ids[0]} {p.resource}",
                                     f"{ls.name} compute", start, env.now, ls.index))
        self.sim.layer_done(len(self.comps))

    def _depthwise_buffer_pj(self, p) -> float:
        hw, op, n = self.hw, p.op, self.images
        in_bits = op.c_in * op.h_in * op.w_in * hw.precision.input_bits * n
        out_bits = op.c_out * op.h_out * op.w_out * hw.precision.output_bits * n
        return (in_bits * hw.tile.input_buffer.read_energy_pj_per_bit
                + out_bits * hw.tile.output_buffer.write_energy_pj_per_bit)

    # -- the scheduled variants: outputs pushed, evicted parts fetched again ----------------

    def _resident_fraction(self, c: Computation) -> float:
        if not c.sources:
            return 1.0
        held = self.resident_bits.get(self.chip.placements[c.key].buffers, {}).get(c.index, 0.0)
        return held / c.input_bits

    def _deliver(self, c: Computation) -> None:
        """Push `c`'s input to its tiles; it becomes ready when the input has arrived."""
        ls = self.layer_stats[c.index]
        ls.start_cycle = self.env.now
        event = self._send(c, c.input_bits, "input")
        if event is None:
            self._arrived(c)
            return
        t0 = self.env.now

        def arrived(_event) -> None:
            self._received(ls, t0, "input")
            self._arrived(c)

        event.callbacks.append(arrived)

    def _arrived(self, c: Computation) -> None:
        if c.sources:
            p = self.chip.placements[c.key]
            lru = self.resident_bits.setdefault(p.buffers, OrderedDict())
            capacity = p.buffer_bits
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

    def _execute(self, c: Computation):
        """Process: fetch the evicted part of the input, compute, hand the output on."""
        missing = c.input_bits * (1.0 - self._resident_fraction(c))
        self.resident_bits.get(self.chip.placements[c.key].buffers, {}).pop(c.index, None)
        yield from self._fetch(c, missing, "fetch")
        yield from self._compute(c)
        self.ops.finished(c)
        for i in c.successors:
            s = self.comps[i]
            s.pending -= 1
            if s.pending == 0:
                self._deliver(s)


@dataclass
class GroupRun:
    """One simulated NAS iteration: the run's Stats and the group's own figures."""

    mode: str
    group: tuple[Arch, ...]
    images: int
    stats: Stats
    metrics: GroupMetrics
    total_arrays: int
    depthwise_arrays: int  # arrays allocated to packed depthwise convs

    def __getattr__(self, name: str):
        """The metrics' fields (conflicts, decisions, busy_array_cycles, ...)."""
        if name in GroupMetrics.__dataclass_fields__:
            return getattr(self.metrics, name)
        raise AttributeError(name)

    @property
    def clock_period_ns(self) -> float:
        return self.stats.clock_period_ns

    @property
    def latency_cycles(self) -> int:
        return self.stats.latency_cycles

    @property
    def energy_pj(self) -> dict[str, float]:
        """Energy by component, ENASA's depthwise and OPS units included."""
        out = self.stats.energy_by_component_pj()
        return {**out, **{k: out.get(k, 0.0) for k in ENERGY_EXTRA}}

    @property
    def spans(self) -> list[Span]:
        return self.stats.spans

    @property
    def shared_ops(self) -> int:
        """Operator instances not computed because another sub-net's identical one was."""
        return self.metrics.op_instances - self.metrics.computations

    @property
    def total_energy_pj(self) -> float:
        return self.stats.energy_pj

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_period_ns

    @property
    def utilization(self) -> float:
        """Crossbar time utilisation: busy array-cycles / (all arrays x run cycles)."""
        if not self.latency_cycles or not self.total_arrays:
            return 0.0
        return self.metrics.busy_array_cycles / (self.total_arrays * self.latency_cycles)

    @property
    def utilization_depthwise(self) -> float:
        """Time utilisation of the arrays holding packed depthwise convs (0 if none)."""
        if not self.latency_cycles or not self.depthwise_arrays:
            return 0.0
        return self.metrics.busy_depthwise_array_cycles / (self.depthwise_arrays
                                                           * self.latency_cycles)

    @property
    def utilization_dense(self) -> float:
        """Time utilisation of the arrays holding conv / pw conv / FC weights."""
        arrays = self.total_arrays - self.depthwise_arrays
        if not self.latency_cycles or not arrays:
            return 0.0
        busy = self.metrics.busy_array_cycles - self.metrics.busy_depthwise_array_cycles
        return busy / (arrays * self.latency_cycles)

    def utilization_curve(self, bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """(bin start cycles, fraction of all arrays busy in each bin)."""
        edges = np.linspace(0, max(self.latency_cycles, 1), bins + 1)
        busy = np.zeros(bins)
        for start, end, arrays in self.metrics.intervals:
            lo = np.clip(edges[:-1], start, end)
            hi = np.clip(edges[1:], start, end)
            busy += (hi - lo) * arrays
        width = np.diff(edges)
        return edges[:-1], busy / (width * max(self.total_arrays, 1))


def run_group(chip: SupernetChip, group, mode: str = "ops", images: int = 1,
              noc_model: str | None = None) -> GroupRun:
    """Simulate one NAS iteration: every sub-net of `group` on `images` images, under `mode`
    (ops | concurrent | sequential), over `noc_model` (default: the hwconfig's)."""
    from enasim.sim.engine import Simulator  # (the engine imports this module)

    sim = Simulator(chip, noc_model=noc_model, schedule=mode, group=group, images=images)
    stats = sim.run()
    return GroupRun(mode, sim.group, images, stats, sim.metrics, chip.total_arrays,
                    chip.depthwise_arrays)
