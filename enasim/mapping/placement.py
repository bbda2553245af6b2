"""Placement of tiles on the 2-D mesh: node id = x + cols * y (BookSim's numbering)."""

from __future__ import annotations

from math import ceil, isqrt


def mesh_shape(n_tiles: int, rows: int | str, cols: int | str) -> tuple[int, int]:
    """(rows, cols) of the mesh; 'auto' gives the near-square mesh that holds n_tiles."""
    if rows == "auto":
        c = isqrt(n_tiles - 1) + 1 if n_tiles > 1 else 1
        return ceil(n_tiles / c), c
    return int(rows), int(cols)


def place(n_tiles: int, cols: int, order: str) -> tuple[int, ...]:
    """Mesh node of each tile, tiles numbered layer after layer.

    `row_major` fills each mesh row left to right (SIAM); `snake` alternates direction row by
    row, so consecutive tiles are always neighbours.
    """
    nodes = []
    for i in range(n_tiles):
        y, x = divmod(i, cols)
        if order == "snake" and y % 2:
            x = cols - 1 - x
        nodes.append(x + cols * y)
    return tuple(nodes)


def hops(a: int, b: int, cols: int) -> int:
    """Links on the X-Y route from node a to node b (Manhattan distance)."""
    ay, ax = divmod(a, cols)
    by, bx = divmod(b, cols)
    return abs(ax - bx) + abs(ay - by)
