"""A whole supernet preloaded on crossbars: ENASA's chip (nothing is rewritten between sub-nets).

`SupernetChip` maps every operator of a supernet once: dense convs / FC by FLASH's tiling
(K*K*C_in rows x C_out*slices columns in R x C arrays), depthwise convs either packed
block-diagonally by the main mapping's rule (`enasim.mapping.tiling.grouped_shape`: floor(R /
k^2) channels per array, each channel its own k^2 rows and slice columns) or on the digital
depthwise units (tile.depthwise_unit) of the tiles of the pw conv that reads them
(`mapping.depthwise`). Operators get whole CEs (ISAAC's IMAs), packed CE after CE into tiles;
with `mapping.duplication: tile` the idle arrays of an operator's CEs hold weight copies. The
chip is to the `ops` schedule (`enasim.sim.ops`) what a `Mapping` is to the others: each
crossbar operator carries a `LayerMap`, so the engine plans and times it like any weight layer.
The supernet is this mapping's workload, as a `Network` is `map_network`'s, hence the import
from `enasim.nas.spaces`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from enasim.config.schema import HardwareConfig
from enasim.cost import chip_area_um2, leakage_uw
from enasim.errors import ConfigError
from enasim.mapping.mapper import LayerMap
from enasim.mapping.placement import mesh_shape, place
from enasim.mapping.tiling import LayerTiling, MappingError, grouped_shape
from enasim.nas.spaces.supernet import Supernet, SupernetOp
from enasim.workload.ir import Conv2d, Linear, Node

DEPTHWISE_MAPPINGS = ("packed", "digital")


@dataclass(frozen=True)
class OpPlacement:
    """One supernet operator on the chip."""

    op: SupernetOp
    node: Node  # the operator as an IR node (one image)
    lm: LayerMap | None  # its crossbars (None: a depthwise conv on the tiles' digital units)
    ces: int  # CEs allocated (0 when digital)
    tile_ids: tuple[int, ...]
    nodes: tuple[int, ...]  # mesh node of each tile
    resource: str  # what one computation occupies: its crossbars or a depthwise unit
    buffers: str  # the operator whose share of the tile input buffers holds its inputs
    buffer_bits: float  # that share

    @property
    def digital(self) -> bool:
        return self.lm is None

    @property
    def busy_arrays(self) -> int:
        """Arrays working while one computation runs (all copies)."""
        return 0 if self.lm is None else self.lm.tiling.arrays * self.lm.tiling.copies


@dataclass(eq=False)
class SupernetChip:
    """Every operator of `net` preloaded on the chip `hw` (see the module docstring)."""

    net: Supernet
    hw: HardwareConfig
    depthwise: str | None = None  # None: the hwconfig's mapping.depthwise
    cache: dict = field(default_factory=dict, repr=False)  # the engine's plans and tile pairs

    def __post_init__(self):
        self.depthwise = self.depthwise or self.hw.mapping.depthwise
        if self.depthwise not in DEPTHWISE_MAPPINGS:
            raise ConfigError("", "depthwise", f"expected 'packed' or 'digital', got "
                              f"{self.depthwise!r}")
        self.placements = self._place()

    def _place(self) -> dict[str, OpPlacement]:
        hw, xb = self.hw, self.hw.crossbar
        per_ce, ces_per_tile = hw.ce.pes_per_ce, hw.tile.ces_per_tile
        if not isinstance(per_ce, int) or not isinstance(ces_per_tile, int):
            raise ConfigError(hw.name, "ce.pes_per_ce", "the supernet chip needs integer "
                              "ce.pes_per_ce and tile.ces_per_tile (not 'auto')")
        dense: list[tuple[SupernetOp, Node, LayerTiling, int, int]] = []
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
                                 0, per_ce * ces, "grouped" if op.groups > 1 else "flash",
                                 groups=op.groups)
            dense.append((op, node, tiling, ce, ces))
            ce += ces
        self.total_ces = ce
        self.total_tiles = -(-ce // ces_per_tile)
        rows, cols = mesh_shape(self.total_tiles, hw.noc.mesh_rows, hw.noc.mesh_cols)
        if self.total_tiles > rows * cols:
            raise MappingError(f"supernet '{self.net.name}' needs {self.total_tiles} tiles "
                               f"({self.total_ces} CEs) but {hw.name} has {rows}x{cols} "
                               f"(noc.mesh_rows x noc.mesh_cols); enlarge the mesh or use 'auto'")
        self.mesh_rows, self.mesh_cols = rows, cols
        self.tile_nodes = place(self.total_tiles, cols, hw.mapping.placement)
        in_buf = hw.tile.input_buffer.capacity_bits
        out: dict[str, OpPlacement] = {}
        for index, (op, node, t, first, ces) in enumerate(dense, start=1):
            tiles = tuple(range(first // ces_per_tile, (first + ces - 1) // ces_per_tile + 1))
            t = replace(t, tiles=len(tiles))
            lm = LayerMap(index, node, t, node.input_vectors(), tiles, ())
            out[op.key] = OpPlacement(op, node, lm, ces, tiles,
                                      tuple(self.tile_nodes[i] for i in tiles), op.key,
                                      op.key, in_buf * ces / ces_per_tile)
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
                                           f"it in its block; use mapping.depthwise 'packed'")
                    host = out[reader.key]
                    out[op.key] = OpPlacement(op, _node(op), None, 0, host.tile_ids, host.nodes,
                                              f"dw@{reader.key}", reader.key, host.buffer_bits)
        return {op.key: out[op.key] for op in self.net.all_ops}

    def _tiling_shape(self, op: SupernetOp) -> tuple[tuple[int, ...], int, int]:
        """(rows per row block, physical columns, arrays) of one weight copy."""
        R, C = self.hw.crossbar.rows, self.hw.crossbar.cols
        slices = self.hw.weight_slices
        cols = op.c_out * slices
        if op.kind == "dwconv":
            block_rows, arrays = grouped_shape(_node(op), slices, R, C)
            return block_rows, cols, arrays
        rows = op.k**2 * op.c_in
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
            used += p.op.weights * self.hw.weight_slices * p.lm.tiling.copies
            alloc += p.ces * self.hw.ce.pes_per_ce * cells
        return used / alloc if alloc else 0.0

    @cached_property
    def area_um2(self) -> dict[str, float]:
        area = chip_area_um2(self.hw, self.total_arrays, self.total_tiles, self.depthwise)
        area["ops_unit"] = self.hw.enasa.ops_area_um2
        return area

    @cached_property
    def leakage_uw(self) -> float:
        return leakage_uw(self.hw, self.total_arrays, self.total_tiles, self.depthwise)

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


def _node(op: SupernetOp) -> Node:
    """The operator as an IR node (for the mapping and plan code)."""
    if op.kind == "linear":
        return Node(op.key, Linear(op.c_out, op.bias), ("x",), ((op.c_in, 1, 1),),
                    (op.c_out, 1, 1))
    return Node(op.key, Conv2d(op.c_out, (op.k, op.k), op.stride, op.pad, op.groups),
                ("x",), ((op.c_in, op.h_in, op.w_in),), (op.c_out, op.h_out, op.w_out))
