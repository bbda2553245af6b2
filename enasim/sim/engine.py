"""Simulator: builds the chip's processes for a mapped workload, runs them under a schedule,
returns Stats.

Time is integer clock cycles (`env.now`). Events happen only where blocks hand off or contend
(DESIGN section 3): a step entering a buffer port or the ADCs, a message entering the
interconnect, a consumer waiting for its producer. Every schedule uses the same tile blocks
(`LayerTiles`), plans (`enasim.plan`), Stats and interconnect (ideal, or the cycle-level mesh,
compiled or as processes).

* `layer_by_layer` (a `Mapping`): a layer starts when the previous one has finished: it
  receives its inputs, streams its steps through its tiles, runs the digital layers it owns,
  then receives the operands of residual adds it owns. Images run back to back.
* `pipelined` (a `Mapping`): every layer runs at once. A layer reads a step as soon as its
  producers have delivered the input rows that step needs (`enasim.sim.windows`); after
  writing a step it runs its digital layers on that step and streams the step's outputs to
  its consumers. With several images a layer starts image k+1 once it has finished image k
  (its last digital layer done and its last outputs sent); the data dependencies are those
  of one image, and nothing holds a producer back (buffers are not bounded).
* `ops`, `concurrent`, `sequential` (a `SupernetChip` and a group of sub-nets): ENASA's NAS
  iteration, the OPS unit scheduling the group's operators (`enasim.sim.ops`).

Per-layer time is attributed from the converter's point of view: converting (`adc_cycles`),
idle while inputs were missing (`noc_cycles`), idle otherwise or writing out
(`buffer_cycles`), shift-add lag and digital layers after the last write (`digital_cycles`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import simpy

from enasim.config.schema import NOC_MODELS
from enasim.errors import EnasimError
from enasim.hw.tile import LayerTiles
from enasim.kernels.mac_spec import MacActivity
from enasim.mapping import LayerMap, Mapping, Transfer
from enasim.mapping.supernet import SupernetChip
from enasim.noc.interconnect import IdealInterconnect, Interconnect, Pairs, pairs
from enasim.noc.mesh import MeshInterconnect
from enasim.plan import (
    LayerPlan,
    charge_leakage,
    charge_noc,
    charge_once,
    new_layer_stats,
    new_stats,
    plan_layer,
)
from enasim.sim.ops import GROUP_SCHEDULES, GroupMetrics, GroupSchedule, check_group
from enasim.sim.windows import Windows
from enasim.stats import LayerStats, Span, Stats

Progress = Callable[[int, int], None]
# Steps (groups of input vectors) a run may simulate: about 30 events each when pipelined, a few
# thousand a second, so 10 million is hours; a larger estimate is refused before it starts.
MAX_STEPS = 10**7


class _CountingEnvironment(simpy.Environment):
    """A SimPy Environment that counts the events it processes (for benchmarks)."""

    def __init__(self) -> None:
        super().__init__()
        self.events_processed = 0

    def step(self) -> None:
        self.events_processed += 1
        super().step()


class Arrivals:
    """How many of a producer's vectors have reached a consumer; processes wait on it."""

    def __init__(self, env: simpy.Environment):
        self.env, self.count = env, 0
        self._waiting: list[tuple[int, simpy.Event]] = []

    def reached(self, n: int) -> simpy.Event | None:
        """None if `n` vectors have arrived, else an event that fires when they have."""
        if self.count >= n:
            return None
        event = self.env.event()
        self._waiting.append((n, event))
        return event

    def add(self, n: int) -> None:
        self.count += n
        still = []
        for need, event in self._waiting:
            if self.count >= need:
                event.succeed()
            else:
                still.append((need, event))
        self._waiting = still


