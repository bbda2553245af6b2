"""Quick looks at a sweep: one column against another, one line per value of a third.

Every finished point is a marker; the line joins the mean y at each x (other axes of the grid
vary underneath). Numeric x is placed by value, anything else as categories in sorted order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from enasim.errors import ConfigError, EnasimError  # noqa: E402
from enasim.report.plots import legend_outside, save_png  # noqa: E402
from enasim.sweep.store import Store  # noqa: E402

MAX_LEGEND = 20  # more hue values than this (e.g. sampled networks): lines without a legend
# Axis labels with units of the store's columns; any other column (e.g. a hwconfig path of the
# grid) is labelled by its name.
LABELS = {"adc.bits": "ADC bits", "crossbar.rows": "crossbar rows",
          "crossbar.cols": "crossbar columns", "area_mm2": "area (mm²)",
          "latency_cycles": "latency (cycles)", "latency_ns": "latency (ns)",
          "energy_uj": "energy (µJ)", "tops_per_w": "TOPS/W",
          "utilization": "memory utilisation (weight cells / cells)",
          "wall_s": "wall time (s)"}


def plot_sweep(out_dir: str | Path, x: str, y: str, hue: str | None = None) -> Path:
    """Draw `y` over `x` (per `hue`) from the store in `out_dir`; returns the PNG path."""
    fig = sweep_figure(out_dir, x, y, hue)
    name = f"{y}-vs-{x}" + (f"-by-{hue}" if hue else "")
    return save_png(fig, Path(out_dir) / "plots" / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png"))


def sweep_figure(out_dir: str | Path, x: str, y: str, hue: str | None = None) -> Figure:
    """The figure of `plot_sweep`, unsaved."""
    out = Path(out_dir)
    with Store(out, create=False) as store:
        columns = store.columns()
        for flag, name in (("--x", x), ("--y", y), ("--hue", hue)):
            if name is not None and name not in columns:
                raise ConfigError(str(store.path), flag, f"no column '{name}'; columns: "
                                  f"{', '.join(columns)}")
        rows = [r for r in store.rows("done") if r[x] is not None and r[y] is not None]
    if not rows:
        raise EnasimError(f"{store.path}: no finished points with '{x}' and '{y}' to plot")
    if not all(_is_number(r[y]) for r in rows):
        raise ConfigError(str(store.path), "--y", f"column '{y}' is not numeric")
    numeric_x = all(_is_number(r[x]) for r in rows)
    xs = sorted({r[x] for r in rows}, key=_order)
    pos = {v: (v if numeric_x else i) for i, v in enumerate(xs)}
    groups: dict[Any, list[dict]] = {}
    for r in rows:
        groups.setdefault(r[hue] if hue else None, []).append(r)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, members in sorted(groups.items(), key=lambda kv: _order(kv[0])):
        line_x, line_y = [], []
        for v in xs:
            ys = [r[y] for r in members if r[x] == v]
            if ys:
                line_x.append(pos[v])
                line_y.append(sum(ys) / len(ys))
        (line,) = ax.plot(line_x, line_y, marker="o", label=None if hue is None else str(label))
        ax.scatter([pos[r[x]] for r in members], [r[y] for r in members], s=12, alpha=0.4,
                   color=line.get_color())
    if not numeric_x:
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=30, ha="right")
    elif all(isinstance(v, int) for v in xs):
        if len(xs) <= MAX_LEGEND:
            ax.set_xticks(xs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.set_title(f"{out.name}: {y} over {x}" + (f" by {hue}" if hue else ""))
    if hue and len(groups) <= MAX_LEGEND:
        legend_outside(ax, title=LABELS.get(hue, hue), fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _order(v: Any) -> tuple:
    """Numbers by value, then everything else as text."""
    return (0, v, "") if _is_number(v) else (1, 0, str(v))
