"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from enasim.stats import Stats


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(isinstance(r[i], int | float) for r in rows) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        parts = [c.rjust(w) if numeric[i] and k else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.4e}"
    return str(v)


def shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def layers_table(stats: Stats) -> str:
    """One row per weight layer: mapping, latency and energy by component (nJ); with several
    images, also each layer's stage time per image (`LayerStats.busy_cycles_per_image`)."""
    several = stats.images > 1
    header = ["#", "layer", "shape in->out", "xbars", "tiles", "util", "latency_cyc",
              *(["stage_cyc"] if several else []),
              "adc_nJ", "xbar+periph_nJ", "buffer_nJ", "digital_nJ", "noc_nJ", "leak_nJ",
              "total_nJ"]
    rows = []
    for ls in stats.layers:
        e = ls.energy_pj
        digital = e["shift_add"] + e["accumulator"] + e["activation"] + e["pooling"]
        rows.append([ls.index, ls.name, f"{shape_str(ls.in_shape)}->{shape_str(ls.out_shape)}",
                     ls.crossbars, ls.tiles, round(ls.utilization, 3), ls.latency_cycles,
                     *([ls.busy_cycles_per_image] if several else []),
                     e["adc"] / 1e3, (e["crossbar"] + e["periphery"]) / 1e3,
                     e["buffer"] / 1e3, digital / 1e3, e["noc"] / 1e3, e["leakage"] / 1e3,
                     ls.total_energy_pj / 1e3])
    return format_table(header, rows)
