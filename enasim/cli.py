"""`enasim` command line: parses arguments, calls the library, prints. Exit 2 on bad input.

The parsers are built from light modules only: numpy, numba, SimPy, matplotlib and the engines
load when a command runs (each subcommand's module imports what it needs in its command
function), so that `enasim --help` and every subcommand's `--help` answer at once
(tests/test_cli_help.py checks what they import).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
from pathlib import Path

from enasim import __version__, api
from enasim.config import config_hash, parse_set, to_yaml
from enasim.config.loader import load, load_option, resolve_path
from enasim.config.options import add_hw_options, add_set_option
from enasim.config.schema import ACCOUNTINGS, NOC_MODELS
from enasim.errors import EnasimError
from enasim.fileio import check_output_file
from enasim.functional import cli as infer_cli
from enasim.nas.enasa import cli as enasa_cli
from enasim.nas.flash import cli as flash_cli
from enasim.nas.monas import cli as monas_cli
from enasim.noc import cli as noc_cli
from enasim.noc.settings import FORMATS as TRACE_FORMATS
from enasim.sweep import cli as sweep_cli
from enasim.train import cli as train_cli
from enasim.validate import seed_arg
from enasim.validation import cli as validation_cli
from enasim.workload import load_workload, zoo_names
from enasim.workload.zoo import SUBNET_FORMS

DEFAULT_WORKLOAD = "vgg8"


class Parser(argparse.ArgumentParser):
    """argparse with the house error format: one line `enasim: error: field '--flag': ...`
    and exit 2 (subcommand parsers inherit the class)."""

    def error(self, message: str):
        message = re.sub(r"^argument ([^:]+): ", r"field '\1': ", message)
        self.exit(2, f"enasim: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="enasim",
                                description="Cycle-level simulator of ReRAM CIM accelerators.")
    p.add_argument("--version", action="version", version=f"enasim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def hw_and_workload(sp: argparse.ArgumentParser) -> None:
        add_hw_options(sp)
        sp.add_argument("--workload", default=DEFAULT_WORKLOAD, metavar="NAME|FILE",
                        help=f"zoo name ({', '.join(zoo_names())}), supernet sub-net "
                             f"({SUBNET_FORMS}) or workload YAML "
                             f"(default: {DEFAULT_WORKLOAD})")

    run = sub.add_parser("run", help="simulate a workload on a chip and write results")
    hw_and_workload(run)
    run.add_argument("-o", "--out", metavar="DIR",
                     help="results directory (default: results/HW-WORKLOAD)")
    run.add_argument("--engine", choices=["sim", "analytical"], default="sim",
                     help="'sim': the SimPy event engine (default); 'analytical': closed form")
    run.add_argument("--plots", action="store_true", help="also write plots/ (PNG figures)")
    run.add_argument("--trace-ces", action="store_true",
                     help="timeline: add a track per compute element (sim engine)")
    run.add_argument("--noc", choices=NOC_MODELS,
                     help="interconnect model (sim engine), overriding the hwconfig's noc.model: "
                          "the cycle-level mesh compiled with Numba or as SimPy processes "
                          "(identical results), or ideal (zero-load latency, no contention)")
    run.add_argument("--accounting", choices=ACCOUNTINGS,
                     help="overrides timing.accounting: 'neurosim' (NeuroSim V1.3's serial "
                          "per-layer sum over its H-tree) or 'overlapped' (enasim's schedules "
                          "on a mesh; give the mesh with --noc)")
    run.add_argument("--activity", choices=["assumed", "measured"], default="assumed",
                     help="ADC energy from the hwconfig's assumed input-bit density (default) "
                          "or from the row activity measured by running the layers "
                          "functionally on the crossbars (seeded random or given data)")
    run.add_argument("--weights", metavar="FILE.npz",
                     help="with --activity measured: integer weights per layer (as enasim "
                          "infer; default: seeded random)")
    run.add_argument("--inputs", metavar="FILE.npz",
                     help="with --activity measured: integer images (default: seeded random)")
    run.add_argument("--images", type=int, metavar="N",
                     help="images to run through the chip, one after another (default 1; "
                          "pipelined: overlapping, reporting the period and throughput); with "
                          "--activity measured, also the images measured on")
    run.add_argument("--seed", type=seed_arg, default=0,
                     help="random seed, recorded in the results")
    run.add_argument("--quiet", action="store_true", help="print only the results directory")
    run.set_defaults(func=cmd_run)

    pl = sub.add_parser("plot", help="draw the figures of a results directory into DIR/plots")
    pl.add_argument("results", metavar="RESULTS_DIR", help="a directory written by enasim run")
    pl.set_defaults(func=cmd_plot)

    mp = sub.add_parser("map", help="print the per-layer crossbar mapping and chip utilisation")
    hw_and_workload(mp)
    mp.set_defaults(func=cmd_map)

    cfg = sub.add_parser("config", help="show or check a hwconfig")
    cfg_sub = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, fn, text in (("show", cmd_config_show, "print the resolved config"),
                           ("check", cmd_config_check, "validate a config")):
        sp = cfg_sub.add_parser(name, help=text)
        sp.add_argument("file", metavar="FILE", help="hwconfig YAML file or bundled name")
        add_set_option(sp)
        sp.set_defaults(func=fn)

    wl = sub.add_parser("workload", help="inspect workloads")
    wl_sub = wl.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = wl_sub.add_parser("show", help="print layers, shapes, MACs and parameters")
    show.add_argument("workload", metavar="NAME|FILE",
                      help=f"zoo name, supernet sub-net ({SUBNET_FORMS}) or workload YAML")
    show.set_defaults(func=cmd_workload_show)
    tr = sub.add_parser("trace", help="NoC traces of a run")
    tr_sub = tr.add_subparsers(dest="action", required=True, metavar="ACTION")
    ex = tr_sub.add_parser("export", help="simulate a workload and write the packets its "
                           "layer-to-layer traffic put on the NoC as a trace")
    hw_and_workload(ex)
    ex.add_argument("-o", "--out", required=True, metavar="FILE",
                    help="trace file (.csv, .jsonl or .json for the BookSim2-fork format)")
    ex.add_argument("--format", choices=list(TRACE_FORMATS),
                    help="trace format (default: from the file suffix)")
    ex.add_argument("--noc", choices=NOC_MODELS,
                    help="interconnect model of the run (default: the hwconfig's noc.model)")
    ex.set_defaults(func=cmd_trace_export)
    noc_cli.add_parser(sub)
    flash_cli.add_parser(sub)
    infer_cli.add_parser(sub)
    sweep_cli.add_parser(sub)
    enasa_cli.add_parser(sub)
    monas_cli.add_parser(sub)
    train_cli.add_parser(sub)
    validation_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the whole process: the interpreter exits after this
        try:
            return _main(sys.argv[1:])
        finally:
            # Skip the exit-time garbage collection over Numba's and NumPy's many objects
            # (a quarter of a second of `enasim run`); nothing of enasim's needs finalising.
            gc.freeze()
    return _main(argv)


def _main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(sweep_cli.default_action(argv))
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args) or 0
    except EnasimError as exc:
        print(f"enasim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`enasim workload show x | head -1`): stop quietly, and keep
        # Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _load_inputs(args):
    hw, _ = load_option(args.hw, args.set)
    return hw, load_workload(args.workload)


def cmd_run(args) -> int:
    from enasim.report.tables import layers_table

    show = not args.quiet and sys.stderr.isatty()
    path = resolve_path(args.hw, source="", field="--hw")
    sets = parse_set(args.set)
    if args.accounting:  # the hwconfig as the run will use it (its name names the results)
        sets += api.accounting_sets(path, sets, args.accounting, args.engine, args.noc)
    hw = load(path, sets)
    net = load_workload(args.workload)
    out = Path(args.out or f"results/{hw.name}-{net.name}")
    result = api.run(path, net, overrides=parse_set(args.set), engine=args.engine,
                     noc=args.noc, accounting=args.accounting, activity=args.activity,
                     weights=args.weights,
                     inputs=args.inputs, images=args.images, seed=args.seed, out=out,
                     plots=args.plots, trace_ces=args.trace_ces,
                     progress=_progress if show and args.engine == "sim" else None)
    summary, stats = result.summary, result.stats
    plots = sorted((out / "plots").glob("*.png")) if args.plots else []
    if args.quiet:
        print(out)
        return 0
    timing = ("NeuroSim's serial accounting over its H-tree, not simulated"
              if stats.accounting == "neurosim" else hw.execution.mode)
    if stats.accounting == "neurosim" and hw.execution.mode == "pipelined":
        timing = "NeuroSim's pipeline accounting over its H-tree (latency = period), not simulated"
    print(f"enasim {__version__}: {net.name} on {result.mapping.hw.name} ({stats.engine} "
          f"engine, {timing})\n")
    print(layers_table(stats))
    e = summary["energy_uj_by_component"]
    top = sorted(e.items(), key=lambda kv: -kv[1])[:4]
    ic = ("H-tree" if stats.noc_model == "htree"
          else f"mesh {summary['mesh'][0]}x{summary['mesh'][1]}")
    print(f"\narea        {summary['area_mm2']:.4g} mm^2 ({summary['tiles']} tiles, "
          f"{summary['crossbars']} crossbars, {ic}, "
          f"utilisation {summary['utilization']:.1%})")
    images = f", {stats.images} images" if stats.images > 1 else ""
    degree = summary.get("pipeline_speedup_degree")
    if degree:
        capped = (" (capped as NeuroSim caps it)" if degree["effective"] < degree["configured"]
                  else "")
        print(f"balance     speed-up degree {degree['effective']} of "
              f"{degree['configured']} configured{capped}")
    print(f"latency     {summary['latency_cycles']} cycles = {summary['latency_ns'] / 1e3:.4g} us "
          f"(clock {hw.clock_period_ns:.4g} ns{images})")
    if stats.images > 1:
        slowest = ""
        if "bottleneck_layer" in summary:
            limit = summary["bottleneck_layer"]
            slowest = (f", slowest stage {summary['slowest_stage_layer']} "
                       f"({summary['slowest_stage_cycles']} cycles): "
                       + ("the interconnect sets the period" if limit == "interconnect"
                          else f"{limit} sets the period"))
        print(f"throughput  {summary['throughput_images_per_s']:.4g} images/s: period "
              f"{summary['period_cycles']:.6g} cycles per image, first image "
              f"{summary['first_image_latency_cycles']} cycles{slowest}")
    print(f"energy      {summary['energy_uj']:.4g} uJ ("
          + ", ".join(f"{k} {v:.3g}" for k, v in top) + ")")
    print(f"efficiency  {summary['tops_per_w']:.4g} TOPS/W")
    _print_range_warning(summary, hw.adc)
    if "noc" in summary:
        noc = summary["noc"]
        print(f"noc         {noc['packets']} packets, {noc['flits']} flits, mean packet latency "
              f"{noc['avg_packet_latency_cycles']:.4g} cycles, busiest link "
              f"{noc['max_link_utilization']:.1%} ({stats.noc_model} interconnect model)")
    files = ["summary.json", "layers.csv", "components.csv"]
    files += ["noc.csv", "links.csv"] if stats.traffic is not None else []
    files += ["timeline.json"] if stats.spans else []
    files += [f"plots/{p.name}" for p in plots]
    print(f"\nresults in {out}/ ({', '.join(files)})")
    return 0


def _print_range_warning(summary: dict, adc) -> None:
    """One line when the ADC range rule computes badly: the network's measured output error
    above 0.25, or else the range probe's array error above its threshold."""
    from enasim.functional.probe import MAX_OUTPUT_REL_RMS, PROBE_WARN_REL_RMS

    measured, probe = summary["functional_rel_rms_error"], summary["adc_range_probe"]
    if measured is not None and measured > MAX_OUTPUT_REL_RMS:
        print(f"accuracy    output rel. RMS error {measured:.3g} measured on this network "
              f"({adc.bits}-bit ADC, range_mode {adc.range_mode}): its numbers are of a chip "
              "that does not compute this network correctly")
    elif measured is None and probe["rel_rms_error"] > PROBE_WARN_REL_RMS:
        print(f"accuracy    {adc.bits}-bit ADC, range_mode {adc.range_mode}: one "
              f"{probe['rows']}-row array computes with rel. RMS error "
              f"{probe['rel_rms_error']:.3g} (LSB {probe['adc_step']} cell levels); networks "
              "compound it (measure: enasim infer, docs/models.md)")


