"""A layer's tiles: the closed-form pipeline (`compute_alone`, layer_by_layer) equals the
event-driven one (`compute`, pipelined) whenever no input ever makes a step wait."""

from __future__ import annotations

import pytest
import simpy
from conftest import hw_with, overlapped

from enasim.config import load
from enasim.hw.tile import LayerTiles
from enasim.mapping import map_network
from enasim.plan import new_layer_stats, plan_layer
from enasim.workload import load_workload

HW = {  # compute-bound, read-bound (narrow read port) and write-bound (narrow write port)
    "flash_imc": lambda: load("flash_imc"),
    "neurosim_v13": lambda: overlapped("neurosim_v13"),
    "narrow-read": lambda: hw_with(tile={"input_buffer": {"port_bits": 16}}),
    "narrow-write": lambda: hw_with(tile={"output_buffer": {"port_bits": 8}}),
}


def _run(plan, alone: bool):
    env = simpy.Environment(initial_time=5)
    tiles, ls = LayerTiles(env, plan), new_layer_stats(plan)
    env.process(tiles.compute_alone(ls) if alone
                else tiles.compute(ls, lambda i, done: None, lambda i, v: None))
    env.run()
    return env.now, tiles.adcs.busy, tiles.adcs.busy_cycles, tiles.idle_cycles, ls


@pytest.mark.parametrize("hw_name", sorted(HW))
@pytest.mark.parametrize("workload", ["vgg8", "resnet18"])
def test_closed_form_pipeline_equals_event_driven(hw_name, workload):
    m = map_network(load_workload(workload), HW[hw_name]())
    for lm in m.layers:
        plan = plan_layer(lm, m.hw)
        *events, ls_events = _run(plan, alone=False)
        *alone, ls_alone = _run(plan, alone=True)
        assert alone == events, lm.name
        assert ls_alone.counts == ls_events.counts  # bit-identical, not approximately
        assert ls_alone.energy_pj == ls_events.energy_pj
