"""Input windows for the pipelined mode: how much of a producer a consumer step needs.

Vectors are output pixels in raster order, so after k of a layer's V vectors its first
floor(k * H_out / V) output rows are complete. A consumer step that ends at vector b touches
output rows up to ceil(b * H_out / V); the input rows those need are mapped back through the
digital layers between producer and consumer (pooling and digital depthwise convs widen the
window; element-wise layers, channel selection, concatenation and adds keep rows) to the
producer's output rows, and from rows to the producer's vectors.
"""

from __future__ import annotations

from math import ceil

from enasim.mapping import LayerMap, Mapping
from enasim.workload.ir import Conv2d, Pool


def rows_touched(vectors_done: int, lm: LayerMap) -> int:
    """Output rows of `lm` touched by its first `vectors_done` vectors."""
    return ceil(vectors_done * lm.node.out_shape[1] / lm.vectors)


def vectors_for_rows(rows: int, lm: LayerMap) -> int:
    """Vectors `lm` must have produced for its first `rows` output rows to be complete."""
    return min(lm.vectors, ceil(rows * lm.vectors / lm.node.out_shape[1]))


def _window_rows(op, out_rows: int, in_height: int) -> int:
    """Input rows needed for the first `out_rows` output rows of a sliding-window op."""
    if isinstance(op, Pool):
        if op.global_pool:
            return in_height
        k, s, p = op.kernel, op.stride or op.kernel, op.padding
    elif isinstance(op, Conv2d):
        k, s, p = op.kernel[0], op.stride, op.padding
    else:  # linear: everything
        return in_height
    return max(1, min(in_height, (out_rows - 1) * s + k - p))


def rows_needed(mapping: Mapping, name: str, rows: int, target: str) -> int | None:
    """Output rows of crossbar layer `target` needed for the first `rows` rows of node
    `name`'s output; None when `name` does not depend on `target` through digital layers
    only."""
    if name == target:
        return rows
    node = mapping.network[name]
    if name in mapping.crossbar_names or node.kind == "input":
        return None
    in_rows = _window_rows(node.op, rows, node.in_shapes[0][1]) if isinstance(
        node.op, Pool | Conv2d) else rows
    found = [r for src in node.inputs
             if (r := rows_needed(mapping, src, in_rows, target)) is not None]
    return max(found) if found else None


def input_need(mapping: Mapping, consumer: LayerMap, producer: LayerMap, vectors_done: int,
               purpose: str) -> int:
    """Producer vectors that must have arrived before the consumer has done `vectors_done`.

    `input`: for reading those vectors; `add`: for the residual adds the consumer owns, applied
    to its output rows so far.
    """
    out_rows = rows_touched(vectors_done, consumer)
    if purpose == "input":
        node = consumer.node
        starts = [(node.inputs[0], _window_rows(node.op, out_rows, node.in_shapes[0][1]))]
    else:
        starts = [(src, out_rows) for a in consumer.owned if a.kind == "add" for src in a.inputs]
    rows = [r for start, n in starts
            if (r := rows_needed(mapping, start, n, producer.name)) is not None]
    return vectors_for_rows(max(rows), producer) if rows else 0


class Windows:
    """`input_need` memoised per output row (many steps of a layer touch the same row)."""

    def __init__(self, mapping: Mapping):
        self.mapping = mapping
        self._cache: dict[tuple[str, str, int, str], int] = {}

    def need(self, consumer: LayerMap, producer: LayerMap, vectors_done: int,
             purpose: str) -> int:
        key = (consumer.name, producer.name, rows_touched(vectors_done, consumer), purpose)
        if key not in self._cache:
            self._cache[key] = input_need(self.mapping, consumer, producer, vectors_done,
                                          purpose)
        return self._cache[key]