def _progress(done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\rsimulating: layer {done}/{total}", end=end, file=sys.stderr, flush=True)


def cmd_trace_export(args) -> int:
    from enasim.mapping import map_network
    from enasim.noc.traces import trace_format, write_trace
    from enasim.sim import Simulator

    hw, net = _load_inputs(args)
    fmt = trace_format(args.out, args.format)
    check_output_file(args.out)
    mapping = map_network(net, hw)
    traffic = Simulator(mapping, noc_model=args.noc).run().traffic
    write_trace(args.out, traffic.packets, fmt)
    n = hw.noc
    print(f"{args.out}: {len(traffic.packets)} packets, {traffic.packets.total_flits} flits "
          f"({net.name} on {hw.name}, {fmt})\nreplay: enasim noc --mesh "
          f"{mapping.mesh_rows}x{mapping.mesh_cols} --trace {args.out} --vcs {n.num_vcs} "
          f"--vc-buf {n.vc_buf_flits} --routing-delay {n.routing_delay} --va-delay "
          f"{n.va_delay} --sa-delay {n.sa_delay} --st-delay {n.st_delay} --link-delay "
          f"{n.link_delay}")
    return 0


def cmd_plot(args) -> int:
    from enasim.report.plots import plot_results

    for path in plot_results(args.results):
        print(path)
    return 0


def cmd_map(args) -> int:
    from enasim.mapping import map_network
    from enasim.report.tables import format_table

    hw, net = _load_inputs(args)
    m = map_network(net, hw)
    rows = []
    for lm in m.layers:
        t = lm.tiling
        tiles = f"{lm.tile_ids[0]}-{lm.tile_ids[-1]}" if len(lm.tile_ids) > 1 else lm.tile_ids[0]
        rows.append([lm.index, lm.name, t.rows, t.cols, len(t.block_rows), t.col_blocks,
                     t.arrays, t.copies, lm.tiles, t.arrays_per_tile, t.style,
                     round(lm.utilization(hw), 4), tiles])
    print(f"{net.name} on {hw.name}: {hw.crossbar.rows}x{hw.crossbar.cols} crossbars, "
          f"{hw.columns_per_weight} columns per weight, mapping '{hw.mapping.scheme}'\n")
    print(format_table(["#", "layer", "rows", "cols", "row_blocks", "col_blocks", "arrays",
                        "copies", "tiles", "arrays/tile", "style", "util", "tile_ids"], rows))
    print(f"\n{m.total_tiles} tiles, {m.total_arrays} crossbars on a {m.mesh_rows}x{m.mesh_cols} "
          f"mesh ({hw.mapping.placement}); chip utilisation {m.utilization():.2%}")
    return 0


def cmd_config_show(args) -> int:
    print(to_yaml(load_option(args.file, args.set, "FILE")[0]), end="")
    return 0


def cmd_config_check(args) -> int:
    cfg, path = load_option(args.file, args.set, "FILE")
    print(f"{path}: OK ({cfg.name}, hash {config_hash(cfg)})")
    return 0


def cmd_workload_show(args) -> int:
    from enasim.report.tables import format_table, shape_str

    net = load_workload(args.workload)
    rows = [[i, n.name, n.kind, ",".join(n.inputs), shape_str(n.out_shape), n.macs, n.params]
            for i, n in enumerate(net.nodes)]
    print(format_table(["#", "layer", "op", "inputs", "out_shape", "macs", "params"], rows))
    print(f"\n{net.name}: {len(net.nodes) - 1} layers ({len(net.weight_layers)} with weights), "
          f"{net.macs:,} MACs, {net.params:,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
