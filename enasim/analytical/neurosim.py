"""NeuroSim V1.3's accounting (`timing.accounting: neurosim`, `noc.model: htree`).

NeuroSim (synchronous mode) counts every block in clock cycles and, per layer, adds them:
ADC + accumulation (shift-add, adder trees) + buffers (PE DFFs, tile register files, global
buffer) + interconnect (tile and global H-trees) + ReLU and max-pool. A layer-by-layer chip's
latency is the sum over layers. In pipeline mode (`execution.mode: pipelined`, with
`mapping.duplication: balance`) every tile adds to the global bus, the global buffer holds half
of all layer inputs, and the chip's latency per image is the period, the slowest layer's. This
module is our implementation of those rules (Chip.cpp ChipInitialize and
ChipCalculatePerformance, main.cpp, Tile.cpp, ProcessingUnit.cpp, SubArray.cpp, Buffer.cpp,
HTree.cpp) on NeuroSim's floorplan (`mapping.scheme: neurosim`); it reproduces NeuroSim's quirks
as they are (each marked QUIRK below and listed in docs/validation.md). Compute energies (ADC,
shift-add, periphery, tile buffers) are enasim's event counts as in the overlapped model; the
H-trees' energy goes under "noc" and the global buffer's under "buffer".
"""

from __future__ import annotations

from math import ceil, floor, log2, sqrt

from enasim.cost.area import chip_area_um2, pe_area_um2
from enasim.errors import EnasimError
from enasim.mapping import Mapping
from enasim.plan import (
    charge_leakage,
    charge_once,
    charge_steps,
    leakage_pj,
    new_layer_stats,
    new_stats,
    plan_layer,
)
from enasim.stats import Stats


def tree_paths(n: int) -> tuple[int, int]:
    """Lengths, in unit pitches, of a root-to-leaf transfer in NeuroSim's n x n H-tree
    (HTree.cpp, square units): for its delay, every vertical and horizontal stage (2^s - 1
    pitches each, s = ceil(log2 n)) and the main bus (min(n - c, c) pitches, c = floor(log2 n));
    for its energy, half of each stage (CalculatePower starts at half the first stage) and the
    main bus."""
    if n <= 1:
        return 0, 0
    s, c = ceil(log2(n)), floor(log2(n))
    main = min(n - c, c)
    return 2 * (2**s - 1) + main, (2**s - 1) + main


def _stages(n: int) -> int:
    """Adder-tree stages to add n operands (AdderTree.cpp: ceil(log2 n))."""
    return ceil(log2(n)) if n > 1 else 0


