"""`enasim enasa run`: an ENASA search on the supernet chip, with the OPS unit and baselines.

Every group runs in the engine's `ops` schedule (and, as baselines, `concurrent` and
`sequential`) over the interconnect `--noc` names (default: the hwconfig's `noc.model`, the
cycle-level mesh on `enasa`). Writes into DIR: `checkpoint.json` (the search state after each
generation; a rerun with the same arguments resumes from it), and at the end, as one set
(`enasim.fileio.result_set`): `iterations.csv` (one row per generation), `summary.json`, and
for one group of the last generation in `ops` mode the files `enasim run` writes:
`layers.csv` (one row per computation), `components.csv`, `noc.csv`, `links.csv`,
`timeline.json` (with the OPS unit's track) and `plots/` (crossbar utilisation over time of
that group in the three modes, its energy breakdown and link utilisation; speed-up and energy
saving of OPS over the baselines per generation).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enasim import __version__
from enasim.config import config_hash, load
from enasim.config.loader import resolve_path
from enasim.config.schema import NOC_MODELS
from enasim.errors import ConfigError
from enasim.fileio import atomic_write, check_result_dir, result_set
from enasim.nas.enasa import supernet_cli
from enasim.nas.enasa.search import SEARCHES, EnasaSearch, SearchConfig
from enasim.nas.spaces.fairnas import FAIRNAS
from enasim.nas.spaces.spos import FLOPS_LIMIT_MACS, SPOS
from enasim.validate import WORKERS_MAX, expect_int, int_arg, seed_arg

if TYPE_CHECKING:  # the simulator and matplotlib load when the command runs, not for its --help
    from matplotlib.figure import Figure

    from enasim.mapping.supernet import SupernetChip
    from enasim.sim.ops import GroupRun

SPACES = {"spos": SPOS, "fairnas": FAIRNAS}
DEFAULT_GROUP = {"spos": 4, "fairnas": 6}  # nas-workloads.md 7
RESULT_FILES = ("iterations.csv", "summary.json", "layers.csv", "components.csv", "noc.csv",
                "links.csv", "timeline.json", "plots")
CHECKPOINT = "checkpoint.json"


def add_parser(sub) -> None:
    p = sub.add_parser("enasa", help="ENASA: NAS on a supernet chip with the OPS unit")
    act = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = act.add_parser("run", help="run a search, simulating every group of sub-nets")
    r.add_argument("--space", choices=sorted(SPACES), default="spos",
                   help="supernet (default: spos)")
    r.add_argument("--search", choices=SEARCHES, default="stagewise",
                   help="candidate generator (default: stagewise)")
    r.add_argument("--group", type=int, help="sub-nets per group (default: 4 SPOS, 6 FairNAS)")
    r.add_argument("--images", type=int_arg(1, 10_000), default=1,
                   help="images per sub-net evaluation (default: 1)")
    r.add_argument("--hw", default="enasa", metavar="FILE",
                   help="hwconfig file or bundled name (default: enasa)")
    r.add_argument("-o", "--out", metavar="DIR", help="output directory "
                   "(default: results/enasa-SPACE-SEARCH)")
    r.add_argument("--depthwise", choices=("packed", "digital"),
                   help="depthwise mapping, overriding the hwconfig's mapping.depthwise")
    r.add_argument("--generations", type=int_arg(0, 10_000), default=20,
                   help="generations after the initial population (default: 20)")
    r.add_argument("--population", type=int_arg(1, 100_000), default=50,
                   help="candidates per generation (default: 50)")
    r.add_argument("--flops-limit", type=int, metavar="MACS",
                   help=f"MACs limit of a candidate (default: {FLOPS_LIMIT_MACS} for SPOS, "
                        f"none for FairNAS; not with --search fair, whose groups take every "
                        f"choice)")
    r.add_argument("--fitness", default="synthetic", metavar="SPEC",
                   help="'synthetic' (default), supernet:CHECKPOINT (test accuracy with weights "
                        "inherited from `enasa train`) or module:function called as "
                        "f(space, arch) -> float")
    r.add_argument("--seed", type=seed_arg, default=0, help="random seed (default: 0)")
    r.add_argument("--noc", choices=NOC_MODELS,
                   help="interconnect of the group runs, overriding the hwconfig's noc.model: "
                        "the cycle-level mesh compiled with Numba or as SimPy processes "
                        "(identical results; process, for checking, is about 15x slower), "
                        "or ideal (zero-load latency, no contention)")
    r.add_argument("--workers", type=int_arg(1, WORKERS_MAX), default=None,
                   help="processes simulating a generation's groups in parallel (default: "
                        "the CPUs available; results do not depend on it)")
    r.add_argument("--no-baselines", action="store_true",
                   help="simulate only the OPS mode (no sequential/concurrent baselines)")
    r.add_argument("--quiet", action="store_true", help="print only the output directory")
    r.set_defaults(func=cmd_run)
    supernet_cli.add_parser(act)


def cmd_run(args) -> int:
    from enasim.mapping.supernet import SupernetChip
    from enasim.report.files import result_tables
    from enasim.report.plots import energy_components, link_heatmap, save_png
    from enasim.report.timeline import timeline_json
    from enasim.sim.ops import GROUP_SCHEDULES as MODES
    from enasim.sim.ops import run_group

    net = SPACES[args.space]
    group = DEFAULT_GROUP[args.space] if args.group is None else args.group
    expect_int(group, "", "--group", 1)  # the other counts are checked by their parsers
    if args.search != "fair" and group > args.population:
        raise ConfigError("", "--group", f"expected at most --population ({args.population}): "
                          f"a generation's {args.population} candidates run in groups of "
                          f"--group, got {group}")
    limit = args.flops_limit
    if limit is not None and args.search == "fair":
        raise ConfigError("", "--flops-limit", "applies to the stagewise, evolution and random "
                          "searches; --search fair builds strict-fair groups without a limit")
    if limit is None and args.space == "spos":
        limit = FLOPS_LIMIT_MACS
    hw = load(resolve_path(args.hw, source="", field="--hw"))
    chip = SupernetChip(net, hw, args.depthwise)
    cfg = SearchConfig(search=args.search, group=group, images=args.images,
                       population=args.population, generations=args.generations,
                       flops_limit=limit, seed=args.seed, fitness=args.fitness,
                       baselines=not args.no_baselines, noc=args.noc or hw.noc.model)
    out = check_result_dir(args.out or f"results/enasa-{args.space}-{args.search}",
                           RESULT_FILES + (CHECKPOINT,))
    from enasim.sweep.backends import available_cpus

    search = EnasaSearch(chip, cfg, checkpoint=out / CHECKPOINT, hw_hash=config_hash(hw),
                         workers=args.workers or available_cpus())
    say = (lambda *a: None) if args.quiet else print
    if search.resumed_from >= 0:
        say(f"resuming after generation {search.resumed_from} ({out}/checkpoint.json)")

    def progress(row: dict[str, Any]) -> None:
        base = (f", x{row['speedup_vs_sequential']:.2f} speed / x"
                f"{row['energy_saving_vs_sequential']:.2f} energy vs sequential"
                if cfg.baselines else "")
        say(f"generation {row['generation']:2d}: {row['subnets_per_s']:.4g} sub-nets/s, "
            f"{row['energy_per_subnet_uj']:.4g} uJ/sub-net, utilisation "
            f"{row['crossbar_utilization']:.2%}, {row['shared_ops']} shared ops, "
            f"{row['conflicts']} conflicts{base}; best {row['best_fitness']:.4g}")

    search.run(progress)
    example = tuple(net.check_arch(a) for a in search.state.last[:group])
    modes = MODES if cfg.baselines else ("ops",)
    runs = {m: run_group(chip, example, m, cfg.images, cfg.noc) for m in modes}
    summary = _summary(args, hw, chip, search, runs)
    ops = runs["ops"]
    tables = result_tables(ops.stats, hw)
    figure_summary = {  # what the figures of `enasim run` put in their titles
        "workload": {"name": f"{net.name} group"}, "hwconfig": {"name": hw.name},
        "mesh": [chip.mesh_rows, chip.mesh_cols], "noc_model": cfg.noc,
        "energy_uj": ops.total_energy_pj / 1e6,
        "energy_uj_by_component": {k: v / 1e6 for k, v in ops.energy_pj.items()}}
    figs = {"utilization_over_time.png": _plot_utilization(runs),
            "energy_breakdown.png": energy_components(figure_summary),
            "link_utilisation.png": link_heatmap(list(csv.DictReader(io.StringIO(
                tables["links"]))), figure_summary)}
    if cfg.baselines:
        figs["speedup_energy.png"] = _plot_gains(search.state.rows)
    plots = [Path("plots") / name for name in sorted(figs)]
    with result_set(out, RESULT_FILES, keep=(CHECKPOINT,)) as stage:
        atomic_write(stage / "iterations.csv", _csv(search.state.rows))
        atomic_write(stage / "summary.json", json.dumps(summary, indent=2) + "\n")
        for name, text in tables.items():
            atomic_write(stage / f"{name}.csv", text)
        atomic_write(stage / "timeline.json", timeline_json(ops.stats, {
            "supernet": net.name, "group": [net.arch_str(a) for a in example],
            "hwconfig": hw.name, "mode": "ops", "noc_model": cfg.noc}))
        for name, fig in figs.items():
            save_png(fig, stage / "plots" / name)
    if args.quiet:
        print(out)
        return 0
    t = summary["totals"]
    print(f"\n{net.name} on {hw.name} ({chip.depthwise} depthwise, {cfg.noc} NoC): "
          f"{summary['chip']['tiles']} "
          f"tiles, {summary['chip']['arrays']} crossbars, {summary['chip']['area_mm2']:.4g} mm^2,"
          f" memory utilisation {summary['chip']['memory_utilization']:.1%}")
    print(f"{t['subnets']} sub-net evaluations: {t['subnets_per_s']:.4g} sub-nets/s, "
          f"{t['energy_per_subnet_uj']:.4g} uJ/sub-net, crossbar utilisation "
          f"{t['crossbar_utilization']:.2%}, {t['shared_ops']} shared ops, {t['conflicts']} "
          f"conflicts")
    if cfg.baselines:
        print(f"OPS vs sequential: x{t['speedup_vs_sequential']:.3g} speed, "
              f"x{t['energy_saving_vs_sequential']:.3g} energy; vs concurrent without sharing: "
              f"x{t['speedup_vs_concurrent']:.3g} speed, x{t['energy_saving_vs_concurrent']:.3g}"
              f" energy")
    print(f"best {summary['best']['arch']} (fitness {summary['best']['fitness']:.4g})")
    files = [f for f in RESULT_FILES if f != "plots"] + [CHECKPOINT]
    print(f"results in {out}/ ({', '.join(files + [str(p) for p in plots])})")
    return 0


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def _summary(args, hw, chip: SupernetChip, search: EnasaSearch,
             runs: dict[str, GroupRun]) -> dict[str, Any]:
    from enasim.mapping.supernet import SupernetChip
    from enasim.report.noc import noc_summary

    rows, cfg = search.state.rows, search.cfg
    subnets = sum(r["candidates"] for r in rows)
    cycles = sum(r["chip_cycles"] for r in rows)
    period = hw.clock_period_ns
    energy_uj = sum(r["energy_per_subnet_uj"] * r["candidates"] for r in rows)
    busy = sum(r["crossbar_utilization"] * r["chip_cycles"] for r in rows)
    totals: dict[str, Any] = {
        "generations": len(rows), "subnets": subnets, "chip_cycles": cycles,
        "chip_time_ms": cycles * period * 1e-6, "subnets_per_s": subnets / (cycles * period * 1e-9),
        "energy_per_subnet_uj": energy_uj / subnets, "crossbar_utilization": busy / cycles,
        "shared_ops": sum(r["shared_ops"] for r in rows),
        "op_instances": sum(r["op_instances"] for r in rows),
        "conflicts": sum(r["conflicts"] for r in rows)}
    if cfg.baselines:
        for m in ("sequential", "concurrent"):
            base_cycles = sum(r[f"{m}_cycles"] for r in rows)
            base_uj = sum(r[f"{m}_energy_per_subnet_uj"] * r["candidates"] for r in rows)
            totals[f"speedup_vs_{m}"] = base_cycles / cycles
            totals[f"energy_saving_vs_{m}"] = base_uj / energy_uj
    other = "digital" if chip.depthwise == "packed" else "packed"
    return {
        "enasim_version": __version__, "command": "enasa run",
        "hwconfig": {"name": hw.name, "source": str(resolve_path(args.hw)),
                     "hash": config_hash(hw)},
        "clock_period_ns": period, "noc_model": cfg.noc, "search": dict(cfg.__dict__),
        "space": chip.net.name,
        "chip": chip.summary(),
        "chip_other_depthwise": SupernetChip(chip.net, hw, other).summary(),
        "totals": totals,
        "best": {"arch": search.state.top[0], "fitness": search.state.evaluated[
            search.state.top[0]]},
        "example_group": {
            "archs": [chip.net.arch_str(a) for a in runs["ops"].group],
            **{m: {"latency_cycles": r.latency_cycles, "energy_uj": r.total_energy_pj / 1e6,
                   "energy_uj_by_component": {k: v / 1e6 for k, v in r.energy_pj.items()},
                   "crossbar_utilization": r.utilization,
                   "crossbar_utilization_dense": r.utilization_dense,
                   "crossbar_utilization_depthwise": r.utilization_depthwise,
                   "computations": r.computations,
                   "shared_ops": r.shared_ops, "conflicts": r.conflicts,
                   "ops_decisions": r.decisions, "ops_busy_cycles": r.ops_busy_cycles,
                   "noc": noc_summary(r.stats.traffic, r.latency_cycles)}
               for m, r in runs.items()}},
    }


def _plot_utilization(runs: dict[str, GroupRun]) -> Figure:
    """Share of the crossbars busy over time, one line per execution mode."""
    import matplotlib.pyplot as plt

    from enasim.report.plots import legend_outside  # (switches pyplot to the Agg backend)

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for mode, run in runs.items():
        x, y = run.utilization_curve(200)
        ax.step(x * run.clock_period_ns * 1e-6, 100 * y, where="post",
                label=f"{mode} ({run.utilization:.2%} mean)")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("crossbars busy (% of all)")
    ax.set_title("crossbar utilisation over time: one group of the last generation")
    legend_outside(ax)
    return fig


def _plot_gains(rows: list[dict[str, Any]]) -> Figure:
    """OPS speed-up and energy saving over the baselines, per generation."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from enasim.report.plots import legend_outside  # (switches pyplot to the Agg backend)

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"wspace": 0.3})
    gens = [r["generation"] for r in rows]
    for m in ("sequential", "concurrent"):
        a.plot(gens, [r[f"speedup_vs_{m}"] for r in rows], marker="o", label=f"vs {m}")
        b.plot(gens, [r[f"energy_saving_vs_{m}"] for r in rows], marker="o", label=f"vs {m}")
    a.set_title("OPS speed-up")
    a.set_ylabel("speed-up (baseline time / OPS time)")
    b.set_title("OPS energy saving")
    b.set_ylabel("saving (baseline energy / OPS energy)")
    for ax in (a, b):
        ax.set_xlabel("generation")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axhline(1.0, color="grey", lw=0.8)
    legend_outside(b)
    return fig
