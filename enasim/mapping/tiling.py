"""Crossbar tiling of weight layers: how many arrays and tiles each layer takes, and its copies.

Two schemes (hwconfig `mapping.scheme`):

* `flash` (FLASH eqs. 5-7, DESIGN section 4): a layer's unrolled weight matrix (K*K*C_in rows,
  C_out * slices columns) is cut into N_r x N_c arrays of R x C cells; it gets
  T = ceil(N_r * N_c / arrays_per_tile) whole tiles, and with `duplication: tile` the idle arrays
  of those tiles hold extra copies (the speed-up), so copies work on different input vectors.
* `neurosim`: DNN_NeuroSim V1.3's floorplan rules (Chip.cpp, ChipFloorPlan), so that tiles and
  speed-ups equal NeuroSim's: 3x3-type convs with K*K*C_in >= R use its "novel mapping" (one PE
  per kernel position, numPENM PEs per tile), the rest "conventional mapping"; tile and PE sizes
  are the powers of two that maximise memory utilisation; copies come from PE- and subarray-level
  duplication inside those tiles. Where NeuroSim refuses a network (all its layers narrower than
  the minimum PE of 2R or tile of 4R columns), enasim uses those minimum sizes.

Grouped convolutions (G groups): each group is a K*K*C_in/G x (C_out/G)*slices block of the
unrolled matrix, zero elsewhere. A group that fits one array is packed block-diagonally,
floor(min(R / rows, C / cols)) groups an array, each column summing only its own group's rows
(one row block); a larger group is cut into arrays like a dense layer, group after group.
Depthwise convs (one input channel per group) follow `mapping.depthwise`: packed this way, or on
the tiles' digital depthwise units (then they are no crossbar layer, see `crossbar_layers`).
ENASA's supernet chip packs its depthwise operators with the same rule (`grouped_shape`).

`duplication: balance` (scheme `neurosim` only) adds NeuroSim's pipeline re-duplication
(Chip.cpp ChipDesignInitialize and OverallEachLayer with `pipeline = true`): layer l should have
speed-up ceil((IFM_l / ceil(IFM_1 / degree))^2), so that layers with larger feature maps, which
take more input vectors, get more copies and the pipeline stages even out; a layer whose floorplan
copies fall short gets ceil(speed-up / copies) replicas of its tiles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from math import ceil, log2

from enasim.config.schema import HardwareConfig
from enasim.errors import EnasimError
from enasim.workload.ir import Node


class MappingError(EnasimError):
    """The workload cannot be mapped onto the configured chip."""


@dataclass(frozen=True)
class LayerTiling:
    """How one weight layer sits on crossbars."""

    rows: int  # rows of the unrolled weight matrix (K*K*C_in: inputs of one output pixel)
    cols: int  # physical columns: output channels x weight slices
    block_rows: tuple[int, ...]  # rows in each row block (one partial sum each); of one group
    col_blocks: int
    arrays: int  # arrays holding one copy of the weights
    copies: int  # weight copies (speed-up)
    tiles: int
    arrays_per_tile: int  # arrays in each of the layer's tiles
    style: str  # "flash", "grouped" (block-diagonal groups), NeuroSim's "conventional" / "novel"
    pe_side: int = 0  # NeuroSim floorplan: PE side in cells (0 for flash)
    tile_side: int = 0  # NeuroSim floorplan: CM tile side / NM PE side in cells (0 for flash)
    pes_per_tile: int = 0  # NeuroSim floorplan: PEs in one of the layer's tiles (0 for flash)
    col_copies: int = 1  # NeuroSim floorplan: copies side by side (its speedUpEachLayer[1])
    replicas: int = 1  # duplication 'balance': copies of the layer's whole tile group
    groups: int = 1  # grouped conv: diagonal blocks of rows / groups x cols / groups cells

    @property
    def weight_cells(self) -> int:
        """Cells holding one copy of the weights."""
        return self.rows * self.cols // self.groups


# Crossbars a workload may take: 2**22 (4 million arrays, a wafer of 128x128 arrays) is far
# beyond any chip; a larger estimate is refused before the row blocks are listed.
MAX_ARRAYS = 2**22


def check_size(layers: tuple[Node, ...], hw: HardwareConfig) -> None:
    """Refuse a workload whose crossbars (one copy of the weights) would exceed MAX_ARRAYS."""
    slices = hw.columns_per_weight
    arrays = sum(_ceil_div(n.weight_rows, hw.crossbar.rows)
                 * _ceil_div(n.weight_cols * slices // n.groups, hw.crossbar.cols) * n.groups
                 for n in layers)
    if arrays > MAX_ARRAYS:
        raise MappingError(f"the workload needs about {arrays:.3g} crossbars of "
                           f"{hw.crossbar.rows}x{hw.crossbar.cols}, more than the {MAX_ARRAYS:,} "
                           f"enasim maps")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _split(n: int, size: int) -> tuple[int, ...]:
    """n rows in blocks of `size`: (size, size, ..., remainder)."""
    return tuple(min(size, n - i) for i in range(0, n, size))


def tile_layers(layers: tuple[Node, ...], hw: HardwareConfig,
                unpadded: bool) -> list[LayerTiling]:
    check_size(layers, hw)
    if hw.mapping.scheme == "neurosim":
        return _neurosim(layers, hw)
    return [_flash(n, hw, unpadded) for n in layers]


def _ifm(node: Node) -> int:
    """NeuroSim's IFM size (netStructure column 0): the input map's height; 1 for an FC."""
    return node.in_shapes[0][1] if node.kind == "conv2d" else 1


def pipeline_degree(layers: tuple[Node, ...], degree: int) -> int:
    """The speed-up degree NeuroSim uses: the configured one, capped at IFM_1 / (smallest IFM
    of a layer with K > 1), beyond which some layer would idle (ChipDesignInitialize; IFM_1 is
    the first layer's, which NeuroSim takes as the largest)."""
    first = _ifm(layers[0])
    smallest = min((_ifm(n) for n in layers if n.kernel[0] != 1), default=first)
    return min(degree, first // min(first, smallest))


def pipeline_speedups(layers: tuple[Node, ...], degree: int) -> list[int]:
    """Each layer's target speed-up under NeuroSim's pipeline: ceil((IFM_l / bound)^2) with
    bound = ceil(IFM_1 / effective degree)."""
    bound = ceil(_ifm(layers[0]) / pipeline_degree(layers, degree))
    return [ceil((_ifm(n) / bound) ** 2) for n in layers]


def is_depthwise(node: Node) -> bool:
    """A grouped conv with one input channel per group."""
    return node.groups > 1 and node.groups == node.in_shapes[0][0]


def crossbar_layers(layers: tuple[Node, ...], hw: HardwareConfig) -> tuple[Node, ...]:
    """The weight layers that sit on crossbars: all but depthwise convs mapped 'digital'."""
    if hw.mapping.depthwise == "digital":
        return tuple(n for n in layers if not is_depthwise(n))
    return layers


def grouped_shape(node: Node, slices: int, rows: int, cols: int) -> tuple[tuple[int, ...], int]:
    """(rows of each row block, arrays) of one copy of a grouped conv on rows x cols arrays;
    the layer's physical columns are C_out * slices (see the module docstring)."""
    g = node.groups
    g_rows, g_cols = node.weight_rows, node.weight_cols // g * slices
    if g_rows <= rows and g_cols <= cols:
        per_array = min(rows // g_rows, cols // g_cols)
        return (g_rows,), _ceil_div(g, per_array)
    blocks = _split(g_rows, rows)
    return blocks, g * len(blocks) * _ceil_div(g_cols, cols)


def _flash(node: Node, hw: HardwareConfig, unpadded: bool) -> LayerTiling:
    R, C = hw.crossbar.rows, hw.crossbar.cols
    rows, cols = node.weight_rows * node.groups, node.weight_cols * hw.columns_per_weight
    n_c = _ceil_div(cols, C)
    if node.groups > 1:
        block_rows, arrays = grouped_shape(node, hw.columns_per_weight, R, C)
    else:
        block_rows = _split(rows, R)
        arrays = len(block_rows) * n_c
    per_tile = hw.ce.pes_per_ce * hw.tile.ces_per_tile
    tiles = _ceil_div(arrays, per_tile)
    copies = 1
    if hw.mapping.duplication == "tile":
        # Copies beyond one per (vector, mux position) work item would idle.
        useful = node.input_vectors(unpadded) * hw.adc.cols_per_adc
        copies = max(1, min(tiles * per_tile // arrays, useful))
    style = "flash" if node.groups == 1 else "grouped"
    return LayerTiling(rows, cols, block_rows, n_c, arrays, copies, tiles, per_tile, style,
                       groups=node.groups)


def _neurosim(layers: tuple[Node, ...], hw: HardwareConfig) -> list[LayerTiling]:
    """NeuroSim V1.3's floorplan, layer-by-layer mode (our implementation of its rules)."""
    R, C = hw.crossbar.rows, hw.crossbar.cols
    slices = hw.columns_per_weight
    for n in layers:
        if n.groups > 1:
            raise MappingError(f"layer '{n.name}': NeuroSim's floorplan (mapping.scheme "
                               f"neurosim) has no grouped convolutions (groups={n.groups}); "
                               f"use mapping.scheme flash")
    kk = [n.kernel[0] * n.kernel[1] for n in layers]
    cin = [n.in_shapes[0][0] if n.kind == "conv2d" else n.weight_rows for n in layers]
    rows = [n.weight_rows for n in layers]
    cols = [n.weight_cols * slices for n in layers]
    # Novel mapping: PEs per tile = the most common kernel area among K > 1 convs.
    counts = Counter(k for k in kk if k != 1)
    n_pe_nm = max(counts, key=lambda k: (counts[k], -kk.index(k))) if counts else 0
    novel = [k == n_pe_nm and rows[i] >= R for i, k in enumerate(kk)]
    cube = [2 ** ceil(log2(c)) for c in cols]

    def best(sizes, layers_idx, tiles_of, cells_per_tile):
        choice, best_util, best_tiles = sizes[0], 0.0, 0
        for s in sizes:
            tiles = sum(tiles_of(i, s) for i in layers_idx)
            util = sum(rows[i] * cols[i] for i in layers_idx) / (tiles * cells_per_tile(s))
            if util > best_util:
                choice, best_util, best_tiles = s, util, tiles
        return choice, best_util, best_tiles

    def halvings(start, floor):
        out, s = [], start
        while s > floor:
            out.append(s)
            s //= 2
        return out or [start]

    nm_idx = [i for i in range(len(layers)) if novel[i]]
    cm_idx = [i for i in range(len(layers)) if not novel[i]]
    pe_nm = tile_cm = pe_cm = 0
    if nm_idx:
        top = max(2 * R, max(cube[i] for i in nm_idx))
        pe_nm, _, _ = best(halvings(top, 2 * R), nm_idx,
                           lambda i, s: _ceil_div(cin[i], s) * _ceil_div(cols[i], s),
                           lambda s: s * s * n_pe_nm)
    if cm_idx:
        top = max(4 * R, max(cube[i] for i in cm_idx))
        tile_cm, util_cm, tiles_cm = best(
            halvings(top, 4 * R), cm_idx,
            lambda i, s: _ceil_div(rows[i], s) * _ceil_div(cols[i], s), lambda s: s * s)
        pe_cm = tile_cm // 2
        for s in halvings(tile_cm // 2, 2 * R):  # PE size: keep T/2 unless utilisation rises
            util = sum(_dup(rows[i], cols[i], s, s, tile_cm) * rows[i] * cols[i]
                       for i in cm_idx) / (tiles_cm * tile_cm * tile_cm)
            if util > util_cm:
                pe_cm, util_cm = s, util

    balance = hw.mapping.duplication == "balance"
    targets = pipeline_speedups(layers, hw.mapping.pipeline_speedup_degree) if balance else []
    out = []
    for i in range(len(layers)):
        if novel[i]:
            dup_r, col_copies = _dup_rc(cin[i], cols[i], R, C, pe_nm)
            copies = dup_r * col_copies
            tiles = _ceil_div(cin[i], pe_nm) * _ceil_div(cols[i], pe_nm)
            per_tile = n_pe_nm * (pe_nm // R) * (pe_nm // C)
            block_rows = _split(cin[i], R) * kk[i]
            style, sides = "novel", (pe_nm, pe_nm, n_pe_nm)
        else:
            pe_r, pe_c = _dup_rc(rows[i], cols[i], pe_cm, pe_cm, tile_cm)
            sub_r, sub_c = _dup_rc(rows[i], cols[i], R, C, pe_cm)
            copies, col_copies = pe_r * pe_c * sub_r * sub_c, pe_c * sub_c
            tiles = _ceil_div(rows[i], tile_cm) * _ceil_div(cols[i], tile_cm)
            per_tile = (tile_cm // R) * (tile_cm // C)
            block_rows = _split(rows[i], R)
            style, sides = "conventional", (pe_cm, tile_cm, (tile_cm // pe_cm) ** 2)
        # pipeline: replicas of the tile group (OverallEachLayer's ceil(pipelineSpeedUp / dup))
        replicas = _ceil_div(targets[i], copies) if balance else 1
        n_c = _ceil_div(cols[i], C)
        out.append(LayerTiling(rows[i], cols[i], block_rows, n_c, len(block_rows) * n_c,
                               copies * replicas, tiles * replicas, per_tile, style, *sides,
                               col_copies, replicas))
    return out


def _dup(rows: int, cols: int, unit_r: int, unit_c: int, side: int) -> int:
    """NeuroSim's duplication count of a rows x cols matrix in a square container of `side`.

    The container is built of units of unit_r x unit_c (PEs in a tile, or subarrays in a PE);
    copies are made only when the matrix fits the container in at least one dimension.
    """
    dup_r, dup_c = _dup_rc(rows, cols, unit_r, unit_c, side)
    return dup_r * dup_c


def _dup_rc(rows: int, cols: int, unit_r: int, unit_c: int, side: int) -> tuple[int, int]:
    """`_dup`'s copies stacked in rows and side by side in columns."""
    if rows > side and cols > side:
        return 1, 1
    return (max(1, _ceil_div(side, unit_r) // _ceil_div(rows, unit_r)),
            max(1, _ceil_div(side, unit_c) // _ceil_div(cols, unit_c)))
