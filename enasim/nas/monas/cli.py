"""`enasim monas run`: multi-objective Bayesian NAS on the block-CNN space, enasim as evaluator.

Writes into DIR: `study.sqlite` (the optuna study; rerunning the same command resumes it, to
`--trials` evaluated trials in total), `accuracy/` (with `--accuracy train...`: the trained
accuracies, by content, `enasim.nas.accuracy`), and at the end, as one set
(`enasim.fileio.result_set`): `trials.csv` (every complete trial), `pareto.csv` (the
non-dominated networks), `summary.json` (space size, counts, hypervolume, front and its block
statistics) and `plots/` (objectives with the front; block types and channels of the front's
networks per position).
"""

from __future__ import annotations

import json
from math import inf
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enasim import __version__
from enasim.config import load
from enasim.config.loader import resolve_path
from enasim.errors import ConfigError
from enasim.fileio import atomic_write, check_result_dir, result_set
from enasim.nas.monas.search import (
    OBJECTIVES,
    HardwareCost,
    Settings,
    analyse,
    hw_record,
    run_search,
)
from enasim.nas.spaces.blocks_cnn import MAX_BLOCKS, TYPES, BlocksCnnSpace
from enasim.validate import expect_int, int_arg, parse_numbers, seed_arg

if TYPE_CHECKING:  # matplotlib loads when the command plots, not for its --help
    from matplotlib.figure import Figure

RESULT_FILES = ("trials.csv", "pareto.csv", "summary.json", "plots")
STUDY = ("study.sqlite*", "accuracy")  # the study, SQLite's journals, trained accuracies
LABELS = {"accuracy": "accuracy", "latency_ns": "latency (ns)", "energy_uj": "energy (µJ)"}


def add_parser(sub) -> None:
    p = sub.add_parser("monas", help="multi-objective Bayesian NAS for CIM (block CNNs)")
    act = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = act.add_parser("run", help="search VGG/MVGG/RES block CNNs with TPE or random search")
    r.add_argument("--objective", default="acc/latency", metavar="|".join(OBJECTIVES),
                   help="accuracy against latency or energy, the three (pareto), or one "
                        "weighted score acc^a / (latency^l * energy^e) (default: acc/latency)")
    r.add_argument("--weights", metavar="A,L,E",
                   help="with --objective weighted: exponents a,l,e (default: 1,1,1)")
    r.add_argument("--trials", type=int_arg(1, 1_000_000), default=100,
                   help="evaluated trials in total (default: 100)")
    r.add_argument("--hw", default="flash_imc", metavar="FILE", help="hwconfig file or bundled "
                   "name (default: flash_imc)")
    r.add_argument("-o", "--out", metavar="DIR", help="output directory "
                   "(default: results/monas-OBJECTIVE-SAMPLER)")
    r.add_argument("--sampler", default="tpe", metavar="tpe|random",
                   help="TPE (Bayesian optimisation) or random search (default: tpe)")
    r.add_argument("--seed", type=seed_arg, default=0, help="seed of the sampler (default: 0)")
    r.add_argument("--evaluator", default="analytical", metavar="sim|analytical",
                   help="hardware costs from the analytical engine or the event simulator "
                        "(default: analytical)")
    r.add_argument("--accuracy", default="synthetic", metavar="SPEC",
                   help="'synthetic' (a deterministic stand-in, the default), "
                        "train[:DATASET][,epochs=E] (train each network on DATASET, digits "
                        "if omitted, FILE.npz or DIR, for E epochs, 1 if omitted; needs the "
                        "'train' extra), "
                        "module:function called as f(config) -> [0, 1], or FILE.csv with "
                        "columns label,accuracy")
    r.add_argument("--max-blocks", type=int, default=8, metavar="D",
                   help="block slots (default: 8)")
    r.add_argument("--channels", default="32,64,128", metavar="C1,C2,...",
                   help="output channels a block can have (default: 32,64,128)")
    r.add_argument("--quiet", action="store_true", help="print only the output directory")
    r.set_defaults(func=cmd_run)


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise ConfigError("", flag, f"expected positive integers separated by commas, "
                          f"got {text!r}")
    return tuple(sorted(set(values)))




