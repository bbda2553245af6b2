"""HardwareConfig: frozen dataclasses, one per block of the chip (DESIGN sections 4 and 5).

Every field has a unit in its name, a range and a help string, and no default: every number
comes from a hwconfig file (or the base it `extends:`), where it stands with its source.
`enasim.config.load` reads a YAML file into these classes, rejecting missing and unknown keys,
wrong types and out-of-range values with errors that name the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOC_MODELS = ("compiled", "process", "ideal")  # mesh models of the event engine (--noc)
# noc.model also takes 'htree': NeuroSim V1.3's H-trees, with timing.accounting 'neurosim'
NOC_MODEL_CHOICES = (*NOC_MODELS, "htree")
ACCOUNTINGS = ("overlapped", "neurosim")  # timing.accounting, --accounting
ENGINES = ("sim", "analytical")  # the event engine, or the closed-form model (--engine)
COMPILED_MAX_VCS = 12  # noc/compiled.py keeps a router's 5 x num_vcs input VCs in a 64-bit mask

# Upper bounds that no chip reaches, so that a typo (1e12 rows) is an error, not hours of work:
ARRAY_MAX = 4096         # rows/columns: IR drop limits real ReRAM arrays to about 1k x 1k
UNITS_MAX = 256          # PEs per CE, CEs per tile
MESH_MAX = 128           # 16k tiles of >= 1 mm^2: a wafer-scale chip
VCS_MAX = 64             # virtual channels per port (BookSim configs use <= 16)
WIDTH_MAX = 65536        # bits or elements per cycle, flits per buffer, scheduler entries
BUFFER_BITS_MAX = 2**32  # 512 MiB in one tile buffer
CYCLES_MAX = 1024        # pipeline and channel latencies of one block
NODE_NM_MAX = 1000       # technology node


DERIVED = "derived"  # a field's value computed from others by the rule its help names


def _f(help: str, *, min: float | None = 0, max: float | None = None, strict: bool = False,
       choices: tuple[str, ...] = (), auto: bool = False, derived: bool = False) -> Any:
    """A config field (no default: every value comes from a hwconfig file or its base):
    `strict` makes `min` exclusive; `auto` also accepts the string 'auto'; `derived` also
    accepts the string 'derived' (the value then follows other fields, enasim.cost.adc)."""
    meta = {"help": help, "min": min, "max": max, "strict": strict, "choices": choices,
            "auto": auto, "derived": derived}
    return field(metadata=meta)


def _section(cls: type) -> Any:
    return field(metadata={"help": cls.__doc__ or ""})


@dataclass(frozen=True)
class Technology:
    """Process technology."""

    node_nm: int = _f("technology node", min=1, max=NODE_NM_MAX)


@dataclass(frozen=True)
class Clock:
    """Chip clock. With neurosim_compat.clock_from_sensing the period is sensing cycle x beta."""

    period_ns: float = _f("clock period", strict=True)
    sensing_cycle_ns: float | str = _f("crossbar sensing cycle (NeuroSim clock rule); "
                                       "'derived': sensing_access_ns + adc.sense_time_ns + the "
                                       "encoder delay at adc.bits", strict=True, derived=True)
    sensing_access_ns: float = _f("NeuroSim sensing cycle before the sense amps: "
                                  "max(WL switch matrix, column mux + its decoder) + bit-line "
                                  "RC; depends on crossbar size and adc.cols_per_adc (not "
                                  "derived)")
    sensing_beta: float = _f("NeuroSim's clock margin factor beta", strict=True)


@dataclass(frozen=True)
class Crossbar:
    """One ReRAM crossbar array (the PE's memory) and its cells."""

    rows: int = _f("rows (word lines)", min=1, max=ARRAY_MAX)
    cols: int = _f("columns (bit lines)", min=1, max=ARRAY_MAX)
    cell_bits: int = _f("bits stored per cell", min=1, max=8)
    rows_parallel: int = _f("rows read at once; fewer than `rows` adds read phases", min=1,
                            max=ARRAY_MAX)
    r_on_ohm: float = _f("low-resistance state", strict=True)
    r_off_ohm: float = _f("high-resistance state", strict=True)
    read_voltage_v: float = _f("read voltage", strict=True)
    cell_area_um2: float = _f("area of one cell (array area / cells)", strict=True)
    col_pitch_um: float = _f("width of one column (sets the ADC encoder's layout width)",
                             strict=True)
    cell_read_energy_fj: float = _f("energy per active cell per read; used only by the "
                                    "'table' ADC model (the 'neurosim' model includes it)")


@dataclass(frozen=True)
class Precision:
    """Number formats."""

    weight_bits: int = _f("weight bits (sliced over ceil(weight_bits/cell_bits) columns)",
                          min=1, max=32)
    input_bits: int = _f("activation bits, applied one bit per read phase", min=1, max=32)
    output_bits: int = _f("bits of each output activation written back", min=1, max=32)
    signed_weights: str = _f("signed-weight scheme (enasim.kernels.mac_spec): 'offset' "
                             "stores w + 2^(weight_bits-1) and subtracts the offset digitally; "
                             "'differential' stores max(w,0) and max(-w,0) on a column pair",
                             choices=("offset", "differential"))


@dataclass(frozen=True)
class Adc:
    """Column ADCs, shared by `cols_per_adc` columns through a mux."""

    bits: int = _f("resolution", min=1, max=16)
    cols_per_adc: int = _f("columns sharing one ADC", min=1, max=ARRAY_MAX)
    cycles_per_conversion: int = _f("clock cycles per conversion", min=1, max=CYCLES_MAX)
    energy_model: str = _f("energy model", choices=("neurosim", "table"))
    area_um2: float | str = _f("area of one ADC; 'derived': NeuroSim's MLSA + encoder "
                               "layout at `bits` and `cols_per_adc` (docs/models.md)",
                               strict=True, derived=True)
    comparator_area_um2: float = _f("area of one comparator (current sense amp + latch); "
                                    "2^bits - 1 per ADC", strict=True)
    encoder_level_height_um: float = _f("encoder layout height per ADC level (one gate row)",
                                        strict=True)
    encoder_width_um: float = _f("encoder width without its wide NAND's inputs", strict=True)
    encoder_width_um_per_input: float = _f("encoder width per input of its wide NAND "
                                           "(2^(bits-1) inputs)", strict=True)
    encoder_stage1_ns: float = _f("encoder delay: first gate stage")
    encoder_tau_ns: float = _f("encoder delay: RC constant of the second stage's own output")
    encoder_tau_ns_per_input: float = _f("encoder delay: RC constant per wide-NAND input "
                                         "loading the second stage")
    comparator_power_uw_per_level: float = _f("neurosim model: sense-amp power per "
                                              "comparator (2^bits - 1 of them)")
    sense_time_ns: float = _f("neurosim model: sensing time per conversion", strict=True)
    column_power_coeff: float = _f("neurosim model: column power = coeff * "
                                   "exp(exponent * log10(R_col)) watts")
    column_power_exponent: float = _f("neurosim model: see column_power_coeff",
                                      min=None)
    table_energy_pj: float = _f("table model: energy per conversion")
    range_mode: str = _f("input range (enasim.kernels.mac_spec): 'full' spans the "
                         "largest possible column sum; 'calibrated' clips at a percentile of "
                         "the layer's column sums; 'partial_rows' drives only as many rows as "
                         "the ADC resolves exactly", choices=("full", "calibrated", "partial_rows"))
    calibration_percentile: float = _f("calibrated range: clip at this percentile of the "
                                       "column sums of the layer's data", strict=True, max=100.0)


@dataclass(frozen=True)
class Pe:
    """Crossbar processing element: one array, its ADCs, shift-and-add and switch matrices."""

    shift_add_energy_pj: float = _f("shift-and-add, per column conversion")
    switch_matrix_energy_pj: float = _f("WL/SL switch matrices and mux, per conversion")
    shift_add_area_um2: float = _f("shift-and-add area per PE")
    periphery_area_um2: float = _f("switch matrices, mux, level shifters per PE")
    leakage_uw: float = _f("leakage power per PE")
    shift_add_cycles: int = _f("pipeline latency of shift-and-add", min=0, max=CYCLES_MAX)


@dataclass(frozen=True)
class Ce:
    """Compute element: a group of PEs."""

    pes_per_ce: int | str = _f("PEs per CE ('auto' with mapping.scheme neurosim)",
                               min=1, max=UNITS_MAX, auto=True)


@dataclass(frozen=True)
class Buffer:
    """An SRAM/register-file buffer with one read and one write port."""

    capacity_bits: int = _f("capacity", min=1, max=BUFFER_BITS_MAX)
    port_bits: int = _f("bits per cycle through each port", min=1, max=WIDTH_MAX)
    read_energy_pj_per_bit: float = _f("read energy per bit")
    write_energy_pj_per_bit: float = _f("write energy per bit")
    area_um2: float = _f("area")
    leakage_uw: float = _f("leakage power")


@dataclass(frozen=True)
class DigitalUnit:
    """A digital block (adder tree, activation, pooling) of a tile."""

    energy_pj_per_op: float = _f("energy per operation (one element)")
    area_um2: float = _f("area")
    cycles: int = _f("pipeline latency", min=0, max=CYCLES_MAX)
    ops_per_cycle: int = _f("throughput in elements per cycle", min=1, max=WIDTH_MAX)
    leakage_uw: float = _f("leakage power")


@dataclass(frozen=True)
class Tile:
    """A tile: CEs, I/O buffers, accumulator, activation, pooling and depthwise units, one
    router."""

    ces_per_tile: int | str = _f("CEs per tile ('auto' with mapping.scheme neurosim)",
                                 min=1, max=UNITS_MAX, auto=True)
    input_buffer: Buffer = _section(Buffer)
    output_buffer: Buffer = _section(Buffer)
    accumulator: DigitalUnit = _section(DigitalUnit)
    activation: DigitalUnit = _section(DigitalUnit)
    pooling: DigitalUnit = _section(DigitalUnit)
    depthwise_unit: DigitalUnit = _section(DigitalUnit)  # present with mapping.depthwise digital


@dataclass(frozen=True)
class Noc:
    """2-D mesh network-on-chip, X-Y routing, BookSim2-style input-queued routers."""

    mesh_rows: int | str = _f("mesh rows; 'auto' sizes a square mesh to the workload",
                              min=1, max=MESH_MAX, auto=True)
    mesh_cols: int | str = _f("mesh columns; 'auto' as mesh_rows", min=1, max=MESH_MAX,
                              auto=True)
    flit_bits: int = _f("link width", min=1, max=WIDTH_MAX)
    num_vcs: int = _f("virtual channels per input port", min=1, max=VCS_MAX)
    vc_buf_flits: int = _f("buffer depth per VC", min=1, max=WIDTH_MAX)
    max_packet_flits: int = _f("largest packet: a tile's message to another tile is split into "
                               "packets of at most this many flits", min=1, max=WIDTH_MAX)
    routing_delay: int = _f("route computation cycles", min=0, max=CYCLES_MAX)
    va_delay: int = _f("VC allocation cycles", min=0, max=CYCLES_MAX)
    sa_delay: int = _f("switch allocation cycles", min=0, max=CYCLES_MAX)
    st_delay: int = _f("switch traversal cycles", min=0, max=CYCLES_MAX)
    link_delay: int = _f("cycles per link", min=1, max=CYCLES_MAX)
    io_cycles: int = _f("injection + ejection channel cycles", min=0, max=CYCLES_MAX)
    model: str = _f("how the engine moves data: the cycle-level mesh (Numba "
                    "'compiled' or SimPy 'process', identical results), 'ideal' (zero-load "
                    "latency, no contention) or 'htree' (NeuroSim V1.3's chip and tile H-trees "
                    "and global buffer, section htree; needs timing.accounting 'neurosim')",
                    choices=NOC_MODEL_CHOICES)
    router_energy_pj_per_flit: float = _f("energy per flit per router traversal")
    link_energy_pj_per_flit: float = _f("energy per flit per link traversal")
    router_area_um2: float = _f("area of one router")
    router_leakage_uw: float = _f("leakage power of one router")


@dataclass(frozen=True)
class Htree:
    """NeuroSim V1.3's chip interconnect and buffers (HTree.cpp, Buffer.cpp, Chip.cpp), used by
    noc.model 'htree' with timing.accounting 'neurosim' (enasim.analytical.neurosim).

    Every activation goes root-to-leaf through a global buffer over a global H-tree, and inside
    a tile through tile buffers and a tile H-tree. A transfer of one bus width takes a whole
    number of cycles (ceil(wire delay x clock frequency), HTree.cpp); delay, energy and area
    follow each tree's path (its stages, in unit pitches) and pitch (PE or tile side), for
    conventional-mapping (CM) and novel-mapping (NM) tiles."""

    global_bus_max_bits: int = _f("upper bound of the global bus width (maxGlobalBusWidth); the "
                                  "width is the sum over layers of tile-side + side/cols_per_adc "
                                  "bits, halved until at most this", min=1, max=WIDTH_MAX)
    wire_delay_ns_per_mm: float = _f("delay of the H-trees' repeated wires per mm of path; a "
                                     "transfer takes ceil(delay x path / clock) cycles, the path "
                                     "in PE or tile pitches (square, of enasim's subarray area) "
                                     "by HTree.cpp's stages", strict=True)
    global_energy_pj_per_bit_mm_conventional: float = _f("global H-tree energy per bit carried "
                                                         "per mm of energy path, to a CM tile")
    global_energy_pj_per_bit_mm_novel: float = _f("global H-tree energy per bit per mm of "
                                                  "energy path, to an NM tile")
    tile_energy_pj_per_bit_mm_conventional: float = _f("tile H-tree (and PE bus) energy per bit "
                                                       "per mm of energy path in a CM tile")
    tile_energy_pj_per_bit_mm_novel: float = _f("tile H-tree (and PE bus) energy per bit per mm "
                                                "of energy path in an NM tile")
    global_area_um2_per_bit_mm: float = _f("global H-tree area per bit of bus width per mm of "
                                           "path (the larger tile pitch)")
    tile_area_um2_per_bit_mm_conventional: float = _f("a CM tile's H-tree area per bit of bus "
                                                      "width per mm of path")
    tile_area_um2_per_bit_mm_novel: float = _f("an NM tile's H-tree area per bit of bus width "
                                               "per mm of path")
    global_buffer_core_bits: int = _f("bits in one global-buffer register-file core (the "
                                      "buffer holds the largest layer input x input_bits)",
                                      min=1, max=BUFFER_BITS_MAX)
    global_buffer_port_bits: int = _f("bits per global-buffer line (one line per cycle per "
                                      "core)", min=1, max=WIDTH_MAX)
    global_buffer_core_area_um2: float = _f("area of one global-buffer core")
    tile_buffer_core_bits: int = _f("bits in one tile-buffer register-file core", min=1,
                                    max=BUFFER_BITS_MAX)
    tile_buffer_port_bits: int = _f("bits per tile-buffer line", min=1, max=WIDTH_MAX)
    adder_stage_cycles: int = _f("cycles of one adder-tree stage (Adder.cpp: ceil(ripple "
                                 "delay x clock frequency))", min=0, max=CYCLES_MAX)
    pool_cycles_per_read: int = _f("cycles per read of the chip's max-pooling unit", min=0,
                                   max=CYCLES_MAX)


@dataclass(frozen=True)
class Timing:
    """How a layer's component times make its latency."""

    accounting: str = _f("'overlapped': buffer, conversion and interconnect time overlap "
                         "(enasim's step pipeline on the mesh); 'neurosim': NeuroSim V1.3's "
                         "serial sum of ADC, accumulation, buffer, H-tree and digital cycles "
                         "per layer (needs mapping.scheme 'neurosim' and noc.model 'htree'; "
                         "execution.mode 'pipelined' is NeuroSim's pipeline mode and needs "
                         "mapping.duplication 'balance')", choices=ACCOUNTINGS)


@dataclass(frozen=True)
class Mapping:
    """How layers become crossbars, tiles and mesh positions."""

    scheme: str = _f("tiling rule: FLASH eqs. 5-7, or NeuroSim V1.3's floorplan",
                     choices=("flash", "neurosim"))
    duplication: str = _f("weight duplication: 'tile' onto idle arrays of a layer's tiles; "
                          "'balance' also NeuroSim V1.3's pipeline re-duplication, extra "
                          "tiles so that layers with larger inputs get more copies (needs "
                          "scheme 'neurosim')", choices=("none", "tile", "balance"))
    depthwise: str = _f("depthwise convs (one input channel per group): 'packed' on crossbars "
                        "like other grouped convs (each group's K*K*C_in/G rows and its outputs' "
                        "columns a diagonal block, as many blocks per array as fit) or "
                        "'digital' on the tiles' depthwise units (tile.depthwise_unit, in every "
                        "tile; one op = one MAC)", choices=("packed", "digital"))
    placement: str = _f("order of tiles on the mesh",
                        choices=("row_major", "snake"))
    pipeline_speedup_degree: int = _f("NeuroSim's speedUpDegree, used by duplication "
                                      "'balance': layer l gets ceil((IFM_l / ceil(IFM_1 / "
                                      "degree))^2) copies; capped at IFM_1 / (smallest IFM of "
                                      "a K > 1 layer), as NeuroSim does", min=1)


@dataclass(frozen=True)
class Execution:
    """How layers are scheduled."""

    mode: str = _f("layer_by_layer: a layer starts when its predecessor is "
                   "done; pipelined: as soon as its first input windows have arrived",
                   choices=("layer_by_layer", "pipelined"))


@dataclass(frozen=True)
class NeurosimCompat:
    """NeuroSim V1.3 counting rules, to compare with NeuroSim exactly (docs/validation.md)."""

    unpadded_vectors: bool = _f("input vectors = (H-K+1)(W-K+1)/stride^2")
    ifm_ops: bool = _f("ops = 2*H*W*C_in*K^2*C_out (IFM-sized) instead of 2*MACs")
    clock_from_sensing: bool = _f("clock period = sensing_cycle_ns * sensing_beta")


@dataclass(frozen=True)
class Activity:
    """Data activity assumed when no weights/inputs are given."""

    input_bit_density: float = _f("fraction of input bits that are 1 (row activity)",
                                  max=1.0)


@dataclass(frozen=True)
class Device:
    """Cell non-idealities of functional inference (`enasim infer`); draws use the run's seed."""

    variation: str = _f("conductance variation per cell: 'lognormal' G*exp(sigma*z), "
                        "'normal' G*max(0, 1+sigma*z), z ~ N(0,1)",
                        choices=("none", "lognormal", "normal"))
    variation_sigma: float = _f("sigma of the conductance variation (relative)")
    stuck_at_0_fraction: float = _f("fraction of cells stuck at the lowest level", max=1.0)
    stuck_at_1_fraction: float = _f("fraction of cells stuck at the highest level", max=1.0)
    on_off_ratio: float = _f("g_on / g_off: every cell conducts g_off = g_on / ratio on top "
                             "of its level; 0 means ideal cells (g_off = 0)")


@dataclass(frozen=True)
class Enasa:
    """ENASA supernet chip (enasim.mapping.supernet; the ops schedule): the OPS unit.

    No ENASA numbers are public (nas-workloads.md 4.1, 7); the bundled values are enasim's.
    """

    ops_decision_cycles: int = _f("OPS unit: cycles per dispatched operator (rank, check "
                                  "crossbars, issue)", min=0, max=CYCLES_MAX)
    ops_energy_pj_per_decision: float = _f("OPS unit: energy per dispatched operator")
    ops_buffer_entries: int = _f("OPS scheduling buffer: ready operators ranked at once",
                                 min=1, max=WIDTH_MAX)
    ops_area_um2: float = _f("OPS unit area (status register, buffer, scorer)")
    parallel_weight: float = _f("rank score weight of the parallel score (sub-nets that "
                                "need the operator on that input)")
    reuse_weight: float = _f("rank score weight of the data-reuse score (fraction of the "
                             "input resident in the operator's tile buffers)")
    tie_break: str = _f("rank ties: 'depth' (earlier block, then sub-net) or "
                        "'subnet' (lower sub-net index, then block)", choices=("depth", "subnet"))


@dataclass(frozen=True)
class HardwareConfig:
    """A whole chip."""

    name: str = _f("name of this configuration")
    technology: Technology = _section(Technology)
    clock: Clock = _section(Clock)
    crossbar: Crossbar = _section(Crossbar)
    precision: Precision = _section(Precision)
    adc: Adc = _section(Adc)
    pe: Pe = _section(Pe)
    ce: Ce = _section(Ce)
    tile: Tile = _section(Tile)
    noc: Noc = _section(Noc)
    htree: Htree = _section(Htree)
    timing: Timing = _section(Timing)
    mapping: Mapping = _section(Mapping)
    execution: Execution = _section(Execution)
    neurosim_compat: NeurosimCompat = _section(NeurosimCompat)
    activity: Activity = _section(Activity)
    device: Device = _section(Device)
    enasa: Enasa = _section(Enasa)

    @property
    def clock_period_ns(self) -> float:
        c = self.clock
        if self.neurosim_compat.clock_from_sensing:
            return self.sensing_cycle_ns * c.sensing_beta
        return c.period_ns

    @property
    def sensing_cycle_ns(self) -> float:
        """clock.sensing_cycle_ns, or its derived value."""
        from enasim.cost.adc import resolved
        return resolved(self, "clock.sensing_cycle_ns")

    @property
    def adc_area_um2(self) -> float:
        """adc.area_um2, or its derived value."""
        from enasim.cost.adc import resolved
        return resolved(self, "adc.area_um2")

    @property
    def weight_slices(self) -> int:
        """Columns per weight: ceil(weight_bits / cell_bits)."""
        return -(-self.precision.weight_bits // self.crossbar.cell_bits)

    @property
    def columns_per_weight(self) -> int:
        """Crossbar columns a weight occupies: its slices, twice for differential pairs."""
        pairs = 2 if self.precision.signed_weights == "differential" else 1
        return self.weight_slices * pairs

    @property
    def adcs_per_pe(self) -> int:
        return -(-self.crossbar.cols // self.adc.cols_per_adc)
