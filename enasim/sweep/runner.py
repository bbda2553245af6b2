"""Running a sweep: expand the grid, skip what the store has, run the rest, store each result.

Resume is the default: points whose key is stored as 'done' are never run again. Points stored
as 'failed' are skipped too (the engine is deterministic, so they would fail again) unless
`retry_failed` is set, e.g. after upgrading enasim; `resume=False` reruns everything. A rerun
replaces the point's row and counts up its `attempt`. Only the parent
process writes the store, one transaction per result, so killing a sweep loses at most the
points in flight.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from enasim.analytical import run_analytical
from enasim.errors import EnasimError
from enasim.mapping import map_network
from enasim.report.files import totals
from enasim.sim import Simulator
from enasim.sweep import backends
from enasim.sweep.points import Point, expand
from enasim.sweep.spec import SweepSpec, load_spec
from enasim.sweep.store import Store

TOTALS = ("area_mm2", "latency_cycles", "latency_ns", "energy_uj", "tops_per_w", "utilization")
RESULTS_CSV = "results.csv"


@dataclass(frozen=True)
class SweepResult:
    """What a run did: points in the grid, skipped (already stored), and finished now."""

    store: Path
    total: int
    skipped: int
    done: int
    failed: int
    wall_s: float


def run(spec: SweepSpec | str | Path, backend: str = "local", workers: int | None = None,
        out: str | Path | None = None, scheduler: str | None = None,
        resume: bool = True, retry_failed: bool = False,
        progress: bool | None = None) -> SweepResult:
    """Run the points of `spec` missing from the store in `out` (default results/sweep-NAME).

    `workers`: local processes (default: the CPUs available); `backend='dask'` runs on the
    cluster at `scheduler`, or on a LocalCluster of `workers` processes started for the run
    when `scheduler` is 'local'. `resume=False` reruns every point (replacing its row);
    `retry_failed` reruns the failed ones. `progress`: draw a progress bar on stderr (default:
    when stderr is a terminal). Writes `out/results.sqlite` as it goes and `out/results.csv`
    at the end.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    backends.check(backend, workers, scheduler)
    out = Path(out or f"results/sweep-{spec.name}")
    started = time.perf_counter()
    points = expand(spec)
    with Store(out) as store:
        store.add_override_columns(spec.axis_names)
        stored = store.statuses()
        todo = [p for p in points if not resume or p.key not in stored
                or (retry_failed and stored[p.key][0] == "failed")]
        attempts = {p.key: stored[p.key][1] + 1 if p.key in stored else 1 for p in todo}
        bar = _Progress(len(todo), sys.stderr) if (
            sys.stderr.isatty() if progress is None else progress) else None
        counts = {"done": 0, "failed": 0}

        def record(p: Point, result: dict[str, Any]) -> None:
            store.record(_row(p, result, attempts[p.key]))
            counts[result["status"]] += 1
            if bar:
                bar.update(counts["done"], counts["failed"])

        by_key = {p.key: p for p in todo}
        runnable = [p for p in todo if p.hw is not None]
        for p in todo:
            if p.hw is None:
                record(p, _failed(p.key, p.error or "", 0.0))
        n = workers or backends.available_cpus()
        if backend == "local":
            results = backends.local(run_point, runnable, n, _crashed)
        else:
            results = backends.dask(run_point, runnable, scheduler, n, _crashed)
        for result in results:
            record(by_key[result["key"]], result)
        if bar:
            bar.finish()
        store.export_csv(out / RESULTS_CSV)
    return SweepResult(store.path, len(points), len(points) - len(todo), counts["done"],
                       counts["failed"], time.perf_counter() - started)


def run_point(point: Point) -> dict[str, Any]:
    """Simulate one point (in a worker). Any error fails this point only, with its message."""
    t0 = time.perf_counter()
    try:
        mapping = map_network(point.workload.build(), point.hw)
        stats = Simulator(mapping).run() if point.engine == "sim" else run_analytical(mapping)
        summary = totals(stats, mapping)
    except EnasimError as exc:
        return _failed(point.key, str(exc), time.perf_counter() - t0)
    except Exception as exc:  # a bug or an unforeseen combination: record it, keep sweeping
        return _failed(point.key, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    return {"key": point.key, "status": "done", "error": None,
            **{k: summary[k] for k in TOTALS}, "wall_s": time.perf_counter() - t0}


def _failed(key: str, error: str, wall_s: float) -> dict[str, Any]:
    return {"key": key, "status": "failed", "error": error, **dict.fromkeys(TOTALS),
            "wall_s": wall_s}


def _crashed(point: Point, exc: BaseException) -> dict[str, Any]:
    return _failed(point.key, f"worker crashed: {type(exc).__name__}: {exc}", 0.0)


def _row(p: Point, result: dict[str, Any], attempt: int) -> dict[str, Any]:
    return {"key": p.key, "point": p.index, "workload": p.workload.name,
            "workload_source": p.workload.source, "repeat": p.repeat, "seed": p.seed,
            "engine": p.engine, "config_hash": p.config_hash, **dict(p.overrides),
            **result, "attempt": attempt,
            "finished_at": datetime.now(UTC).isoformat(timespec="microseconds")}


class _Progress:
    """One redrawn line: bar, done / failed / remaining, ETA from the mean time per point."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO):
        self.total, self.stream, self.t0 = total, stream, time.perf_counter()
        self.update(0, 0)

    def update(self, done: int, failed: int) -> None:
        finished = done + failed
        remaining = self.total - finished
        fill = self.WIDTH * finished // self.total if self.total else self.WIDTH
        if finished:
            eta_s = (time.perf_counter() - self.t0) / finished * remaining
            eta = f"ETA {int(eta_s) // 60}:{int(eta_s) % 60:02d}"
        else:
            eta = "ETA -:--"
        self.stream.write(f"\rsweep [{'#' * fill}{'.' * (self.WIDTH - fill)}] {done} done, "
                          f"{failed} failed, {remaining} remaining, {eta} ")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
