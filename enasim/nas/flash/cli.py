"""`enasim flash ...`: FLASH's flow on enasim: accuracy predictor, fitted hardware models,
searches."""

from __future__ import annotations

import json
import sys

from enasim.config.schema import NOC_MODELS
from enasim.validate import NETWORKS_MAX, WORKERS_MAX, int_arg, seed_arg

SPACES = ("enasim", "paper")  # FlashSpace(shared_depth=False | True)
SPACE_HELP = ("'enasim' (default): a depth per cell, 1.26e13 architectures; 'paper': one "
              "depth shared by the cells, as FLASH defines its space, 3.2e10")
TRAINING_FREE = {"samples": 20_000, "seed": 0}  # options of the training-free search only


def add_parser(sub) -> None:
    p = sub.add_parser("flash", help="FLASH: predictor, fitted hardware models, SHGO search")
    fsub = p.add_subparsers(dest="flash_command", required=True, metavar="COMMAND")
    pred = fsub.add_parser("predictor", help="theta(g) = 1/(a + exp(b/g + c))")
    psub = pred.add_subparsers(dest="predictor_command", required=True, metavar="ACTION")
    fit = psub.add_parser("fit", help="fit (a, b, c) to a CSV of (g or architecture, accuracy)")
    fit.add_argument("data", metavar="DATA.csv",
                     help="columns g,accuracy or wm,depths,tcs,accuracy (depths/tcs: "
                          "per-cell values separated by ';'); accuracy as fraction or percent")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.set_defaults(func=cmd_predictor_fit)

    sa = fsub.add_parser("samples", help="train N sampled networks and write the "
                         "wm,depths,tcs,accuracy CSV of `flash predictor fit` (needs the "
                         "'train' extra)")
    sa.add_argument("n", type=int_arg(1, NETWORKS_MAX), metavar="N", help="networks to train")
    sa.add_argument("--dataset", default="digits", metavar="digits|FILE.npz|DIR",
                    help="as `enasim train --dataset` (default: digits, networks at 8x8)")
    sa.add_argument("--epochs", type=float, default=3.0,
                    help="training epochs per network (default: 3)")
    sa.add_argument("--seed", type=seed_arg, default=0,
                    help="seed of the samples, the split and the training (default: 0)")
    sa.add_argument("--wm", default="1,3", metavar="LO,HI", help="w_m range (default: 1,3)")
    sa.add_argument("--depth", default="5,30", metavar="LO,HI",
                    help="d_c range (default: 5,30)")
    sa.add_argument("-o", "--out", default="results/flash-samples",
                    help="output directory: samples.csv, run.json and trained/ (resumable; "
                         "default: results/flash-samples)")
    sa.set_defaults(func=cmd_samples)

    hw = fsub.add_parser("fit", help="simulate sampled networks, fit area/latency/energy "
                         "models, report their error (Tables 7 and 8)")
    hw.add_argument("--hw", default="flash_imc",
                    help="hwconfig file or bundled name (default: flash_imc)")
    hw.add_argument("--train", type=int_arg(1, NETWORKS_MAX), default=180,
                    help="networks to fit on, more than the largest model's parameters "
                         "(default: 180)")
    hw.add_argument("--test", type=int_arg(1, NETWORKS_MAX), default=540,
                    help="held-out networks to check on (default: 540)")
    hw.add_argument("--seed", type=seed_arg, default=0,
                    help="seed of the sampled networks (default: 0)")
    hw.add_argument("-o", "--out", default="results/flash-fit",
                    help="output directory; OUT/sims holds the resumable simulations "
                         "(default: results/flash-fit)")
    hw.add_argument("--engine", choices=("sim", "analytical"), default="sim",
                    help="ground truth: the event engine (default) or the closed-form model")
    hw.add_argument("--noc", choices=NOC_MODELS,
                    help="with --engine sim: interconnect of the simulations (default: the "
                         "hwconfig's noc.model, the cycle-level mesh on flash_imc; 'ideal' is "
                         "zero-load, without contention)")
    hw.add_argument("--workers", type=int_arg(1, WORKERS_MAX), default=None,
                    help="parallel simulations (default: the CPUs available)")
    hw.add_argument("--space", choices=SPACES, default="enasim", help=SPACE_HELP)
    hw.set_defaults(func=cmd_fit)

    se = fsub.add_parser("search", help="training-free NAS and SHGO searches on fitted models "
                         "(Table 10)")
    se.add_argument("--models", required=True, metavar="MODELS.json",
                    help="written by `enasim flash fit` (OUT/models.json)")
    se.add_argument("--hw", default="flash_imc",
                    help="the hwconfig the models were fitted on (default: flash_imc)")
    se.add_argument("--predictor", metavar="A,B,C", default=None,
                    help="theta(g) parameters (from `flash predictor fit`); without it the "
                         "objective uses g for theta")
    se.add_argument("--methods", default="training-free,hierarchical,one-level",
                    help="comma-separated: training-free, hierarchical, one-level, exhaustive "
                         "(default: training-free,hierarchical,one-level)")
    se.add_argument("--min-quality", type=float, default=None,
                    help="theta >= this (g >= this without --predictor)")
    se.add_argument("--max-area-mm2", type=float, default=None, help="area bound, mm^2")
    se.add_argument("--max-latency-ms", type=float, default=None, help="latency bound, ms")
    se.add_argument("--max-energy-mj", type=float, default=None, help="energy bound, mJ")
    se.add_argument("--samples", type=int_arg(1, 10_000_000),
                    help=f"training-free samples (default: {TRAINING_FREE['samples']:,})")
    se.add_argument("--seed", type=seed_arg,
                    help=f"seed of the training-free samples (default: "
                         f"{TRAINING_FREE['seed']})")
    se.add_argument("--wm", default="1,3", metavar="LO,HI", help="w_m range (default: 1,3)")
    se.add_argument("--depth", default="5,30", metavar="LO,HI",
                    help="d_c range (default: 5,30)")
    se.add_argument("--t-step", type=int_arg(1, 1000), default=1,
                    help="grid of t_c (reduced spaces; default: 1)")
    se.add_argument("--simulate", action="store_true",
                    help="simulate the best architecture to confirm its predicted numbers; "
                         "warns where they differ by more than the model's held-out max error")
    se.add_argument("--noc", choices=NOC_MODELS,
                    help="with --simulate: interconnect of the simulation (default: the "
                         "ground truth the models were fitted on, recorded in MODELS.json)")
    se.add_argument("--space", choices=SPACES, default="enasim", help=SPACE_HELP)
    se.add_argument("--json", action="store_true", help="print one JSON object")
    se.set_defaults(func=cmd_search)


