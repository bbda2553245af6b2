"""`enasim flash ...`: FLASH's flow on enasim (so far: the accuracy predictor)."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("flash", help="FLASH: NN-Degree accuracy predictor")
    fsub = p.add_subparsers(dest="flash_command", required=True, metavar="COMMAND")
    pred = fsub.add_parser("predictor", help="theta(g) = 1/(a + exp(b/g + c))")
    psub = pred.add_subparsers(dest="predictor_command", required=True, metavar="ACTION")
    fit = psub.add_parser("fit", help="fit (a, b, c) to a CSV of (g or architecture, accuracy)")
    fit.add_argument("data", metavar="DATA.csv",
                     help="columns g,accuracy or wm,depths,tcs,accuracy (depths/tcs: "
                          "per-cell values separated by ';'); accuracy as fraction or percent")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.set_defaults(func=cmd_predictor_fit)


def cmd_predictor_fit(args) -> int:
    from enasim.nas.predictor import fit_predictor, read_accuracy_csv

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
