"""Grouped and depthwise convolutions on the chip: block-diagonal packing (closed form, shared
with ENASA's supernet chip), digital depthwise units, the engines and functional inference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import hw_with

import enasim
from enasim.analytical import run_analytical
from enasim.config import load
from enasim.functional import ops
from enasim.functional.data import random_inputs, random_weights
from enasim.functional.inference import run_inference
from enasim.kernels.mac_spec import MacSpec
from enasim.mapping import map_network
from enasim.mapping.supernet import SupernetChip
from enasim.mapping.tiling import grouped_shape
from enasim.nas.spaces.spos import SPOS
from enasim.plan import plan_layer
from enasim.sim import Simulator
from enasim.workload import NetworkBuilder, load_workload
from enasim.workload.ir import Activation, Conv2d, Linear, Pool


def depthwise(hw, depthwise="packed", **sections):
    return replace(hw, mapping=replace(hw.mapping, depthwise=depthwise), **sections)


def one_conv(c_in, c_out, k, groups, hw, hw_size=8):
    b = NetworkBuilder("one", (c_in, hw_size, hw_size))
    b.add("c", Conv2d(c_out, (k, k), 1, k // 2, groups=groups))
    return map_network(b.build(), hw).layers[0]


def mobile_block(depthwise_stride=1):
    """A MobileNetV2-style inverted residual after a stem: expand, depthwise, project."""
    b = NetworkBuilder("mb", (3, 16, 16))
    b.add("stem", Conv2d(16, (3, 3), 1, 1))
    b.add("r0", Activation("relu6"))
    b.add("expand", Conv2d(48, (1, 1)))
    b.add("r1", Activation("relu6"))
    b.add("dw", Conv2d(48, (3, 3), depthwise_stride, 1, groups=48))
    b.add("r2", Activation("relu6"))
    b.add("project", Conv2d(16, (1, 1)))
    b.add("grouped", Conv2d(32, (3, 3), 1, 1, groups=4))
    b.add("gap", Pool("avg", global_pool=True))
    b.add("fc", Linear(10))
    return b.build()


# -- packing: closed forms -------------------------------------------------------------------

@pytest.mark.parametrize(("c_in", "c_out", "k", "groups", "blocks", "arrays"), [
    # depthwise 3x3, 4 slices: min(128 // 9, 128 // 4) = 14 channels an array
    (32, 32, 3, 32, (9,), 3),
    # channel multiplier 2: 8 columns a group, min(14, 16) = 14 groups an array
    (16, 32, 3, 16, (9,), 2),
    # 8 groups of 8 -> 8: 72 rows and 32 columns a group, one group an array
    (64, 64, 3, 8, (72,), 8),
    # 2 groups of 256 -> 256: 2304 / 2 = 1152 rows (9 blocks) x 512 columns (4 arrays) a group
    (256, 256, 3, 2, (128,) * 9, 2 * 9 * 4),
])
def test_packing_closed_form(c_in, c_out, k, groups, blocks, arrays):
    hw = hw_with()  # 128x128 arrays, 8-bit weights on 2-bit cells: 4 slices
    lm = one_conv(c_in, c_out, k, groups, hw)
    t = lm.tiling
    assert (t.block_rows, t.arrays, t.rows, t.cols, t.groups) == (
        blocks, arrays, k * k * c_in, c_out * 4, groups)
    assert t.weight_cells == lm.node.params * 4
    assert t.style == "grouped"
    cells = lm.arrays_allocated * 128 * 128
    assert lm.utilization(hw) == pytest.approx(t.copies * lm.node.params * 4 / cells)


def test_grouped_conv_takes_a_groupth_of_the_dense_arrays():
    hw = hw_with()
    dense, grouped = one_conv(256, 256, 3, 1, hw), one_conv(256, 256, 3, 2, hw)
    assert grouped.tiling.arrays * 2 == dense.tiling.arrays


def test_packed_layer_counts_and_phases():
    """A 3x3 depthwise conv: per vector every physical column converts once per input bit and
    read phase of its 9-row block; 7 rows a phase gives 2 phases (flash_imc as bundled)."""
    hw = load("flash_imc")
    lm = one_conv(32, 32, 3, 32, hw)
    plan = plan_layer(lm, hw)
    bits = hw.precision.input_bits
    assert plan.per_vector_counts["adc_conversions"] == bits * 2 * 32 * hw.columns_per_weight
    assert plan.per_vector_counts["input_buffer_read_bits"] == 9 * 32 * bits
    assert plan.per_vector_counts["accumulator_ops"] == 0  # one row block: no partial sums
    read, compute, _ = plan.step_cycles(plan.copies)
    assert compute == bits * 2 * hw.adc.cols_per_adc * hw.adc.cycles_per_conversion


def test_enasa_chip_packs_depthwise_operators_by_the_same_rule():
    hw = load("enasa")
    chip = SupernetChip(SPOS, hw, "packed")
    dws = [p for p in chip.placements.values() if p.op.kind == "dwconv"]
    assert dws
    for p in dws:
        main = map_network(_as_network(p.node), hw).layers[0].tiling
        assert (p.lm.tiling.block_rows, p.lm.tiling.arrays, p.lm.tiling.cols) == (
            main.block_rows, main.arrays, main.cols)
        assert (p.lm.tiling.block_rows, p.lm.tiling.arrays) == grouped_shape(
            p.node, hw.weight_slices, hw.crossbar.rows, hw.crossbar.cols)


def _as_network(node):
    b = NetworkBuilder("op", node.in_shapes[0])
    b.add("op", node.op)
    return b.build()


def test_neurosim_floorplan_refuses_grouped_convs():
    from enasim.mapping import MappingError

    with pytest.raises(MappingError, match="has no grouped convolutions"):
        map_network(mobile_block(), load("neurosim_v13"))


# -- digital depthwise units -----------------------------------------------------------------

def test_digital_depthwise_runs_on_the_producers_tiles():
    hw = depthwise(hw_with(), "digital")
    m = map_network(mobile_block(), hw)
    names = [lm.name for lm in m.layers]
    assert "dw" not in names and "grouped" in names  # only depthwise convs leave the crossbars
    expand = m.layer("expand")
    assert [n.name for n in expand.owned] == ["r1", "dw", "r2"]
    stats = run_analytical(m)
    row = next(ls for ls in stats.layers if ls.name == "expand")
    dw = m.network["dw"]
    unit = hw.tile.depthwise_unit
    assert row.counts["depthwise_macs"] == dw.macs
    assert row.energy_pj["depthwise_unit"] == pytest.approx(dw.macs * unit.energy_pj_per_op)
    assert row.macs == m.network["expand"].macs + dw.macs
    assert stats.area_um2["depthwise_unit"] == unit.area_um2 * m.total_tiles
    # the unit's cycles: ceil(MACs / (lanes x tiles)) + pipeline latency
    plan = plan_layer(expand, hw)
    stage = next(d for d in plan.digital if d.name == "dw")
    assert stage.cycles() == -(-dw.macs // (unit.ops_per_cycle * expand.tiles)) + unit.cycles


def test_depthwise_unit_area_only_when_digital():
    m = map_network(mobile_block(), hw_with())
    assert "depthwise_unit" not in run_analytical(m).area_um2


@pytest.mark.parametrize("mapping", ["packed", "digital"])
@pytest.mark.parametrize("mode", ["layer_by_layer", "pipelined"])
def test_engines_agree_and_count_every_mac(mapping, mode):
    hw = depthwise(hw_with(execution={"mode": mode}), mapping)
    net = mobile_block(depthwise_stride=2)
    m = map_network(net, hw)
    sim = Simulator(m, noc_model="ideal").run()
    assert sum(ls.macs for ls in sim.layers) == net.macs
    if mode == "layer_by_layer":
        ana = run_analytical(m)
        assert sim.latency_cycles == ana.latency_cycles
        assert sim.energy_pj == pytest.approx(ana.energy_pj)
    else:  # the depthwise window lets the projection start before the expansion ends
        ls = {x.name: x for x in sim.layers}
        assert ls["project"].start_cycle < ls["expand"].end_cycle


def test_mesh_engine_runs_mobilenet_v2_both_ways():
    net = load_workload("mobilenet_v2")
    for mapping in ("packed", "digital"):
        r = enasim.run(depthwise(load("flash_imc"), mapping), net, noc="compiled")
        assert sum(ls.macs for ls in r.stats.layers) == net.macs
        traffic = r.stats.traffic  # every flit sent arrives: ejections = flits injected
        assert traffic.link_flits[:, 4].sum() == traffic.packets.total_flits > 0


# -- functional inference ----------------------------------------------------------------------

def _infer(net, hw, seed=0, images=2):
    spec = MacSpec.from_hw(hw)
    w = random_weights(net, spec, seed)
    return w, run_inference(net, hw, w, random_inputs(net, spec, images, seed), seed)


@pytest.mark.parametrize("mapping", ["packed", "digital"])
def test_ideal_crossbars_compute_grouped_convs_exactly(mapping):
    hw = depthwise(hw_with(adc={"range_mode": "partial_rows"}), mapping)
    _, res = _infer(mobile_block(), hw)
    names = [r.name for r in res.layers]
    assert ("dw" in names) == (mapping == "packed") and "grouped" in names
    assert all(r.rel_rms_error == 0 and r.e2e_rel_rms_error == 0 for r in res.layers)


def test_group_parts_equal_a_direct_grouped_convolution():
    b = NetworkBuilder("g", (6, 5, 5))
    b.add("c", Conv2d(4, (3, 3), 1, 1, groups=2))
    node = b.build()["c"]
    rng = np.random.default_rng(1)
    x = rng.integers(0, 8, (2, 6, 5, 5))
    w = rng.integers(-3, 4, ops.weight_shape(node))
    assert w.shape == (4, 3, 3, 3)
    xu = ops.unroll(node, x)
    y = np.concatenate([xg @ wg for xg, wg in ops.group_parts(node, xu, w)], axis=1)
    # the same conv as a dense one whose weights are zero across groups
    dense = np.zeros((4, 6, 3, 3), np.int64)
    dense[:2, :3], dense[2:, 3:] = w[:2], w[2:]
    b2 = NetworkBuilder("d", (6, 5, 5))
    b2.add("c", Conv2d(4, (3, 3), 1, 1))
    d = b2.build()["c"]
    assert np.array_equal(y, ops.unroll(d, x) @ ops.weight_matrix(d, dense))


def test_measured_activity_of_grouped_layers_matches_the_plan():
    """The crossbars' conversions of a packed layer equal the plan's, and the engine takes the
    measured activity (one ADC step and one activity per layer over its groups)."""
    hw = hw_with(adc={"range_mode": "calibrated"})
    net = mobile_block()
    _, res = _infer(net, hw, images=1)
    m = map_network(net, hw)
    for r in res.layers:
        plan = plan_layer(m.layer(r.name), hw, r.activity)
        assert r.activity.conversions == plan.per_vector_counts["adc_conversions"] * r.vectors
        assert r.activity.groups == m.layer(r.name).tiling.groups
        assert 0 < r.activity.input_bit_density < 1
    assert Simulator(m, noc_model="ideal", activity=res.activity()).run().energy_pj > 0