def cmd_predictor_fit(args) -> int:
    from enasim.nas.flash.predictor import fit_predictor, read_accuracy_csv

    g, acc = read_accuracy_csv(args.data)
    p = fit_predictor(g, acc, args.data)
    if args.json:
        print(json.dumps({"a": p.a, "b": p.b, "c": p.c, "rmse": p.rmse, "samples": p.samples}))
    else:
        print(f"theta(g) = 1 / (a + exp(b / g + c)) fitted on {p.samples} networks "
              f"(g {g.min():.4g} .. {g.max():.4g})\n"
              f"a = {p.a:.6g}\nb = {p.b:.6g}\nc = {p.c:.6g}\n"
              f"RMSE = {p.rmse:.4g} ({p.rmse * 100:.3g} accuracy points)")
    return 0


def cmd_samples(args) -> int:
    from enasim.nas.flash.samples import run_samples

    def show(i: int, s) -> None:
        how = "cached" if s.cached else f"{s.seconds:.1f} s"
        print(f"sample {i + 1:3d}/{args.n}: wm {s.wm} depths {'-'.join(map(str, s.depths))} "
              f"tcs {'-'.join(map(str, s.tcs))}  g {s.g:.4g}  accuracy {s.accuracy:.4f}  "
              f"({how})", flush=True)

    done = run_samples(args.n, args.out, args.dataset, args.epochs, args.seed,
                       _pair(args.wm, "--wm"), _pair(args.depth, "--depth"), show)
    trained = sum(not s.cached for s in done)
    print(f"\n{len(done)} samples ({trained} trained now); {args.out}/samples.csv: "
          f"enasim flash predictor fit {args.out}/samples.csv")
    return 0


def _pair(text: str, flag: str) -> tuple[int, int]:
    from enasim.errors import ConfigError

    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError("", flag, f"expected LO,HI integers, got {text!r}") from None
    return lo, hi