def cmd_run(args) -> int:
    from enasim.report.plots import save_png

    if args.trials < 1:
        raise ConfigError("", "--trials", f"expected an integer >= 1, got {args.trials}")
    expect_int(args.max_blocks, "", "--max-blocks", 1, MAX_BLOCKS)
    channels = _ints(args.channels, "--channels")
    hw_path = resolve_path(args.hw, source="", field="--hw")
    if args.weights is not None and args.objective != "weighted":
        raise ConfigError("", "--weights", f"applies with --objective weighted, not "
                          f"{args.objective!r}")
    settings = Settings(objective=args.objective, sampler=args.sampler, seed=args.seed,
                        evaluator=args.evaluator, accuracy=args.accuracy,
                        weights=parse_numbers(args.weights or "1,1,1", 3, "", "--weights",
                                              0.0),
                        space=BlocksCnnSpace(args.max_blocks, channels))
    hw = load(hw_path)
    out = check_result_dir(args.out or f"results/monas-{args.objective.replace('/', '-')}-"
                           f"{args.sampler}", RESULT_FILES + STUDY)
    say = (lambda *a: None) if args.quiet else print

    def progress(row: dict[str, Any]) -> None:
        say(f"trial {row['trial']:4d}/{args.trials}: {row['label']:<40} acc "
            f"{row['accuracy']:.4f}  {row['latency_ns']:.4g} ns  {row['energy_uj']:.4g} uJ")

    cost = HardwareCost(hw, settings.evaluator)
    search = run_search(settings, hw, args.trials, out / "study.sqlite", cost, progress)
    rows = search.rows
    result = analyse(rows, settings, cost)
    front_labels = {r["label"] for r in result["front"]}
    front_numbers = {r["number"] for r in result["front"]}
    trials = [{**r, "on_front": int(r["number"] in front_numbers)} for r in rows]
    space = settings.space
    summary = {
        "enasim_version": __version__, "command": "monas run",
        "settings": settings.record(), "hwconfig": hw_record(hw, str(hw_path)),
        "space": {"configurations": space.size(), "networks": space.networks(),
                  "empty_slots": "interleaved (slot 0 holds a block)",
                  "max_blocks": space.max_blocks, "channels": list(space.channels),
                  "max_pools": space.max_pools},
        "trials": {"requested": args.trials, "complete": len(rows), "failed": len(search.failed),
                   "unique_networks": len({r["label"] for r in rows}),
                   "front": len(front_labels)},
        "objective_values": list(settings.goal.values),
        "directions": list(settings.goal.directions),
        **result,
        "failed": search.failed,
    }
    plots = [Path("plots/objectives.png"), Path("plots/front_blocks.png")]
    with result_set(out, RESULT_FILES, keep=STUDY) as stage:
        atomic_write(stage / "trials.csv", _dict_csv(trials))
        atomic_write(stage / "pareto.csv", _dict_csv(result["front"]))
        atomic_write(stage / "summary.json", json.dumps(summary, indent=2) + "\n")
        save_png(_plot_objectives(rows, result), stage / plots[0])
        save_png(_plot_blocks(result["front_stats"]), stage / plots[1])
    if args.quiet:
        print(out)
        return 0
    st = result["front_stats"]
    if search.failed:
        print(f"{len(search.failed)} trials failed (the chip cannot take the network), e.g. "
              f"{search.failed[0]['label']}: {search.failed[0]['error']}")
    print(f"\n{len(rows)} trials ({summary['trials']['unique_networks']} networks) of "
          f"{space.size():,} configurations; front of {len(front_labels)}: hypervolume "
          f"{result['hypervolume']:.4f} ({', '.join(result['metrics'])}, normalised)")
    if front_labels:
        print(f"front networks: {st['mean_blocks']:.2f} blocks, {st['mean_channels']:.1f} "
              f"channels, {st['mean_params'] / 1e3:.0f}k parameters on average; types "
              + ", ".join(f"{t} {n}" for t, n in st["type_counts"].items()))
    files = ["study.sqlite", "trials.csv", "pareto.csv", "summary.json"]
    print(f"results in {out}/ ({', '.join(files + [str(p) for p in plots])})")
    return 0