def ces_holding_weights(lm: LayerMap, pes_per_ce: int) -> list[tuple[int, int]]:
    """(tile, CE) pairs whose PEs hold the layer's weights: copies fill tiles in order."""
    left, out = lm.tiling.arrays * lm.tiling.copies, []
    for tile in lm.tile_ids:
        used = min(left, lm.tiling.arrays_per_tile)
        out += [(tile, ce) for ce in range(-(-used // pes_per_ce))]
        left -= used
    return out


NETWORK_SCHEDULES = ("layer_by_layer", "pipelined")


class Simulator:
    """`Simulator(mapping).run()` simulates one inference of the mapped workload;
    `Simulator(chip, group=archs).run()` one NAS iteration of ENASA's supernet chip. A chip
    with `timing.accounting: neurosim` is not simulated: it gets NeuroSim's serial accounting
    (`enasim.analytical.neurosim`), as the analytical engine does, and its Stats say so."""

    def __init__(self, mapping: Mapping | SupernetChip, progress: Progress | None = None,
                 trace_ces: bool = False, noc_model: str | None = None,
                 activity: dict[str, MacActivity] | None = None, schedule: str | None = None,
                 group=(), images: int = 1):
        """`trace_ces` adds a timeline track per CE that holds weights (flash mapping);
        `noc_model` (compiled|process|ideal) overrides the hwconfig's `noc.model`; `activity`
        (per weight layer name) makes the ADC energy data-dependent (see `plan_layer`).
        `schedule` defaults to the hwconfig's `execution.mode` for a `Mapping` and to `ops`
        for a `SupernetChip`, which runs `group` (choice vectors) on `images` images."""
        self.mapping, self.hw = mapping, mapping.hw
        supernet = isinstance(mapping, SupernetChip)
        self.schedule = schedule or ("ops" if supernet else self.hw.execution.mode)
        if supernet:
            self.group = check_group(mapping, group, self.schedule, images)
            self.images = images
            if trace_ces or activity:
                raise EnasimError("a group of sub-nets takes neither CE tracks nor measured "
                                  "activity (the ops schedule charges the assumed activity)")
        elif group or self.schedule not in NETWORK_SCHEDULES:
            raise EnasimError(f"a mapped network runs under {', '.join(NETWORK_SCHEDULES)} "
                              f"(a group of sub-nets under {', '.join(GROUP_SCHEDULES)} needs "
                              f"a SupernetChip), not {self.schedule!r}")
        self.metrics: GroupMetrics | None = None  # the group schedules' own figures
        if trace_ces and mapping.hw.mapping.scheme != "flash":
            raise EnasimError("CE tracks need mapping.scheme 'flash' (NeuroSim's floorplan has "
                              "no CEs)")
        self.noc_model = noc_model or self.hw.noc.model
        self.activity = activity or {}
        if self.hw.timing.accounting == "neurosim":
            # NeuroSim's serial accounting over its H-tree (enasim.analytical.neurosim)
            if supernet or noc_model not in (None, "htree"):
                raise EnasimError("timing.accounting 'neurosim' is NeuroSim's serial sum over "
                                  "its H-tree, for one mapped network; set timing.accounting "
                                  "'overlapped' (enasim run --accounting overlapped --noc MODEL) "
                                  "for the event engine's schedules on a mesh")
        elif self.noc_model not in NOC_MODELS:
            raise EnasimError(f"noc model: expected compiled, process or ideal, got "
                              f"{self.noc_model!r}")
        if not supernet:
            if isinstance(images, bool) or not isinstance(images, int) or images < 1:
                raise EnasimError(f"images: expected an integer >= 1, got {images!r}")
            self.images = images
        self.progress = progress
        self.trace_ces = trace_ces
        self.events_processed = 0

    def run(self) -> Stats:
        env = self.env = _CountingEnvironment()
        self._done = 0
        if self.schedule in GROUP_SCHEDULES:
            self.net = self._interconnect(env)
            group = GroupSchedule(self, self.mapping, self.group, self.schedule, self.images)
            self.stats, self.metrics = group.stats, group.metrics
            env.process(group.run())
            env.run()
            return self._finish()
        if self.hw.timing.accounting == "neurosim":
            from enasim.analytical.neurosim import run_neurosim

            self.stats = run_neurosim(self.mapping, "sim", self.activity, self.images)
            return self.stats
        steps = sum(-(-lm.vectors // lm.copies) for lm in self.mapping.layers) * self.images
        if steps > MAX_STEPS:
            per = f", x {self.images} images (--images)" if self.images > 1 else ""
            raise EnasimError(f"the event engine would simulate about {steps:.3g} steps (input "
                              f"vectors / weight copies, summed over the layers{per}), more "
                              f"than {MAX_STEPS:.0e}; use --engine analytical or a smaller "
                              f"input")
        self.stats = new_stats("sim", self.mapping)
        self.stats.transfers = self.mapping.transfers
        self.net = self._interconnect(env)
        self.transfer_index = {tr: i for i, tr in enumerate(self.mapping.transfers)}
        self.inbound: dict[str, dict[str, list[Transfer]]] = defaultdict(lambda: defaultdict(list))
        self.outbound: dict[str, list[Transfer]] = defaultdict(list)
        for tr in self.mapping.transfers:
            self.inbound[tr.dst][tr.purpose].append(tr)
            self.outbound[tr.src].append(tr)
        self.plans = [plan_layer(lm, self.hw, self.activity.get(lm.name))
                      for lm in self.mapping.layers]
        self.pairs = {tr: pairs(self.mapping, tr) for tr in self.mapping.transfers}
        self.windows = Windows(self.mapping)
        self.layer_stats = {p.lm.name: new_layer_stats(p) for p in self.plans}
        self.stats.images = self.images
        self.occupied = dict.fromkeys(self.layer_stats, 0)  # cycles on its images, per layer
        self.image_end = [0] * self.images  # when the last layer finished each image
        if self.schedule == "pipelined":
            env.process(self._pipelined())
        else:
            env.process(self._layer_by_layer())
        env.run()
        if self._done != len(self.plans) * self.images:  # a layer waited for inputs forever
            raise RuntimeError(f"the {self.schedule} schedule stopped after {self._done} of "
                               f"{len(self.plans) * self.images} layer-images")
        layers = self.stats.layers = [self.layer_stats[p.lm.name] for p in self.plans]
        self.stats.image_end_cycles = tuple(self.image_end)
        # The chip leaks once over the run. Layer by layer, the layers' time on their images
        # tiles it; when pipelined they overlap, so each layer takes a share in proportion to
        # its time (its span from its first image's start to its last image's end).
        busy = sum(self.occupied.values())
        scale = self.stats.latency_cycles / busy if self.schedule == "pipelined" and busy else 1
        for ls in layers:
            occupied = self.occupied[ls.name]
            charge_leakage(ls, self.stats, occupied * scale)
            if self.images > 1:
                ls.macs, ls.ops, ls.vectors = (x * self.images for x in
                                               (ls.macs, ls.ops, ls.vectors))
        return self._finish()

    def _finish(self) -> Stats:
        self.net.close()
        self.stats.traffic_source = self.net.traffic
        self.stats.noc_model = self.noc_model
        self.events_processed = self.env.events_processed
        return self.stats

    # -- layer by layer ---------------------------------------------------------------------

    def _layer_by_layer(self):
        env = self.env
        for image in range(1, self.images + 1):
            for plan in self.plans:
                ls = self.layer_stats[plan.lm.name]
                start, noc = env.now, ls.noc_cycles
                if image == 1:
                    ls.start_cycle = start
                tiles = LayerTiles(env, plan)
                yield from self._receive(ls, "input", image)
                t0 = env.now
                yield from tiles.compute_alone(ls)
                self._span(ls, "compute", t0, image)
                self._adc_spans(ls, tiles, image)
                t1 = env.now
                # The digital layers run one after another on units no one else uses: one wait.
                yield env.timeout(sum(stage.cycles() for stage in plan.digital))
                charge_once(ls, plan)
                self._span(ls, "digital", t1, image)
                ls.digital_cycles += plan.lag + (env.now - t1)
                yield from self._receive(ls, "add", image)
                ls.end_cycle = env.now
                ls.adc_cycles += tiles.adcs.busy_cycles
                ls.buffer_cycles += (t1 - t0) - tiles.adcs.busy_cycles - plan.lag
                self.occupied[ls.name] += env.now - start
                ls.busy_cycles_per_image = env.now - start - (ls.noc_cycles - noc)
                self._layer_done()
            self.image_end[image - 1] = env.now

    def _receive(self, ls: LayerStats, purpose: str, image: int):
        """Process: send every message of the layer's transfers and wait for all of them."""
        transfers = self.inbound[ls.name][purpose]
        if not transfers:
            return
        t0 = self.env.now
        yield self.env.all_of([self._send(tr, self.pairs[tr].flits) for tr in transfers])
        ls.noc_cycles += self.env.now - t0
        self.stats.spans.append(Span("interconnect", "interconnect", f"{ls.name} {purpose}",
                                     t0, self.env.now, ls.index, image))
        self._span(ls, f"receive {purpose}", t0, image)

    # -- pipelined --------------------------------------------------------------------------

    def _pipelined(self):
        env = self.env
        keys = [(tr.src, tr.dst, tr.purpose) for tr in self.mapping.transfers]
        self.arrivals = {k: Arrivals(env) for k in keys}
        self.last_delivery: dict[tuple[str, str, str], simpy.Process] = {}
        # (src, dst, purpose, image) -> [first send, last arrival]
        self.transfer_window: dict[tuple[str, str, str, int], list[int]] = {}
        self.sent = {k: [0, 0, 0] for k in keys}
        yield env.all_of([env.process(self._pipelined_layer(p)) for p in self.plans])
        previous_end: dict[tuple[str, str, str], int] = {}
        for (src, dst, purpose, image), (start, end) in self.transfer_window.items():
            # Image k+1's first flits may leave while image k's last are in flight; its span
            # starts once they have arrived, so a transfer's track holds no overlaps.
            start = max(start, previous_end.get((src, dst, purpose), start))
            previous_end[(src, dst, purpose)] = end
            self.stats.spans.append(Span("interconnect", f"{src}->{dst} {purpose}",
                                         f"{src}->{dst} {purpose}", start, end,
                                         self.mapping.layer(dst).index, image))

    def _pipelined_layer(self, plan: LayerPlan):
        env, lm = self.env, plan.lm
        ls = self.layer_stats[lm.name]
        ls.start_cycle = env.now
        for image in range(1, self.images + 1):
            start = env.now
            tiles = LayerTiles(env, plan)
            written = simpy.Store(env)
            for tr in self.outbound[lm.name]:  # the network interfaces start a new image
                self.sent[(tr.src, tr.dst, tr.purpose)] = [0, 0, 0]

            def gate(i: int, done: int, image=image) -> simpy.Event | None:
                return self._inputs_ready(lm, "input", done + plan.steps[i], image)

            sender = env.process(self._stream_out(plan, tiles, written, image))
            yield env.process(tiles.compute(ls, gate, lambda i, v, w=written: w.put(v)))
            t_written = env.now
            yield sender
            charge_once(ls, plan)
            ls.adc_cycles += tiles.adcs.busy_cycles
            ls.noc_cycles += tiles.input_wait_cycles
            ls.digital_cycles += plan.lag + (env.now - t_written)
            self.occupied[lm.name] += env.now - start
            ls.busy_cycles_per_image = env.now - start - tiles.input_wait_cycles
            self.image_end[image - 1] = max(self.image_end[image - 1], env.now)
            self._span(ls, "compute", start, image)
            self._adc_spans(ls, tiles, image)
            self._layer_done()
        ls.end_cycle = env.now
        ls.buffer_cycles = (ls.latency_cycles - ls.adc_cycles - ls.noc_cycles
                            - ls.digital_cycles)

    def _inputs_ready(self, lm: LayerMap, purpose: str, vectors: int,
                      image: int) -> simpy.Event | None:
        """An event for when every producer has delivered what `vectors` of lm's image need
        (the arrival counts run on over the images: all of each earlier image first)."""
        events = []
        for tr in self.inbound[lm.name][purpose]:
            producer = self.mapping.layer(tr.src)
            need = self.windows.need(lm, producer, vectors, purpose)
            need += (image - 1) * self.pairs[tr].vectors
            event = self.arrivals[(tr.src, tr.dst, purpose)].reached(need)
            if event is not None:
                events.append(event)
        return self.env.all_of(events) if events else None

    def _stream_out(self, plan: LayerPlan, tiles: LayerTiles, written: simpy.Store,
                    image: int):
        """Process: per written step, its residual operands, digital layers, and sends."""
        lm, done = plan.lm, 0
        for _ in plan.steps:
            v = yield written.get()
            done += v
            ready = self._inputs_ready(lm, "add", done, image)
            if ready is not None:
                yield ready
            yield self.env.process(tiles.digital(v / lm.vectors))
            for tr in self.outbound[lm.name]:
                self._stream(tr, v, image)

    def _stream(self, tr: Transfer, vectors: int, image: int) -> None:
        """Send the flits that `vectors` more of the producer's output fill. Only whole flits
        leave (`Pairs.flits_after`) and the consumer counts the vectors whose data has
        arrived in full, so a step too small to fill a flit is delivered with a later one."""
        key = (tr.src, tr.dst, tr.purpose)
        sent = self.sent[key]  # vectors written, flits sent per pair, vectors carried
        sent[0] += vectors
        p = self.pairs[tr]
        flits = p.flits_after(sent[0])
        if flits > sent[1]:
            carried = p.vectors_carried(flits)
            self.env.process(self._deliver(tr, key, flits - sent[1], carried - sent[2], image))
            sent[1], sent[2] = flits, carried

    def _deliver(self, tr: Transfer, key: tuple[str, str, str], flits: int, vectors: int,
                 image: int):
        """Process: carry `flits` flits per tile pair, then count `vectors` more as arrived,
        in order."""
        previous = self.last_delivery.get(key)
        self.last_delivery[key] = self.env.active_process
        window = self.transfer_window.setdefault((*key, image), [self.env.now, self.env.now])
        yield self._send(tr, flits)
        if previous is not None and previous.is_alive:
            yield previous
        self.arrivals[key].add(vectors)
        window[1] = self.env.now

    # -- shared -----------------------------------------------------------------------------

    def _send(self, tr: Transfer, flits: int) -> simpy.Event:
        """Inject a message of `flits` flits per tile pair of a transfer."""
        return self.send(self.pairs[tr], flits, self.layer_stats[tr.dst], self.transfer_index[tr])

    def send(self, p: Pairs, flits: int, consumer: LayerStats, transfer: int) -> simpy.Event:
        """Inject a message of `flits` flits per tile pair; charge their flits to `consumer`.
        `transfer` indexes `Stats.transfers`; the event fires when all have arrived."""
        routers, links, _ = p.hop_sums
        charge_noc(consumer, self.hw, float(flits * routers), float(flits * links))
        return self.net.send_all(p.messages(flits), transfer)

    def _interconnect(self, env: simpy.Environment) -> Interconnect:
        m = self.mapping
        if self.noc_model == "ideal":
            return IdealInterconnect(env, self.hw.noc, m.mesh_rows, m.mesh_cols)
        return MeshInterconnect(env, self.hw.noc, m.mesh_rows, m.mesh_cols, self.noc_model)

    def _span(self, ls: LayerStats, what: str, start: int, image: int) -> None:
        if self.env.now == start:
            return
        lm = self.mapping.layers[ls.index - 1]
        for tile in lm.tile_ids:
            self.stats.spans.append(Span("tiles", f"tile {tile}", f"{ls.name} {what}", start,
                                         self.env.now, ls.index, image))
        if self.trace_ces and what == "compute":
            for tile, ce in ces_holding_weights(lm, self.hw.ce.pes_per_ce):
                self.stats.spans.append(Span("ces", f"tile {tile} ce {ce}", f"{ls.name} compute",
                                             start, self.env.now, ls.index, image))

    def _adc_spans(self, ls: LayerStats, tiles: LayerTiles, image: int) -> None:
        """When the layer's crossbars were converting (for utilisation over time)."""
        track = f"layer {ls.index} {ls.name} adcs"
        for start, end in tiles.adcs.busy:
            self.stats.spans.append(Span("adcs", track, f"{ls.name} convert", start, end,
                                         ls.index, image))

    def _layer_done(self) -> None:
        self.layer_done(len(self.plans) * self.images)

    def layer_done(self, total: int) -> None:
        """Progress: one more of `total` layers (or a group's computations) finished."""
        self._done += 1
        if self.progress:
            self.progress(self._done, total)
