"""ENASA: supernets against the reference op tables, sharing analysis, OPS engine, search, CLI."""

from __future__ import annotations

import pytest
from conftest import read_reference_csv

from enasim.errors import ConfigError
from enasim.nas.spaces.fairnas import FAIRNAS
from enasim.nas.spaces.spos import SPOS
from enasim.validation.nas import op_key

# FairNAS-A/B/C (nas-workloads.md 2.4): arch, MACs incl. FC, parameters incl. BN and FC bias.
FAIRNAS_MODELS = {"A": ("4041500552122115153", 388_122_848, 4_651_352),
                  "B": ("2020124012014053513", 345_297_632, 4_506_272),
                  "C": ("2040000001000055113", 321_024_992, 4_397_864)}


@pytest.mark.parametrize("net,csv_name", [(SPOS, "spos_supernet_ops.csv"),
                                          (FAIRNAS, "fairnas_supernet_ops.csv")])
def test_supernet_ops_equal_reference_table(net, csv_name):
    rows = read_reference_csv("nas", csv_name)
    ops = {o.key: o for o in net.all_ops}
    assert len(ops) == len(net.all_ops) == len(rows)
    for row in rows:
        op = ops[op_key(net.name, row)]
        for field in ("c_in", "c_out", "groups", "k", "stride", "pad", "h_in", "w_in", "h_out",
                      "w_out", "macs", "weights"):
            assert getattr(op, field) == int(row[field]), (op.key, field)
        assert op.kind == row["kind"], op.key
        if row["section"] == "choice":
            assert net.choice_names[op.choice] == row["choice_name"]
    assert net.total_weights == sum(int(r["weights"]) for r in rows)


def test_supernet_sizes_from_notes():
    assert SPOS.total_weights == 8_388_176 and FAIRNAS.total_weights == 15_779_792
    assert (SPOS.num_layers, SPOS.num_choices) == (20, 4)
    assert (FAIRNAS.num_layers, FAIRNAS.num_choices) == (19, 6)


def test_every_spos_reference_arch_builds_exactly():
    for row in read_reference_csv("nas", "spos_reference_archs.csv"):
        arch = SPOS.check_arch(row["arch"])
        net = SPOS.build(arch)
        assert net.macs == SPOS.macs(arch) == int(row["flops_macs"]), row["name"]
        assert net.params == int(row["params_conv_fc"]), row["name"]
        assert SPOS.params(arch) == int(row["params_total"]), row["name"]


@pytest.mark.parametrize("model", sorted(FAIRNAS_MODELS))
def test_fairnas_reference_models_build_exactly(model):
    arch, macs, params = FAIRNAS_MODELS[model]
    net = FAIRNAS.build(arch)
    assert net.macs == FAIRNAS.macs(FAIRNAS.check_arch(arch)) == macs
    assert FAIRNAS.params(FAIRNAS.check_arch(arch)) == params
    assert net.params == FAIRNAS.weights(FAIRNAS.check_arch(arch)) + 1000  # FC bias, BN folded


def test_fixed_macs_from_notes():
    fixed = lambda net: sum(o.macs for b in (*net.pre, *net.post) for o in b.ops)  # noqa: E731
    assert fixed(SPOS) == 38_555_648 and fixed(FAIRNAS) == 42_223_616


@pytest.mark.parametrize("bad", ["0123", "0" * 19 + "4", [0] * 19 + [-1], "x" * 20])
def test_bad_arch_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="arch"):
        SPOS.check_arch(bad)


# -- groups and sharing -----------------------------------------------------------------------

def test_closed_forms_from_notes():
    from enasim.nas.enasa.groups import expected_distinct_total, expected_distinct_weights

    assert expected_distinct_total(4, 20, 4) == pytest.approx(78.25, abs=0.005)
    assert expected_distinct_total(4, 20, 16) == pytest.approx(299.9, abs=0.05)
    # The notes give 111.6: (1 - C^-(l+1))^N evaluated naively in floats overshoots at deep
    # layers (1 - 6^-19 rounds); the exact value is 111.51, which the Monte Carlo test confirms.
    assert expected_distinct_total(6, 19, 6) == pytest.approx(111.506, abs=0.001)
    assert expected_distinct_weights(4, 4) == pytest.approx(2.73, abs=0.005)


