"""The Mapping: every weight layer's crossbars, tiles and mesh nodes, and the data it receives.

Tiles are allocated layer after layer (each layer owns whole tiles) and placed on the mesh in
the configured order. Digital layers (activation, batchnorm, pooling, add, concat, select, and
depthwise convs with mapping.depthwise 'digital') run in the tiles of their *owner*: the last
crossbar layer whose output they need. Data moves between
weight layers as `Transfer`s (DESIGN section 5): each consumer receives, from each producer
layer, the elements of its input tensor that producer contributes (pooling and channel
selection happen at the producer, so the network carries pooled maps); residual adds run at
their owner, which first receives the other operands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from enasim.config.schema import HardwareConfig
from enasim.mapping.placement import mesh_shape, place
from enasim.mapping.tiling import (
    LayerTiling,
    MappingError,
    crossbar_layers,
    pipeline_degree,
    tile_layers,
)
from enasim.workload.ir import Add, Concat, Network, Node


@dataclass(frozen=True)
class LayerMap:
    """One weight layer on the chip."""

    index: int  # 1-based position among the weight layers
    node: Node
    tiling: LayerTiling
    vectors: int  # input vectors applied to the crossbars
    tile_ids: tuple[int, ...]
    owned: tuple[Node, ...]  # digital layers that run in this layer's tiles

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def tiles(self) -> int:
        return self.tiling.tiles

    @property
    def copies(self) -> int:
        return self.tiling.copies

    @property
    def arrays_allocated(self) -> int:
        return self.tiling.tiles * self.tiling.arrays_per_tile

    def utilization(self, hw: HardwareConfig) -> float:
        """Cells holding weights (all copies) / cells of the layer's tiles."""
        t = self.tiling
        cells = self.arrays_allocated * hw.crossbar.rows * hw.crossbar.cols
        return t.copies * t.weight_cells / cells


@dataclass(frozen=True)
class Transfer:
    """Activations sent from the tiles of layer `src` to the tiles of layer `dst`."""

    src: str
    dst: str
    elements: float
    purpose: str  # "input": the consumer's input tensor; "add": operands of a residual add


@dataclass(frozen=True)
class Mapping:
    network: Network
    hw: HardwareConfig
    layers: tuple[LayerMap, ...]
    mesh_rows: int
    mesh_cols: int
    tile_nodes: tuple[int, ...]  # mesh node of each tile
    transfers: tuple[Transfer, ...]

    def layer(self, name: str) -> LayerMap:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, LayerMap]:
        """Layers by name (the engine looks one up per message set)."""
        return {lm.name: lm for lm in self.layers}

    @property
    def total_tiles(self) -> int:
        return len(self.tile_nodes)

    @property
    def total_arrays(self) -> int:
        return sum(lm.arrays_allocated for lm in self.layers)

    @cached_property
    def pipeline_speedup_degree(self) -> int | None:
        """duplication 'balance': the speed-up degree used, mapping.pipeline_speedup_degree
        capped as NeuroSim caps it; None without 'balance'."""
        if self.hw.mapping.duplication != "balance":
            return None
        return pipeline_degree(tuple(lm.node for lm in self.layers),
                               self.hw.mapping.pipeline_speedup_degree)

    @cached_property
    def crossbar_names(self) -> frozenset[str]:
        """Layers on crossbars (the rest run on tile units, owned by one of these)."""
        return frozenset(self._by_name)

    def utilization(self) -> float:
        """Chip memory utilisation: weight cells (all copies) / cells of all allocated tiles."""
        used = sum(lm.copies * lm.tiling.weight_cells for lm in self.layers)
        return used / (self.total_arrays * self.hw.crossbar.rows * self.hw.crossbar.cols)


def map_network(net: Network, hw: HardwareConfig) -> Mapping:
    """Tile, duplicate and place every weight layer of `net` on the chip `hw`."""
    unpadded = hw.neurosim_compat.unpadded_vectors
    weight_layers = crossbar_layers(net.weight_layers, hw)
    if not weight_layers:
        raise MappingError(f"workload '{net.name}' has no layer to put on crossbars (only "
                           f"depthwise convs, mapped 'digital')")
    tilings = tile_layers(weight_layers, hw, unpadded)
    n_tiles = sum(t.tiles for t in tilings)
    rows, cols = mesh_shape(n_tiles, hw.noc.mesh_rows, hw.noc.mesh_cols)
    if n_tiles > rows * cols:
        raise MappingError(f"workload '{net.name}' needs {n_tiles} tiles but the chip has "
                           f"{rows * cols} (noc.mesh_rows x noc.mesh_cols = {rows}x{cols}); "
                           f"use a mesh of at least {n_tiles} nodes or mesh 'auto'")
    crossbar = frozenset(n.name for n in weight_layers)
    owners = _owners(net, crossbar)
    layers, first = [], 0
    for i, (node, tiling) in enumerate(zip(weight_layers, tilings, strict=True), start=1):
        owned = tuple(net[n] for n, o in owners.items() if o == node.name and n != node.name)
        layers.append(LayerMap(i, node, tiling, node.input_vectors(unpadded),
                               tuple(range(first, first + tiling.tiles)), owned))
        first += tiling.tiles
    return Mapping(net, hw, tuple(layers), rows, cols, place(n_tiles, cols, hw.mapping.placement),
                   _transfers(net, owners, crossbar))


def _owners(net: Network, crossbar: frozenset[str]) -> dict[str, str]:
    """Crossbar layer in whose tiles each node runs (network input excluded)."""
    order = {n.name: i for i, n in enumerate(net.nodes)}
    first_weight = next(n.name for n in net.nodes if n.name in crossbar)
    owner: dict[str, str | None] = {"input": None}
    for node in net.nodes[1:]:
        if node.name in crossbar:
            owner[node.name] = node.name
            continue
        found = [owner[s] for s in node.inputs if owner[s] is not None]
        owner[node.name] = max(found, key=order.__getitem__) if found else None
    return {n: (o or first_weight) for n, o in owner.items() if n != "input"}


def _transfers(net: Network, owners: dict[str, str],
               crossbar: frozenset[str]) -> tuple[Transfer, ...]:
    """Layer-to-layer data movement, by propagating which layer produced each element."""
    moved: dict[tuple[str, str, str], float] = defaultdict(float)
    origin: dict[str, dict[str, float]] = {"input": {"input": float(_elems(net.input_shape))}}
    for node in net.nodes[1:]:
        ins = [origin[s] for s in node.inputs]
        if node.name in crossbar:
            for src, e in ins[0].items():
                if src != "input":
                    moved[(src, node.name, "input")] += e
            origin[node.name] = {node.name: float(_elems(node.out_shape))}
        elif isinstance(node.op, Add):
            at = owners[node.name]
            for part in ins:
                for src, e in part.items():
                    if src not in ("input", at):
                        moved[(src, at, "add")] += e
            origin[node.name] = {at: float(_elems(node.out_shape))}
        elif isinstance(node.op, Concat):
            merged: dict[str, float] = defaultdict(float)
            for part in ins:
                for src, e in part.items():
                    merged[src] += e
            origin[node.name] = dict(merged)
        else:  # element-wise, pooling, selection, digital depthwise: scale each share
            scale = _elems(node.out_shape) / _elems(node.in_shapes[0])
            origin[node.name] = {src: e * scale for src, e in ins[0].items()}
    return tuple(Transfer(s, d, e, p) for (s, d, p), e in moved.items())


def _elems(shape: tuple[int, int, int]) -> int:
    return shape[0] * shape[1] * shape[2]


__all__ = ["LayerMap", "Mapping", "MappingError", "Transfer", "map_network"]
