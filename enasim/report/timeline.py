"""Chrome trace-event JSON of a simulated run, for Perfetto / chrome://tracing.

One process per track group (tiles, CEs, each layer's ADCs, interconnect), one thread per
track, ordered by the numbers in its name (tile index, CE index, layer index). Spans are
complete events ("X"); `ts`/`dur` are microseconds derived from integer cycles, and the exact
cycles are in `args`, with the image (1-based) when the run had several. A track never holds
overlapping spans.
"""

from __future__ import annotations

import json
from typing import Any

from enasim.stats import Stats

_PIDS = {"tiles": 1, "ces": 2, "adcs": 3, "interconnect": 4, "ops": 5}


def chrome_trace(stats: Stats, other: dict[str, Any] | None = None) -> dict[str, Any]:
    us = stats.clock_period_ns / 1000.0
    events: list[dict[str, Any]] = []
    groups = sorted({sp.group for sp in stats.spans}, key=_PIDS.__getitem__)
    for group in groups:
        pid = _PIDS[group]
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                       "args": {"name": group}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0,
                       "args": {"sort_index": pid}})
    tracks = sorted({(sp.group, sp.track) for sp in stats.spans},
                    key=lambda gt: (_PIDS[gt[0]], _numbers(gt[1]), gt[1]))
    tids = {gt: i for i, gt in enumerate(tracks, start=1)}
    for (group, track), tid in tids.items():
        meta = {"pid": _PIDS[group], "tid": tid, "ph": "M"}
        events.append({**meta, "name": "thread_name", "args": {"name": track}})
        events.append({**meta, "name": "thread_sort_index", "args": {"sort_index": tid}})
    several = stats.images > 1
    for span in sorted(stats.spans, key=lambda s: (tids[(s.group, s.track)], s.start)):
        events.append({"name": span.name, "cat": span.name.rsplit(" ", 1)[-1], "ph": "X",
                       "ts": span.start * us, "dur": (span.end - span.start) * us,
                       "pid": _PIDS[span.group], "tid": tids[(span.group, span.track)],
                       "args": {"layer": span.layer, "start_cycle": span.start,
                                "cycles": span.end - span.start,
                                **({"image": span.image} if several else {})}})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"clock_period_ns": stats.clock_period_ns, **(other or {})}}


def _numbers(track: str) -> tuple[int, ...]:
    """The integers in a track name, for a natural order (tile 2 before tile 10)."""
    return tuple(int(w) for w in track.split() if w.isdigit())


def timeline_json(stats: Stats, other: dict[str, Any] | None = None) -> str:
    return json.dumps(chrome_trace(stats, other), separators=(",", ":")) + "\n"