def cmd_fit(args) -> int:
    from enasim.errors import ConfigError
    from enasim.nas.flash.fit import fit_run
    from enasim.report.tables import format_table

    if args.noc is not None and args.engine != "sim":
        raise ConfigError("", "--noc", f"applies with --engine sim; the {args.engine} engine "
                          f"has no interconnect model")
    from enasim.nas.spaces.densenet_flash import FlashSpace

    r = fit_run(args.hw, args.train, args.test, args.seed, args.out, args.engine,
                args.noc, args.workers,
                space=FlashSpace(shared_depth=args.space == "paper"))
    print(f"{r.networks} networks simulated ({r.failed} failed) in {r.sim_wall_s:.1f} s; "
          f"models in {r.out / 'models.json'}\n")
    print(f"Table 7: linear models on the test networks; ground truth: {r.truth}")
    print(format_table(["target", "features", "k", "mean error %", "max error %", "fit ms"],
                       r.rows7))
    if r.rows8:
        print("\nTable 8: SVM and random forest (scikit-learn) on the enasim features")
        print(format_table(["target", "method", "mean error %", "max error %", "fit ms"],
                           r.rows8))
    print("\nLargest errors of the enasim models:")
    print(format_table(["target", "network", "simulated", "predicted", "error %"], r.worst))
    return 0


def cmd_search(args) -> int:
    from enasim.analytical.fitted import HardwareModels
    from enasim.config import load
    from enasim.errors import ConfigError
    from enasim.nas.flash import search as fs
    from enasim.nas.spaces.densenet_flash import FlashSpace
    from enasim.report.tables import format_table
    from enasim.validate import expect_number, parse_numbers

    space = FlashSpace(wm=_pair(args.wm, "--wm"), depth=_pair(args.depth, "--depth"),
                       t_step=args.t_step, shared_depth=args.space == "paper")
    predictor = parse_numbers(args.predictor, 3, "", "--predictor") if args.predictor else None
    for flag, value in (("--min-quality", args.min_quality), ("--max-area-mm2", args.max_area_mm2),
                        ("--max-latency-ms", args.max_latency_ms),
                        ("--max-energy-mj", args.max_energy_mj)):
        if value is not None:
            expect_number(value, "", flag, 0.0, strict_min=flag != "--min-quality")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in fs.SEARCHES]
    if bad or not methods:
        raise ConfigError("", "--methods", f"unknown {bad}; expected some of "
                          f"{', '.join(fs.SEARCHES)}")
    for name, default in TRAINING_FREE.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
        elif "training-free" not in methods:
            raise ConfigError("", f"--{name}", "applies to the training-free method (add it to "
                              "--methods)")
    if args.noc is not None and not args.simulate:
        raise ConfigError("", "--noc", "applies with --simulate")
    hw = load(args.hw)
    models = HardwareModels.load(args.models)
    bounds = fs.Bounds(args.min_quality, args.max_area_mm2, args.max_latency_ms,
                       args.max_energy_mj)
    results = []
    for name in methods:
        ev = fs.Evaluator(hw, models, space, predictor, bounds)
        kwargs = {"samples": args.samples, "seed": args.seed} if name == "training-free" \
            else {}
        if name != "exhaustive":  # untimed first run: imports and caches
            fs.SEARCHES[name](fs.Evaluator(hw, models, space, predictor, bounds), **kwargs)
        results.append(fs.SEARCHES[name](ev, **kwargs))
    exh = next((r for r in results if r.method == "exhaustive"), None)
    warnings: dict[str, list[str]] = {}
    if args.simulate:
        truth = models.ground_truth or {}
        engine = "analytical" if truth.get("engine") == "analytical" and not args.noc else "sim"
        noc = args.noc or truth.get("noc") or hw.noc.model
        _confirm(hw_with_noc(hw, noc), results, engine)
        warnings = _check_predictions(models, results, engine, noc)
        for r in results:
            for w in warnings.get(r.method, []):
                print(f"enasim: warning: {r.method}: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps({"space_size": space.count(), "results": [
            {"method": r.method, "feasible": r.feasible, "wm": r.wm, "depths": r.depths,
             "tcs": r.tcs, "objective": r.objective, "evaluations": r.evaluations,
             "seconds": r.seconds, "metrics": r.metrics, "closest": r.closest,
             **({"equals_exhaustive": r.arch == exh.arch} if exh and r.feasible else {}),
             **({"simulated": r.simulated} if r.simulated else {}),
             **({"warnings": warnings[r.method]} if warnings.get(r.method) else {})}
            for r in results]}))
        return 0
    print(f"space: {space.count():,} architectures; objective "
          f"{'theta' if predictor else 'g'}/(A*L*E)"
          f"{' with constraints' if bounds.any else ', unconstrained'}")
    rows = []
    for r in results:
        arch = f"wm{r.wm} d{'-'.join(map(str, r.depths))} t{'-'.join(map(str, r.tcs))}" \
            if r.feasible else "no feasible architecture"
        same = ("yes" if r.arch == exh.arch else "no") if exh and r.feasible else "-"
        rows.append([r.method, r.evaluations, f"{r.seconds:.3f}",
                     f"{r.objective:.6g}" if r.feasible else "-",
                     f"{r.metrics['g']:.5g}" if r.feasible else "-", arch, same])
    print(format_table(["method", "samples evaluated", "time s", "objective", "g",
                        "architecture", "= exhaustive"], rows))
    for r in results:
        if not r.feasible and r.closest:
            print(f"\n{r.method}: no feasible architecture; closest (relative violation):")
            print(format_table(["wm", "depths", "tcs", "violation", "area mm2", "latency ms",
                                "energy mJ"],
                               [[c["wm"], c["depths"], c["tcs"], f"{c['violation']:.3g}",
                                 c["area_mm2"], c["latency_ms"], c["energy_mj"]]
                                for c in r.closest]))
        if r.simulated:
            s = r.simulated
            print(f"\n{r.method}: simulated area {s['area_mm2']:.4g} mm2 "
                  f"(predicted {r.metrics['area_mm2']:.4g}), latency {s['latency_ms']:.4g} ms "
                  f"({r.metrics['latency_ms']:.4g}), energy {s['energy_mj']:.4g} mJ "
                  f"({r.metrics['energy_mj']:.4g})")
    return 0