@pytest.mark.parametrize("net,size", [(SPOS, 4), (SPOS, 16), (FAIRNAS, 6)])
def test_random_group_sharing_matches_closed_form(net, size):
    import random
    import statistics

    from enasim.nas.enasa.groups import analyse, expected_distinct, random_group

    rng = random.Random(7)
    samples = [analyse(random_group(rng, net, size)) for _ in range(3000)]
    for layer in (0, 1, 2, net.num_layers - 1):
        values = [s.distinct_computations[layer] for s in samples]
        sd = max(statistics.pstdev(values), 1e-9)
        mean = statistics.fmean(values)
        expected = expected_distinct(net.num_choices, size, layer)
        assert abs(mean - expected) < 4 * sd / len(values) ** 0.5 + 1e-9, (layer, mean, expected)
    totals = [s.computations for s in samples]
    expected = sum(expected_distinct(net.num_choices, size, lay) for lay in range(net.num_layers))
    sd = statistics.pstdev(totals)
    assert abs(statistics.fmean(totals) - expected) < 4 * sd / len(totals) ** 0.5


def test_stagewise_groups_share_the_fixed_half_exactly():
    import random

    from enasim.nas.enasa.groups import analyse, fixed_layers, random_group, stagewise_group

    rng = random.Random(3)
    for net in (SPOS, FAIRNAS):
        best = random_group(rng, net, 1)[0]
        bottom = stagewise_group(rng, net, 8, best, "bottom")
        s = analyse(bottom)
        fixed = fixed_layers(net, "bottom")
        assert all(s.distinct_computations[i] == 1 for i in fixed)
        assert all(a[i] == best[i] for a in bottom for i in fixed)
        top = stagewise_group(rng, net, 8, best, "top")
        s = analyse(top)
        assert all(s.distinct_weights[i] == 1 for i in fixed_layers(net, "top"))
        assert len(fixed) + len(fixed_layers(net, "top")) == net.num_layers


@pytest.mark.parametrize("net", [SPOS, FAIRNAS])
def test_strict_fair_group_uses_every_operator_once(net):
    import random
    from collections import Counter

    from enasim.nas.enasa.groups import analyse, strict_fair_group

    group = strict_fair_group(random.Random(11), net)
    assert len(group) == net.num_choices
    used = Counter(op.key for a in group for op in net.subnet_ops(a) if op.layer is not None)
    choice_ops = [op.key for op in net.all_ops if op.layer is not None]
    assert sorted(used) == sorted(choice_ops) and set(used.values()) == {1}
    s = analyse(group)
    assert s.distinct_computations == (net.num_choices,) * net.num_layers
    with pytest.raises(ConfigError, match="multiple"):
        strict_fair_group(random.Random(1), net, net.num_choices + 1)


def test_groups_are_deterministic():
    import random

    from enasim.nas.enasa.groups import random_group

    assert random_group(random.Random(5), SPOS, 4) == random_group(random.Random(5), SPOS, 4)


# -- supernet chip and OPS engine -------------------------------------------------------------

@pytest.fixture(scope="module")
def enasa_hw():
    from enasim.config import load

    return load("enasa")


@pytest.fixture(scope="module")
def spos_chip(enasa_hw):
    from enasim.mapping.supernet import SupernetChip

    return SupernetChip(SPOS, enasa_hw)


def test_chip_holds_each_supernet_on_enasa_yaml(enasa_hw):
    from enasim.mapping.supernet import SupernetChip

    for net in (SPOS, FAIRNAS):
        for dw in ("packed", "digital"):
            chip = SupernetChip(net, enasa_hw, dw)
            s = chip.summary()
            assert s["tiles"] <= 14 * 14 and s["arrays"] == s["ces"] * 8
            assert len(chip.placements) == len(net.all_ops)
            if dw == "digital":
                assert s["memory_utilization_depthwise"] == 0.0
                assert s["memory_utilization"] == s["memory_utilization_dense"]
            else:
                assert 0 < s["memory_utilization_depthwise"] < s["memory_utilization_dense"]