def _dict_csv(rows: list[dict[str, Any]]) -> str:
    """Rows of one key order as CSV (empty text for no rows)."""
    from enasim.report.files import csv_text

    return csv_text(list(rows[0]), [[r.get(k, "") for k in rows[0]] for r in rows]) if rows \
        else ""


def _plot_objectives(rows: list[dict[str, Any]], result: dict[str, Any]) -> Figure:
    """Accuracy against each cost of the objective: all trials, the front highlighted."""
    import matplotlib.pyplot as plt

    from enasim.report.plots import legend_outside  # (switches pyplot to the Agg backend)

    costs = [m for m in result["metrics"] if m != "accuracy"]
    fig, axes = plt.subplots(1, len(costs), figsize=(5.5 * len(costs), 4), squeeze=False)
    front = result["front"]
    for ax, m in zip(axes[0], costs, strict=True):
        ax.scatter([r[m] for r in rows], [r["accuracy"] for r in rows], s=12, c="tab:blue",
                   alpha=0.5, label="trials")
        pts = sorted((r[m], r["accuracy"]) for r in front)
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=30, c="tab:red", label="front", zorder=3)
        if pts and len(costs) == 1:
            ax.step(*zip(*pts, strict=True), where="post", c="tab:red", lw=1)
        _cost_axis(ax, [r[m] for r in rows])
        ax.set_xlabel(LABELS[m])
        ax.set_ylabel("accuracy")
    legend_outside(axes[0][-1])
    fig.suptitle(f"{len(rows)} trials, {len(front)} on the front "
                 f"(hypervolume {result['hypervolume']:.4f})")
    return fig


def _cost_axis(ax, values: list[float]) -> None:
    """A log x axis over a decade or more, labelled at 1, 2, 5 x 10^n below two decades; a
    linear one over less (a log axis inside one decade has no labelled tick). Large values in
    powers of ten, so that the labels do not run into each other."""
    from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, LogLocator, NullFormatter

    lo, hi = min(values), max(values)
    if lo <= 0 or hi < 10 * lo:
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)
        return
    ax.set_xscale("log")
    if hi < 100 * lo:
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}") if lo >= 1e-3 and hi < 1e4
                                 else LogFormatterSciNotation(minor_thresholds=(inf, inf)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plot_blocks(stats: dict[str, Any]) -> Figure:
    """Block types and mean channels of the front's networks, per block position."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from enasim.report.plots import legend_outside  # (switches pyplot to the Agg backend)

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"wspace": 0.45})
    per = stats["per_position"]
    x = [p["position"] for p in per]
    bottom = [0] * len(per)
    for kind in (*TYPES, "empty"):
        h = [p[kind] for p in per]
        a.bar(x, h, bottom=bottom, label=kind, color="lightgrey" if kind == "empty" else None)
        bottom = [u + v for u, v in zip(bottom, h, strict=True)]
    a.set_ylabel("front networks")
    a.yaxis.set_major_locator(MaxNLocator(integer=True))
    a.set_title("block types")
    legend_outside(a, fontsize="small")
    b.bar(x, [p["mean_channels"] or 0 for p in per], color="tab:green")
    b.set_ylabel("mean output channels")
    b.set_title("channels (networks with a block there)")
    for ax in (a, b):
        ax.set_xlabel("block position")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig
