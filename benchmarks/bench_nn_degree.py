"""Does NN-Degree predict trained accuracy? FLASH's claim on `enasim flash samples`.

Trains `--n` FLASH networks (3 epochs on digits at 8x8, seed 0; resumable in `--out`, so a
rerun only reads the cache), fits FLASH's predictor theta(g) = 1/(a + exp(b/g + c)) as
`enasim flash predictor fit` does, and prints per network w_m, depths, t_c, g, MACs, params and
accuracy, then the predictor's RMSE and the Spearman rank correlations with accuracy of g,
of MACs and of parameters (the baselines NN-Degree has to beat), and the time taken.

    python benchmarks/bench_nn_degree.py [--n 25] [--wm 1,1] [--depth 5,12] [--out DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr

from enasim.nas.flash.predictor import fit_predictor, read_accuracy_csv
from enasim.nas.flash.samples import run_samples
from enasim.nas.spaces.densenet_flash import DenseNetSpec, build_from_spec
from enasim.report.tables import format_table


def _pair(text: str) -> tuple[int, int]:
    lo, hi = (int(v) for v in text.split(","))
    return lo, hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=25)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wm", type=_pair, default=(1, 1))
    ap.add_argument("--depth", type=_pair, default=(5, 12))
    ap.add_argument("--out", default="results/nn-degree")
    args = ap.parse_args()
    start = time.perf_counter()
    samples = run_samples(args.n, args.out, "digits", args.epochs, args.seed, args.wm, args.depth)
    wall = time.perf_counter() - start
    g_csv, acc = read_accuracy_csv(f"{args.out}/samples.csv")
    g = np.array([s.g for s in samples])
    assert np.allclose(g, g_csv)  # the CSV reader computes the same NN-Degrees
    nets = [build_from_spec(DenseNetSpec(s.wm, s.depths, s.tcs, image_size=8)) for s in samples]
    macs = np.array([n.macs for n in nets])
    params = np.array([n.params for n in nets])
    p = fit_predictor(g, acc, "samples.csv")
    rows = [
        [
            s.wm,
            "-".join(map(str, s.depths)),
            "-".join(map(str, s.tcs)),
            f"{s.g:.1f}",
            f"{m / 1e6:.1f}",
            f"{q / 1e6:.2f}",
            f"{s.accuracy:.2%}",
            f"{float(p(s.g)):.2%}",
        ]
        for s, m, q in zip(samples, macs, params, strict=True)
    ]
    order = np.argsort(g)
    print(
        format_table(
            ["wm", "depths", "tcs", "g", "MMACs", "Mparams", "accuracy", "theta(g)"],
            [rows[i] for i in order],
        )
    )
    print(
        f"\n{len(samples)} samples, {args.epochs:g} epochs on digits (8x8), seed {args.seed}, "
        f"w_m {args.wm[0]}..{args.wm[1]}, d_c {args.depth[0]}..{args.depth[1]}"
    )
    print(
        f"accuracy {acc.min():.2%} .. {acc.max():.2%} (mean {acc.mean():.2%}, std {acc.std():.2%})"
    )
    print(
        f"predictor theta(g): a {p.a:.4g}, b {p.b:.4g}, c {p.c:.4g}; RMSE {p.rmse:.4f} "
        f"({p.rmse * 100:.2f} points; the accuracies' own std {acc.std() * 100:.2f})"
    )
    summary = []
    for name, x in (("NN-Degree g", g), ("MACs", macs), ("params", params)):
        rho, pval = spearmanr(x, acc)
        summary.append([name, f"{rho:+.3f}", f"{pval:.3g}"])
    print(format_table(["vs accuracy", "Spearman rho", "p-value"], summary))
    trained = sum(not s.cached for s in samples)
    train_s = sum(s.seconds for s in samples)
    print(
        f"\n{wall:.1f} s in all; {trained} networks trained now ({train_s:.1f} s), "
        f"{len(samples) - trained} read from {args.out}/trained/"
    )


if __name__ == "__main__":
    main()