# the search's metrics and the fitted models' targets (the same quantities, other units)
METRIC_TARGETS = {"area_mm2": "area_mm2", "latency_ms": "latency_ns", "energy_mj": "energy_uj"}
# below this a difference is floating-point rounding (an exact model, such as area in the
# tiles, is off by ~1e-13 %), not a model error worth a warning
ROUNDING_PCT = 1e-6


def _check_predictions(models, results, engine: str, noc: str) -> dict[str, list[str]]:
    """Per method, what a user must know about its simulated numbers: a metric off its
    prediction by more than the model's held-out max error, a simulation on another ground
    truth than the fit's, or models that record no held-out error."""
    from enasim.analytical.fitted import truth_label

    truth = models.ground_truth
    used = truth_label(engine, noc)
    out: dict[str, list[str]] = {}
    for r in results:
        if not r.simulated:
            continue
        notes = out.setdefault(r.method, [])
        if truth is None:
            notes.append(f"{models.source} records no ground truth or held-out errors (written "
                         f"by an older enasim): the simulated numbers are not checked; refit")
            continue
        fitted_on = truth_label(truth["engine"], truth["noc"])
        if fitted_on != used:
            notes.append(f"the models were fitted on {fitted_on} ground truth; simulated on "
                         f"{used}")
        for metric, target in METRIC_TARGETS.items():
            limit = models.models[target].test_max_error_pct
            sim, pred = r.simulated[metric], r.metrics[metric]
            err = abs(pred - sim) / sim * 100 if sim else 0.0
            if limit is not None and err > max(limit, ROUNDING_PCT):
                notes.append(f"simulated {metric} {sim:.4g} differs from the predicted "
                             f"{pred:.4g} by {err:.3g} %, more than the {target} model's "
                             f"held-out max error ({limit:.3g} %)")
    return {k: v for k, v in out.items() if v}


def hw_with_noc(hw, model: str):
    """`hw` with `noc.model` replaced (checked like a hwconfig)."""
    from enasim.config.loader import as_dict, from_dict

    data = as_dict(hw)
    data["noc"]["model"] = model
    return from_dict(data, hw.name)


def _confirm(hw, results, engine: str) -> None:
    """Simulate each method's architecture (`engine`: the event engine or the closed-form
    model) beside its predicted numbers."""
    from enasim.analytical import run_analytical
    from enasim.mapping import map_network
    from enasim.nas.spaces.densenet_flash import DenseNetSpec, build_from_spec
    from enasim.report.files import summary_dict
    from enasim.sim import Simulator

    done: dict[tuple, dict] = {}
    for r in results:
        if not r.feasible:
            continue
        if r.arch not in done:
            m = map_network(build_from_spec(DenseNetSpec(r.wm, r.depths, r.tcs)), hw)
            stats = Simulator(m).run() if engine == "sim" else run_analytical(m)
            s = summary_dict(stats, m, "", 0)
            done[r.arch] = {"area_mm2": s["area_mm2"], "latency_ms": s["latency_ns"] * 1e-6,
                            "energy_mj": s["energy_uj"] * 1e-3}
        r.simulated = done[r.arch]
