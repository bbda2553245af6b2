"""Chrome trace-event JSON of a simulated run, for Perfetto / chrome://tracing.

One process per track group (tiles, interconnect), one thread per track (tile index on the
mesh). Spans are complete events ("X"); `ts`/`dur` are microseconds derived from integer cycles,
and the exact cycles are in `args`. A track never holds overlapping spans.
"""

from __future__ import annotations

import json
from typing import Any

from enasim.stats import Stats

_PIDS = {"tiles": 1, "interconnect": 2}


def chrome_trace(stats: Stats, other: dict[str, Any] | None = None) -> dict[str, Any]:
    us = stats.clock_period_ns / 1000.0
    tids: dict[tuple[str, str], int] = {}
    events: list[dict[str, Any]] = []
    for group, pid in _PIDS.items():
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                       "args": {"name": group}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0,
                       "args": {"sort_index": pid}})
    for span in sorted(stats.spans, key=lambda s: (_PIDS[s.group], _track_key(s.track),
                                                   s.start)):
        key = (span.group, span.track)
        if key not in tids:
            tids[key] = _track_key(span.track)
            meta = {"pid": _PIDS[span.group], "tid": tids[key], "ph": "M"}
            events.append({**meta, "name": "thread_name", "args": {"name": span.track}})
            events.append({**meta, "name": "thread_sort_index",
                           "args": {"sort_index": tids[key]}})
        events.append({"name": span.name, "cat": span.name.rsplit(" ", 1)[-1], "ph": "X",
                       "ts": span.start * us, "dur": (span.end - span.start) * us,
                       "pid": _PIDS[span.group], "tid": tids[key],
                       "args": {"layer": span.layer, "start_cycle": span.start,
                                "cycles": span.end - span.start}})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"clock_period_ns": stats.clock_period_ns, **(other or {})}}


def _track_key(track: str) -> int:
    """Tracks named 'tile N' sort by N; others first."""
    tail = track.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def timeline_json(stats: Stats, other: dict[str, Any] | None = None) -> str:
    return json.dumps(chrome_trace(stats, other), separators=(",", ":")) + "\n"