class _Chip:
    """The chip-wide numbers NeuroSim derives once from the floorplan (ChipInitialize,
    TileInitialize): bus widths, buffer cores and interfaces, adder-tree widths."""

    def __init__(self, mapping: Mapping) -> None:
        hw, ht = mapping.hw, mapping.hw.htree
        R, mux = hw.crossbar.rows, hw.adc.cols_per_adc
        self.b = hw.precision.input_bits
        self.mux, self.cps, self.R = mux, hw.weight_slices, R
        level_bits = hw.adc.bits  # ceil(log2(levelOutput))
        tl = [lm.tiling for lm in mapping.layers]
        cm = [t for t in tl if t.style == "conventional"]
        nm = [t for t in tl if t.style == "novel"]
        self.tile_cm = cm[0].tile_side if cm else 0
        self.pe_cm = cm[0].pe_side if cm else 0
        self.pe_nm = nm[0].pe_side if nm else 0
        self.n_pe_nm = nm[0].pes_per_tile if nm else 0
        side_nm = ceil(sqrt(self.n_pe_nm)) * self.pe_nm
        # ChipInitialize. Layer by layer: the global bus is the sum over layers of (side +
        # side / mux) and the global buffer holds the largest layer input. Pipeline: every tile
        # of every layer adds to the bus and the buffer holds half of all layer inputs at once.
        self.pipeline = hw.execution.mode == "pipelined"
        bus = sum((self.tile_cm + self.tile_cm / mux if t.style == "conventional"
                   else side_nm + side_nm / mux) * (t.tiles if self.pipeline else 1) for t in tl)
        while bus > ht.global_bus_max_bits:
            bus /= 2
        self.global_bus = bus
        inputs = [lm.node.in_shapes[0][0] * lm.node.in_shapes[0][1] * lm.node.in_shapes[0][2]
                  for lm in mapping.layers]
        held = sum(i / 2 for i in inputs) if self.pipeline else max(inputs)
        self.global_cores = ceil(int(self.b * held) / ht.global_buffer_core_bits)
        # chip ReLU units and global adder trees: one per mux group of the widest tile, for
        # every layer and one more in pipeline mode (all layers run at once)
        widest = int(max(self.tile_cm, side_nm)) * (len(tl) + 1 if self.pipeline else 1)
        self.relu_units = ceil(widest / mux)
        self.total_tiles = mapping.total_tiles
        # tile buffers (Tile.cpp TileInitialize, parallel read, chip-level activation)
        core, port = ht.tile_buffer_core_bits, ht.tile_buffer_port_bits
        n_pe_cm = self.tile_cm // self.pe_cm if self.pe_cm else 0  # PEs per tile side
        self.n_pe_cm = n_pe_cm
        self.acc_bits_cm = (level_bits + self.b + self.cps + 1
                            + (ceil(log2(self.pe_cm / R)) if self.pe_cm else 0))
        self.acc_bits_nm = (level_bits + self.b + self.cps + 1
                            + (ceil(log2(self.pe_nm / R)) if self.pe_nm else 0))
        self.bus_cm = n_pe_cm * R
        self.bus_nm = self.n_pe_nm * R
        in_cm = n_pe_cm * self.b * R
        self.in_port_cm = port if in_cm >= core else n_pe_cm * R
        out_cm = self.acc_bits_cm * n_pe_cm * hw.crossbar.cols / mux
        self.out_port_cm = port if out_cm >= core else self.acc_bits_cm * n_pe_cm
        out_nm = self.acc_bits_nm * self.n_pe_nm * hw.crossbar.cols / mux
        self.out_port_nm = port if out_nm >= core else self.acc_bits_nm * self.n_pe_nm
        # QUIRK: the buffer core counts are globals that the CM initialisation overwrites, so NM
        # tiles use the CM tiles' counts; a network with no CM tile keeps the NM ones
        in_nm = self.n_pe_nm * self.b * R
        self.in_cores = ceil((in_cm if n_pe_cm else in_nm) / core)
        self.out_cores = ceil((out_cm if n_pe_cm else out_nm) / core)
        # PE output DFFs: (cols / mux) x (ADC bits + input bits + cps + adder stages)
        self.pe_adder_bits = level_bits + self.b + self.cps + 1
        self.pe_dff_in = self.b * R
        self.pe_dff_out_cm = (hw.crossbar.cols // mux) * (
            level_bits + self.b + self.cps + _stages(self.pe_cm // R if self.pe_cm else 1))
        self.pe_dff_out_nm = (hw.crossbar.cols // mux) * (
            level_bits + self.b + self.cps + _stages(self.pe_nm // R if self.pe_nm else 1))
        self._trees(mapping)

    def _trees(self, mapping: Mapping) -> None:
        """The H-trees' cycles per transfer, energies per bit and areas, from their geometry:
        unit pitches are the sides of square PEs and tiles of enasim's subarray area, the global
        tree spans ceil(sqrt(tiles)) tiles a side, a CM tile's tree its PEs a side and an NM
        tile's numPENM x numPENM (QUIRK: Tile.cpp initialises it so). A transfer takes
        ceil(wire delay x path / clock) cycles (HTree.cpp, synchronous)."""
        hw, ht = mapping.hw, mapping.hw.htree
        sub_um2 = sum(pe_area_um2(hw).values())

        def pitch_mm(arrays: float) -> float:
            return sqrt(arrays * sub_um2) / 1e3

        def arrays(side: int) -> int:
            return (side // hw.crossbar.rows) * (side // hw.crossbar.cols)

        pe_cm, pe_nm = pitch_mm(arrays(self.pe_cm)), pitch_mm(arrays(self.pe_nm))
        tile_cm = pitch_mm(arrays(self.tile_cm))
        tile_nm = pitch_mm(self.n_pe_nm * arrays(self.pe_nm))
        g_delay, g_energy = tree_paths(ceil(sqrt(mapping.total_tiles)))
        cm_delay, cm_energy = tree_paths(self.n_pe_cm)
        nm_delay, nm_energy = tree_paths(self.n_pe_nm)

        def cycles(pitch: float, path: int) -> int:
            return ceil(ht.wire_delay_ns_per_mm * pitch * path / hw.clock_period_ns - 1e-9)

        self.global_cycles = {"conventional": cycles(tile_cm, g_delay),
                              "novel": cycles(tile_nm, g_delay)}
        self.tile_cycles = {"conventional": cycles(pe_cm, cm_delay),
                            "novel": cycles(pe_nm, nm_delay)}
        self.global_pj_per_bit = {
            "conventional": ht.global_energy_pj_per_bit_mm_conventional * tile_cm * g_energy,
            "novel": ht.global_energy_pj_per_bit_mm_novel * tile_nm * g_energy}
        self.tile_pj_per_bit = {
            "conventional": ht.tile_energy_pj_per_bit_mm_conventional * pe_cm * cm_energy,
            "novel": ht.tile_energy_pj_per_bit_mm_novel * pe_nm * nm_energy}
        self.global_tree_um2 = (ht.global_area_um2_per_bit_mm * self.global_bus
                                * max(tile_cm, tile_nm) * g_energy)
        self.tile_tree_um2 = {
            "conventional": ht.tile_area_um2_per_bit_mm_conventional * self.bus_cm * pe_cm
            * cm_energy,
            "novel": ht.tile_area_um2_per_bit_mm_novel * self.bus_nm * pe_nm * nm_energy}


def layer_cycles(chip: _Chip, mapping: Mapping, lm) -> dict[str, float]:
    """NeuroSim's per-layer cycle counts by component: adc, accum, buffer, ic, other
    (ReLU + pool), and the bits each H-tree carries (for energy)."""
    ht = mapping.hw.htree
    t, node = lm.tiling, lm.node
    b, mux, cps, R = chip.b, chip.mux, chip.cps, chip.R
    nv = lm.vectors
    niv = nv * b  # NeuroSim's numInVector inside tiles: vectors x input bits
    su = t.copies
    cout = t.cols // cps
    pool = any("pool" in n.kind for n in lm.owned)
    k_h = node.kernel[0]
    novel = t.style == "novel"
    ac = ht.adder_stage_cycles
    reads = nv * (mux // cps)  # QUIRK: (int)(numInVector/numBitInput) * ceil(mux/cps), int mux/cps
    adc = nv * b * mux / su
    # SubArray.cpp: shiftAddWeight numColMuxed + shiftAddInput mux/cps cycles per input bit
    accum = adc * (mux + mux // cps) / mux
    if novel:
        rows_tile = min(chip.pe_nm * chip.n_pe_nm, t.rows)
        cols_tile = min(chip.pe_nm, t.cols)
        pe_rows = rows_tile // chip.n_pe_nm
        row_tiles = ceil(t.rows // k_h // k_h / chip.pe_nm) * t.replicas
    else:
        rows_tile = min(chip.tile_cm, t.rows)
        cols_tile = min(chip.tile_cm, t.cols)
        pe_rows = min(chip.pe_cm, rows_tile)
        row_tiles = ceil(t.rows / chip.tile_cm) * t.replicas
    pe_cols = min(chip.pe_nm if novel else chip.pe_cm, cols_tile)
    # PE adder tree over the PE's subarray rows (divided by the speed-up with the PE's time)
    accum += reads * _stages(ceil(pe_rows / R)) * ac / su
    # tile accumulation; "full" duplication when the copies fill the tile's PEs both ways
    dup_in_pe = (not novel and su > 1 and su // t.col_copies >= chip.n_pe_cm
                 and t.col_copies >= chip.n_pe_cm)
    if novel:
        accum += reads * _stages(chip.n_pe_nm) * ac
    elif su == 1:
        accum += reads * _stages(chip.n_pe_cm) * ac
    elif not dup_in_pe:
        accum += reads * _stages(ceil(rows_tile / chip.pe_cm)) * ac
    # global accumulation across row tiles. QUIRK: in pipeline mode NeuroSim counts the
    # replicas as row tiles (numTileEachLayer[0]), so a replicated layer pays a global adder tree
    if row_tiles > 1:
        accum += ceil(t.cols * nv / chip.relu_units) * _stages(row_tiles) * ac
    # PE DFF buffers. QUIRK: integer divisions as in ProcessingUnit.cpp
    dff_out = chip.pe_dff_out_nm if novel else chip.pe_dff_out_cm
    pe_buf = (pe_rows * niv // chip.pe_dff_in
              + (pe_cols // cps) * chip.pe_adder_bits * niv // b // dff_out)
    pe_buf /= chip.n_pe_cm ** 2 if dup_in_pe else su
    # tile buffers: one line per cycle read + write, over min(cores, bus / port) cores.
    # QUIRK: NM tiles use the CM tiles' core counts (Tile.cpp's globals numInBufferCore and
    # numOutBufferCore are overwritten by the CM initialisation).
    port = ht.tile_buffer_port_bits
    if novel:
        in_bits = rows_tile * niv / sqrt(chip.n_pe_nm)
        out_bits = ceil(cols_tile / cps) * (1 + chip.acc_bits_nm) * niv / b / chip.n_pe_nm
        bus, out_port, in_port = chip.bus_nm, chip.out_port_nm, port
        tile_cycles = chip.tile_cycles["novel"]
        out_div = min(chip.out_cores, ceil(bus / in_port))  # QUIRK: input port for output
    else:
        in_bits = rows_tile * niv
        out_bits = ceil(cols_tile / cps) * (1 + chip.acc_bits_cm) * niv / b
        bus, out_port, in_port = chip.bus_cm, chip.out_port_cm, chip.in_port_cm
        tile_cycles = chip.tile_cycles["conventional"]
        out_div = min(chip.out_cores, ceil(bus / out_port))
    tile_buf = (2 * in_bits / in_port / min(chip.in_cores, ceil(bus / in_port))
                + 2 * out_bits / out_port / out_div)
    tile_transfers = (in_bits + out_bits) / bus
    # global buffer and H-tree: the layer's input out of and output into the global buffer
    g_out = t.rows * b * nv / (k_h if novel else 1)
    g_in = cout * b * nv / (4 if pool else 1)
    gport = ht.global_buffer_port_bits
    g_buf = ((g_out + g_in) / gport / min(chip.global_cores, ceil(chip.global_bus / gport))
             * ceil(chip.total_tiles / lm.tiles))
    g_transfers = ceil((g_out + g_in) / chip.global_bus)
    g_cycles = chip.global_cycles[t.style]
    relu = ceil(nv * cout / chip.relu_units)
    pool_cycles = 0
    if pool:
        per = chip.pe_nm / sqrt(chip.n_pe_nm) if novel else chip.tile_cm
        pool_cycles = ceil(nv / 4 / per) * ht.pool_cycles_per_read
    return {
        "adc": adc, "accum": accum, "buffer": pe_buf + tile_buf + g_buf,
        "ic": tile_transfers * tile_cycles + g_transfers * g_cycles,
        "other": relu + pool_cycles,
        "tile_bits": tile_transfers * bus * (lm.tiles // t.replicas),
        "global_bits": g_transfers * chip.global_bus,
        "global_buffer_bits": g_out + g_in,
    }


def run_neurosim(mapping: Mapping, engine: str, activity=None, images: int = 1) -> Stats:
    """Latency, energy and area of one inference under NeuroSim's accounting; `engine` names
    the engine that was asked for (both give this model). NeuroSim accounts one image: several
    are refused rather than extrapolated."""
    if images != 1:
        raise EnasimError("NeuroSim's accounting covers one image (--images 1); stream images "
                          "under enasim's timing with --accounting overlapped --noc MODEL")
    hw = mapping.hw
    chip = _Chip(mapping)
    stats = new_stats(engine, mapping)
    stats.accounting, stats.noc_model = "neurosim", "htree"
    stats.area_um2 = neurosim_area_um2(mapping, chip)
    now = 0
    for lm in mapping.layers:
        plan = plan_layer(lm, hw, (activity or {}).get(lm.name))
        ls = new_layer_stats(plan)
        charge_steps(ls, plan, lm.vectors)
        charge_once(ls, plan)
        c = layer_cycles(chip, mapping, lm)
        style = lm.tiling.style
        ls.energy_pj["noc"] += (c["tile_bits"] * chip.tile_pj_per_bit[style]
                                + c["global_bits"] * chip.global_pj_per_bit[style])
        buf = hw.tile.input_buffer
        ls.energy_pj["buffer"] += c["global_buffer_bits"] * (buf.read_energy_pj_per_bit
                                                              + buf.write_energy_pj_per_bit)
        ls.adc_cycles = round(c["adc"])
        ls.digital_cycles = round(c["accum"] + c["other"])
        ls.buffer_cycles = round(c["buffer"])
        ls.noc_cycles = round(c["ic"])
        ls.counts.update({f"neurosim_{k}_cycles": v for k, v in c.items()
                          if k in ("adc", "accum", "buffer", "ic", "other")})
        latency = ls.adc_cycles + ls.digital_cycles + ls.buffer_cycles + ls.noc_cycles
        ls.start_cycle, ls.end_cycle = now, now + latency
        if not chip.pipeline:
            charge_leakage(ls, stats)
            now += latency
        stats.layers.append(ls)
    if chip.pipeline:
        _pipeline_leakage(mapping, stats)
    return stats


def _pipeline_leakage(mapping: Mapping, stats: Stats) -> None:
    """NeuroSim's pipeline mode (main.cpp): every layer starts each period, the period is the
    slowest layer's latency (what NeuroSim reports as the chip's latency per image), and a
    layer's tiles leak while they wait for the period to end: (period - latency) x their
    leakage, here enasim's chip leakage shared by the layer's crossbars."""
    period = stats.latency_cycles
    for lm, ls in zip(mapping.layers, stats.layers, strict=True):
        share = lm.arrays_allocated / mapping.total_arrays
        ls.energy_pj["leakage"] = leakage_pj(stats, period - ls.latency_cycles) * share


def neurosim_area_um2(mapping: Mapping, chip: _Chip) -> dict[str, float]:
    """enasim's area of PEs and tiles, with the routers replaced by the H-trees ("noc") and the
    global buffer added ("buffer")."""
    hw, ht = mapping.hw, mapping.hw.htree
    out = chip_area_um2(hw, mapping.total_arrays, mapping.total_tiles)
    n_nm = sum(lm.tiles for lm in mapping.layers if lm.tiling.style == "novel")
    n_cm = mapping.total_tiles - n_nm
    out["noc"] = (chip.global_tree_um2 + n_nm * chip.tile_tree_um2["novel"]
                  + n_cm * chip.tile_tree_um2["conventional"])
    out["buffer"] += chip.global_cores * ht.global_buffer_core_area_um2
    return out
