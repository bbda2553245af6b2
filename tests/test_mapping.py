"""Crossbar tiling, duplication, NeuroSim's floorplan and placement on the mesh."""

from __future__ import annotations

import pytest
from conftest import hw_with, read_reference_csv

from enasim.mapping import map_network
from enasim.mapping.placement import hops, mesh_shape, place
from enasim.workload.ir import Conv2d, Linear, NetworkBuilder

SMALL = {"crossbar": {"rows": 64, "cols": 64, "rows_parallel": 64},
         "ce": {"pes_per_ce": 2}, "tile": {"ces_per_tile": 2}}


def _net(*layers, shape=(20, 8, 8)):
    b = NetworkBuilder("t", shape)
    for i, op in enumerate(layers):
        b.add(f"l{i}", op)
    return b.build()


def test_flash_tiling_by_hand():
    """3x3 conv 20->40 on 64x64 arrays, 8-bit weights in 2-bit cells (4 columns per weight).

    rows = 9*20 = 180 -> 3 row blocks (64, 64, 52); cols = 40*4 = 160 -> 3 column blocks;
    9 arrays; 4 arrays per tile -> 3 tiles = 12 arrays -> floor(12/9) = 1 copy.
    """
    hw = hw_with(**SMALL)
    lm = map_network(_net(Conv2d(40, (3, 3), padding=1)), hw).layers[0]
    t = lm.tiling
    assert (t.rows, t.cols, t.block_rows, t.col_blocks) == (180, 160, (64, 64, 52), 3)
    assert (t.arrays, lm.tiles, t.copies, t.arrays_per_tile) == (9, 3, 1, 4)
    assert lm.vectors == 64
    assert lm.utilization(hw) == pytest.approx(180 * 160 / (12 * 64 * 64))


def test_duplication_fills_idle_arrays_and_is_capped():
    """linear 100->16: 2 arrays in a 4-array tile -> 2 copies; 'none' keeps 1."""
    lm = map_network(_net(Linear(16), shape=(100, 1, 1)), hw_with(**SMALL)).layers[0]
    assert (lm.tiling.arrays, lm.tiles, lm.copies) == (2, 1, 2)
    none = hw_with(**SMALL, mapping={"duplication": "none"})
    assert map_network(_net(Linear(16), shape=(100, 1, 1)), none).layers[0].copies == 1
    # 1 vector x 8 mux positions is all the work there is: at most 8 useful copies.
    big_tile = hw_with(ce={"pes_per_ce": 8}, tile={"ces_per_tile": 8})
    assert map_network(_net(Linear(16), shape=(100, 1, 1)), big_tile).layers[0].copies == 8


def test_neurosim_vgg8_tiles_and_speedups(neurosim_vgg8_mapping, neurosim_hw):
    """NeuroSim V1.3's floorplan on its VGG8: tiles and speed-ups exactly, utilisation too."""
    ref = read_reference_csv("cim", "neurosim_v13_vgg8_default_layers.csv")
    m = neurosim_vgg8_mapping
    assert [lm.tiles for lm in m.layers] == [int(float(r["num_tiles"])) for r in ref]
    assert [lm.copies for lm in m.layers] == [int(float(r["speedup"])) for r in ref]
    assert [lm.tiles for lm in m.layers] == [1, 1, 2, 2, 4, 4, 32, 1]
    for lm, r in zip(m.layers, ref, strict=True):
        assert lm.utilization(neurosim_hw) == pytest.approx(float(r["utilization"]), abs=1e-5)
    # 34 conventional tiles of 8x8 subarrays + 13 novel tiles of 9 PEs of 4x4 subarrays.
    assert m.total_arrays == 34 * 64 + 13 * 144 == 4048
    assert [lm.tiling.style[0] for lm in m.layers] == list("cnnnnncc")


def test_input_vectors_neurosim_and_padded(neurosim_vgg8_mapping, vgg8):
    assert [lm.vectors for lm in neurosim_vgg8_mapping.layers] == [900, 900, 196, 196, 36, 36,
                                                                   1, 1]
    assert [n.input_vectors() for n in vgg8.weight_layers] == [1024, 1024, 256, 256, 64, 64,
                                                               1, 1]


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (4, (2, 2)), (10, (3, 4)),
                                          (16, (4, 4)), (47, (7, 7))])
def test_auto_mesh_is_near_square(n, shape):
    assert mesh_shape(n, "auto", "auto") == shape


def test_placement_orders_and_hops():
    assert place(5, 3, "row_major") == (0, 1, 2, 3, 4)
    assert place(5, 3, "snake") == (0, 1, 2, 5, 4)  # second row right to left
    assert hops(0, 5, 3) == 3  # (0,0) -> (2,1)
    assert hops(4, 4, 3) == 0


def test_fixed_mesh_too_small_is_an_error(vgg8):
    from enasim.mapping import MappingError

    with pytest.raises(MappingError, match=r"needs 201 tiles but the chip has 16"):
        map_network(vgg8, hw_with(noc={"mesh_rows": 4, "mesh_cols": 4}))


def test_transfers_follow_pooling_and_residuals():
    """Pooled maps travel; a residual add runs at its owner after receiving the other operand."""
    b = NetworkBuilder("res", (8, 8, 8))
    b.add("a", Conv2d(8, (3, 3), padding=1))
    b.add("b", Conv2d(8, (3, 3), padding=1))
    from enasim.workload.ir import Add, Pool

    b.add("sum", Add(), ["a", "b"])
    b.add("pool", Pool("max", kernel=2))
    b.add("c", Conv2d(4, (1, 1)))
    m = map_network(b.build(), hw_with())
    moved = {(t.src, t.dst, t.purpose): t.elements for t in m.transfers}
    assert moved == {("a", "b", "input"): 512.0, ("a", "b", "add"): 512.0,
                     ("b", "c", "input"): 128.0}
    assert [n.name for n in m.layer("b").owned] == ["sum", "pool"]


def test_differential_weights_take_twice_the_columns():
    """A column pair per slice: the layer's columns double, and so do its column blocks."""
    from enasim.workload import load_workload

    net = load_workload("vgg8")
    offset = map_network(net, hw_with(precision={"signed_weights": "offset"}))
    diff = map_network(net, hw_with(precision={"signed_weights": "differential"}))
    for lo, ld in zip(offset.layers, diff.layers, strict=True):
        assert ld.tiling.cols == 2 * lo.tiling.cols
        assert ld.tiling.rows == lo.tiling.rows
        assert ld.tiling.col_blocks == -(-ld.tiling.cols // 128)
    assert diff.total_arrays > offset.total_arrays
