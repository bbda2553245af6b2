"""Mapping: crossbar tiling, weight duplication, tile allocation and placement on the mesh."""

from enasim.mapping.mapper import LayerMap, Mapping, Transfer, map_network
from enasim.mapping.tiling import LayerTiling, MappingError

__all__ = ["LayerMap", "LayerTiling", "Mapping", "MappingError", "Transfer", "map_network"]