def test_packed_depthwise_channels_per_array(enasa_hw):
    from enasim.mapping.supernet import SupernetChip

    chip = SupernetChip(SPOS, enasa_hw, "packed")
    for key, per_array in (("L1.c0.branch_main.3", 14), ("L1.c1.branch_main.3", 5),
                           ("L1.c2.branch_main.3", 2)):
        p = chip.placements[key]
        assert p.lm.tiling.arrays == -(-p.op.c_out // per_array), key


def test_sequential_is_the_sum_of_operator_times(spos_chip):
    """Closed form: on the ideal interconnect one operator at a time takes, per operator,
    the zero-load time of its input's slowest message between different tiles plus its step
    pipeline; energy adds up over the computations."""
    from math import ceil

    from enasim.analytical.perf import step_pipeline
    from enasim.noc.interconnect import zero_load_cycles
    from enasim.plan import plan_layer
    from enasim.sim.ops import build_computations, run_group

    group = ((0,) * 20, (3,) * 20)
    run = run_group(spos_chip, group, "sequential", images=2, noc_model="ideal")
    comps, _ = build_computations(spos_chip, group, False, 2)
    hw, cols = spos_chip.hw, spos_chip.mesh_cols
    expected = 0
    for c in comps:
        p = spos_chip.placements[c.key]
        plan = plan_layer(p.lm, hw, images=2)
        last = plan.step_cycles(plan.rem) if plan.rem else None
        expected += step_pipeline(*plan.step_cycles(plan.copies), plan.lag, plan.n_full, last)
        src = {n for s in c.sources for n in spos_chip.placements[s].nodes}
        off_tile = [(a, b) for a in src for b in set(p.nodes) if a != b]  # others stay in-tile
        if off_tile:
            hops = max(abs(a % cols - b % cols) + abs(a // cols - b // cols)
                       for a, b in off_tile)
            flits = ceil(c.input_bits / (len(src) * len(set(p.nodes)) * hw.noc.flit_bits))
            expected += int(zero_load_cycles(hw.noc, hops, flits))
    assert run.latency_cycles == expected
    assert run.computations == run.op_instances == len(comps) == len(run.stats.layers)
    assert run.decisions == 0 and run.shared_ops == 0
    layers = sum(ls.total_energy_pj for ls in run.stats.layers)
    chip = sum(run.stats.chip_energy_pj.values())
    assert layers + chip == pytest.approx(run.total_energy_pj, rel=1e-12)
    assert run.stats.chip_energy_pj["leakage"] == pytest.approx(
        spos_chip.leakage_uw * run.latency_ns * 1e-3)


def test_ops_shares_exactly_the_common_prefix(spos_chip):
    import random

    from enasim.nas.enasa.groups import fixed_layers, stagewise_group
    from enasim.sim.ops import run_group

    best = (1, 2, 0, 3) * 5
    group = stagewise_group(random.Random(2), SPOS, 4, best, "bottom")
    run = run_group(spos_chip, group, "ops", noc_model="ideal")
    fixed_ops = sum(len(SPOS.layers[i][best[i]].ops) for i in fixed_layers(SPOS, "bottom"))
    prefix_extra = 0  # sub-nets may also agree beyond the fixed half by chance
    for lay in range(10, 20):
        for c in {a[:lay + 1] for a in group}:
            users = sum(1 for a in group if a[:lay + 1] == c)
            prefix_extra += (users - 1) * len(SPOS.layers[lay][c[-1]].ops)
    assert run.shared_ops == 3 * (1 + fixed_ops) + prefix_extra  # stem + fixed half
    concurrent = run_group(spos_chip, group, "concurrent", noc_model="ideal")
    assert concurrent.shared_ops == 0 and concurrent.computations == run.op_instances
    assert run.total_energy_pj < concurrent.total_energy_pj


def test_strict_fair_group_computes_every_operator_once(enasa_hw):
    import random

    from enasim.mapping.supernet import SupernetChip
    from enasim.nas.enasa.groups import strict_fair_group
    from enasim.sim.ops import build_computations

    chip = SupernetChip(FAIRNAS, enasa_hw)
    group = strict_fair_group(random.Random(4), FAIRNAS)
    comps, needed = build_computations(chip, group, True, 1)
    keys = [c.key for c in comps]
    choice_keys = [o.key for o in FAIRNAS.all_ops if o.layer is not None]
    assert sorted(k for k in keys if k.startswith("L")) == sorted(choice_keys)
    pre = sum(len(b.ops) for b in FAIRNAS.pre)
    assert needed - len(comps) == 5 * pre  # only the stem is shared


def test_runs_are_deterministic_and_spans_do_not_overlap(spos_chip):
    import random

    from enasim.nas.enasa.groups import random_group
    from enasim.sim.ops import run_group

    group = random_group(random.Random(9), SPOS, 4)
    a = run_group(spos_chip, group, "ops", noc_model="ideal")
    b = run_group(spos_chip, group, "ops", noc_model="ideal")
    assert a.latency_cycles == b.latency_cycles and a.energy_pj == b.energy_pj
    assert a.spans == b.spans and any(s.group == "ops" for s in a.spans)
    tracks: dict[str, list] = {}
    for s in a.spans:
        tracks.setdefault(s.track, []).append((s.start, s.end))
    for spans in tracks.values():
        spans.sort()
        assert all(e0 <= s1 for (_, e0), (s1, _) in zip(spans, spans[1:], strict=False))
    assert 0 < a.utilization <= 1
    _, curve = a.utilization_curve(20)
    assert curve.max() <= 1 + 1e-9
    assert curve.mean() == pytest.approx(a.utilization, rel=1e-6)


def test_same_weights_conflict_and_are_serialised(spos_chip):
    from enasim.sim.ops import run_group

    group = ((0,) * 10 + (1,) * 10, (1,) * 10 + (1,) * 10)  # top half identical, inputs differ
    run = run_group(spos_chip, group, "concurrent", noc_model="ideal")
    assert run.conflicts > 0
    busy: dict[str, list] = {}
    run = run_group(spos_chip, group, "concurrent", noc_model="ideal")
    for s in run.spans:
        if s.group == "tiles":
            busy.setdefault(s.track, []).append(s)
    assert any(len(v) == 2 for v in busy.values())  # one op's crossbars, two inputs


def test_bad_run_inputs(spos_chip):
    from enasim.sim.ops import run_group

    with pytest.raises(ConfigError, match="mode"):
        run_group(spos_chip, [(0,) * 20], "parallel", noc_model="ideal")
    with pytest.raises(ConfigError, match="images"):
        run_group(spos_chip, [(0,) * 20], "ops", images=0, noc_model="ideal")
    with pytest.raises(ConfigError, match="arch"):
        run_group(spos_chip, [(0,) * 19], "ops", noc_model="ideal")


# -- search ------------------------------------------------------------------------------------

def test_spos_evolution_evaluates_1050_legal_distinct_candidates(spos_chip):
    from enasim.nas.enasa.search import EnasaSearch, SearchConfig

    search = EnasaSearch(spos_chip, SearchConfig(noc="ideal", search="evolution", baselines=False))
    state = search.run()
    assert len(state.rows) == 21 and sum(r["candidates"] for r in state.rows) == 1050
    assert len(state.evaluated) == len(state.order) == 1050  # never the same arch twice
    assert all(SPOS.macs(SPOS.check_arch(a)) <= 330_000_000 for a in state.order)
    assert state.rows[-1]["best_fitness"] == max(state.evaluated.values())
    assert [r["best_fitness"] for r in state.rows] == sorted(r["best_fitness"]
                                                             for r in state.rows)


def test_stagewise_generations_fix_alternate_halves_of_the_best(spos_chip):
    from enasim.nas.enasa.groups import fixed_layers
    from enasim.nas.enasa.search import EnasaSearch, SearchConfig

    search = EnasaSearch(spos_chip, SearchConfig(noc="ideal", search="stagewise", generations=2,
                                                 baselines=False))
    search.step()
    for gen, half in ((1, "bottom"), (2, "top")):
        best = search.best
        archs = search.candidates(gen)
        assert all(a[i] == best[i] for a in archs for i in fixed_layers(SPOS, half))
        search.state.generation = gen - 1  # evaluate the same generation for real
        row = search.step()
        assert row["fixed_half"] == half
        if half == "bottom":  # the fixed bottom half is one computation per group of 4
            assert row["shared_ops"] >= 3 * 12 * 10


def test_interrupted_search_resumes_to_the_same_result(spos_chip, tmp_path):
    from enasim.nas.enasa.search import EnasaSearch, SearchConfig

    cfg = SearchConfig(noc="ideal", search="stagewise", generations=4, baselines=False,
                       population=12, mutations=5, crossovers=5, top_k=4)
    whole = EnasaSearch(spos_chip, cfg).run()
    first = EnasaSearch(spos_chip, cfg, checkpoint=tmp_path / "ck.json")
    first.step()
    first.step()
    again = EnasaSearch(spos_chip, cfg, checkpoint=tmp_path / "ck.json")
    assert again.resumed_from == 1
    resumed = again.run()
    assert resumed.order == whole.order and resumed.rows == whole.rows
    other = SearchConfig(noc="ideal", search="evolution", generations=4, baselines=False)
    with pytest.raises(ConfigError, match="different search"):
        EnasaSearch(spos_chip, other, checkpoint=tmp_path / "ck.json")
    import json

    from enasim.nas.enasa.search import CHECKPOINT_VERSION

    data = json.loads((tmp_path / "ck.json").read_text())
    data["identity"]["version"] = CHECKPOINT_VERSION - 1  # an older enasim's checkpoint
    (tmp_path / "ck.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="written by another enasim"):
        EnasaSearch(spos_chip, cfg, checkpoint=tmp_path / "ck.json")


def test_fair_search_groups_use_every_operator_once(enasa_hw):
    from collections import Counter

    from enasim.mapping.supernet import SupernetChip
    from enasim.nas.enasa.search import EnasaSearch, SearchConfig

    chip = SupernetChip(FAIRNAS, enasa_hw, "digital")
    search = EnasaSearch(chip, SearchConfig(noc="ideal", search="fair", group=6, population=12,
                                            baselines=False))
    archs = search.candidates(0)
    for w in range(0, 12, 6):
        used = Counter((i, c) for a in archs[w:w + 6] for i, c in enumerate(a))
        assert len(used) == 19 * 6 and set(used.values()) == {1}
    with pytest.raises(ConfigError, match="multiple of 6"):
        EnasaSearch(chip, SearchConfig(noc="ideal", search="fair", group=4))


def test_fitness_plugins():
    from enasim.nas.enasa.search import load_fitness

    f = load_fitness("synthetic", 3)
    assert f("spos", (0,) * 20) == load_fitness("synthetic", 3)("spos", (0,) * 20)
    assert load_fitness("operator:add", 0) is __import__("operator").add
    for bad in ("nomodule_xyz:f", "operator", "operator:nothing_here"):
        with pytest.raises(ConfigError, match="fitness"):
            load_fitness(bad, 0)


# -- CLI ---------------------------------------------------------------------------------------

def test_cli_enasa_run_writes_outputs_and_resumes(tmp_path, capsys):
    import csv
    import json

    from enasim.cli import main

    out = tmp_path / "r"
    args = ["enasa", "run", "--space", "spos", "--search", "stagewise", "--group", "4",
            "--images", "1", "--hw", "enasa", "--generations", "2", "--population", "8",
            "--noc", "ideal", "-o", str(out)]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "iterations.csv").open()))
    assert [int(r["generation"]) for r in rows] == [0, 1, 2]
    for col in ("subnets_per_s", "crossbar_utilization", "energy_per_subnet_uj", "shared_ops",
                "conflicts", "speedup_vs_sequential", "energy_saving_vs_concurrent"):
        assert col in rows[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["subnets"] == 24 and summary["chip"]["supernet"] == "spos"
    assert summary["chip_other_depthwise"]["depthwise_mapping"] == "digital"
    assert summary["noc_model"] == "ideal" == summary["search"]["noc"]
    trace = json.loads((out / "timeline.json").read_text())
    assert any(e.get("args", {}).get("name") == "OPS unit" for e in trace["traceEvents"])
    for name in ("utilization_over_time", "speedup_energy", "energy_breakdown",
                 "link_utilisation"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 0
    # the example group's files are those of `enasim run`: one layers.csv row per computation
    ops = summary["example_group"]["ops"]
    layers = list(csv.DictReader((out / "layers.csv").open()))
    assert len(layers) == ops["computations"]
    energy = sum(float(r["energy_pj"]) for r in layers)
    chip = {r["component"]: float(r["energy_pj"]) for r in csv.DictReader(
        (out / "components.csv").open())}
    assert energy + chip["ops_unit"] + chip["leakage"] == pytest.approx(
        ops["energy_uj"] * 1e6, rel=1e-9)
    noc = list(csv.DictReader((out / "noc.csv").open()))
    assert noc and all(float(r["avg_contention_cycles"]) == 0 for r in noc)  # ideal
    assert sum(int(r["packets"]) for r in noc) == ops["noc"]["packets"]
    before = (out / "iterations.csv").read_text()
    capsys.readouterr()
    assert main(args) == 0  # everything done: resumes after the last generation
    assert "resuming after generation 2" in capsys.readouterr().out
    assert (out / "iterations.csv").read_text() == before
    assert main([*args[:-4], "--noc", "compiled", "-o", str(out)]) == 2  # another search
    assert "checkpoint belongs to a different search" in capsys.readouterr().err
    assert main(["plot", str(out)]) == 2  # `enasim plot` is for `enasim run` directories
    assert "of 'enasim enasa run', which draws its own plots/" in capsys.readouterr().err


def test_cli_enasa_runs_on_the_hwconfigs_mesh_by_default(tmp_path):
    """Without --noc the groups run on enasa's cycle-level mesh, where transfers contend."""
    import csv
    import json

    from enasim.cli import main

    out = tmp_path / "m"
    assert main(["enasa", "run", "--generations", "0", "--population", "4", "--no-baselines",
                 "-o", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["noc_model"] == "compiled"
    noc = list(csv.DictReader((out / "noc.csv").open()))
    assert max(float(r["avg_contention_cycles"]) for r in noc) > 0
    assert min(float(r["avg_contention_cycles"]) for r in noc) >= 0
    links = list(csv.DictReader((out / "links.csv").open()))
    flits = sum(int(r["flits"]) for r in links)
    assert flits == sum(int(r["link_flits"]) for r in noc)


@pytest.mark.parametrize("extra,field", [
    (["--group", "0"], "--group"),
    (["--space", "fairnas", "--search", "fair", "--group", "4"], "group"),
    (["--fitness", "nope"], "--fitness"),
    (["--hw", "no_such_hw.yaml"], "no_such_hw"),
    (["--search", "fair", "--flops-limit", "1000"],
     "field '--flops-limit': applies to the stagewise, evolution and random searches"),
])
def test_cli_enasa_bad_input_exits_2(tmp_path, capsys, extra, field):
    from enasim.cli import main

    assert main(["enasa", "run", "--generations", "0", "--population", "4", "-o",
                 str(tmp_path / "x"), *extra]) == 2
    assert field in capsys.readouterr().err


def test_ops_ranking_parallel_then_reuse_then_depth():
    import dataclasses

    import simpy

    from enasim.config import load
    from enasim.hw.ops import Computation, OpsUnit

    def comp(i, subnets, block=5):
        return Computation(i, f"op{i}", "xbar", block, subnets, 100.0, ("src",))

    reuse = {0: 0.0, 1: 0.0, 2: 0.9, 3: 0.0}
    cs = [comp(0, (0,)), comp(1, (1, 2, 3)), comp(2, (0,)), comp(3, (2,), block=1)]

    def order(cfg):
        unit = OpsUnit(simpy.Environment(), cfg, cs, lambda c: iter(()),
                       lambda c: reuse[c.index], None)
        return [c.index for c in sorted(cs, key=unit._key)]

    cfg = load("flash_imc").enasa
    assert (cfg.parallel_weight, cfg.reuse_weight, cfg.tie_break) == (1.0, 1.0, "depth")
    assert order(cfg) == [1, 2, 3, 0]  # most sub-nets, then resident input, then earlier block
    assert order(dataclasses.replace(cfg, tie_break="subnet")) == [1, 2, 0, 3]
    assert order(dataclasses.replace(cfg, parallel_weight=0.0))[0] == 2
    unit = OpsUnit(simpy.Environment(), cfg, cs, lambda c: iter(()), lambda c: reuse[c.index],
                   None)
    for c in cs:
        unit.ready(c)
    assert [c.index for c in unit.pick()] == [1]  # one crossbar set: the best one runs
    assert unit.conflicts == 3 and unit.ranked_conflicts == 1
    assert all(c.status == "ready" for c in cs if c.index != 1) and cs[1].status == "running"


def test_utilisation_split_dense_and_depthwise(enasa_hw):
    from enasim.mapping.supernet import SupernetChip
    from enasim.sim.ops import run_group

    group = ((0,) * 20, (3,) * 20)
    packed = run_group(SupernetChip(SPOS, enasa_hw, "packed"), group, "ops", 1, "ideal")
    assert packed.depthwise_arrays > 0 and packed.utilization_depthwise > 0
    total = packed.total_arrays * packed.utilization
    parts = ((packed.total_arrays - packed.depthwise_arrays) * packed.utilization_dense
             + packed.depthwise_arrays * packed.utilization_depthwise)
    assert parts == pytest.approx(total)
    digital = run_group(SupernetChip(SPOS, enasa_hw, "digital"), group, "ops", 1, "ideal")
    assert digital.depthwise_arrays == 0 and digital.utilization_depthwise == 0.0
    assert digital.utilization_dense == pytest.approx(digital.utilization)
    assert digital.energy_pj["depthwise_unit"] > 0 == packed.energy_pj["depthwise_unit"]
