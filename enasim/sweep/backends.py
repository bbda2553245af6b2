"""Where points run: a local process pool (default) or a Dask cluster.

Each backend is a generator of results in completion order; the caller (the runner, in the
parent process) writes them to the store as they arrive, so workers never touch the store.
Every point runs with one Numba thread: the workers already occupy the cores, and extra kernel
threads on a busy core slow the MAC kernel down instead of up. The process-pool modules are
imported where a pool starts, so that the command line reads BACKENDS without them.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from enasim.errors import ConfigError

BACKENDS = ("local", "dask")
LOCAL_SCHEDULER = "local"  # --scheduler local: a LocalCluster started for the sweep


def check(backend: str, workers: int | None, scheduler: str | None) -> None:
    """The backend arguments, checked before the store is opened or any point runs."""
    if backend not in BACKENDS:
        raise ConfigError("", "--backend", f"expected one of {', '.join(BACKENDS)}, got "
                          f"{backend!r}")
    if workers is not None and workers < 1:
        raise ConfigError("", "--workers", f"expected at least 1, got {workers}")
    if backend == "local":
        if scheduler:
            raise ConfigError("", "--scheduler", "applies to the dask backend (--backend dask)")
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("", "--backend", "'dask' needs dask.distributed: pip install "
                          "'enasim[dask]'") from None
    if not scheduler:
        raise ConfigError("", "--scheduler", "the dask backend needs the scheduler address, "
                          "e.g. tcp://10.0.0.1:8786, or 'local' to start a cluster of "
                          "--workers processes for this sweep")
    if workers is not None and scheduler != LOCAL_SCHEDULER:
        raise ConfigError("", "--workers", f"applies to the local backend and to --scheduler "
                          f"local; the cluster at {scheduler} has its own workers")


def available_cpus() -> int:
    """The CPUs this process may run on (the default number of workers)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def one_numba_thread(fn: Callable[[Any], Any], task: Any) -> Any:
    """`fn(task)` with one Numba thread in the calling thread (Numba's setting is per thread,
    so this also holds for Dask workers running several tasks at once)."""
    import numba

    numba.set_num_threads(1)
    return fn(task)


def local(fn: Callable[[Any], Any], tasks: list[Any], workers: int,
          on_crash: Callable[[Any, BaseException], Any]) -> Iterator[Any]:
    """`fn(task)` for every task on `workers` processes (in this process when 1).

    A worker that dies (killed, out of memory, os._exit) breaks the pool: the tasks it may have
    been running are rerun each alone in a fresh process, one that dies again gives
    `on_crash(task, exc)`, and the tasks not yet started go on in a fresh pool."""
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(task)
        return
    from concurrent.futures.process import BrokenProcessPool

    todo = list(tasks)
    while todo:
        todo, suspects = yield from _pool(fn, todo, workers)
        for task in suspects:
            _, crashed = yield from _pool(fn, [task], 1)
            if crashed:
                yield on_crash(task, BrokenProcessPool("the worker process running it died"))


def _pool(fn: Callable[[Any], Any], tasks: list[Any],
          workers: int) -> Generator[Any, None, tuple[list[Any], list[Any]]]:
    """Yield `fn(task)` from a process pool until done or until a worker dies; return the
    tasks not started and those started but unfinished when it died (both empty if none did).
    Workers mark the tasks they start in a shared byte array, which a kill cannot corrupt."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    started = multiprocessing.RawArray("b", len(tasks))
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                               initializer=_worker_init, initargs=(os.getpid(), started))
    futures = {pool.submit(_run_marked, fn, task, i): i for i, task in enumerate(tasks)}
    finished = set()
    try:
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                left = [i for i in range(len(tasks)) if i not in finished]
                return ([tasks[i] for i in left if not started[i]],
                        [tasks[i] for i in left if started[i]])
            finished.add(futures[fut])
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [], []


_started: Any = None  # the worker's view of `_pool`'s shared array


def _run_marked(fn: Callable[[Any], Any], task: Any, index: int) -> Any:
    _started[index] = 1
    return one_numba_thread(fn, task)


def _worker_init(parent_pid: int, started: Any) -> None:
    """Worker start-up: keep the shared started-tasks array, and end the worker when the
    sweep process dies (e.g. SIGKILL), instead of leaving it to finish a point nobody will
    store."""
    global _started
    _started = started

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def dask(fn: Callable[[Any], Any], tasks: list[Any], scheduler: str, workers: int,
         on_crash: Callable[[Any, BaseException], Any]) -> Iterator[Any]:
    """`fn(task)` for every task on the Dask cluster at `scheduler`, or on a LocalCluster of
    `workers` processes (one thread each) started here and closed at the end when `scheduler`
    is 'local'. A task whose workers keep dying (Dask's KilledWorker) gives
    `on_crash(task, exc)` instead of stopping the sweep. Arguments are `check`ed first."""
    from distributed import Client, KilledWorker, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    if scheduler == LOCAL_SCHEDULER:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        scheduler = cluster.scheduler_address
    try:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError("", "--scheduler", f"cannot connect to {scheduler}: "
                              f"{exc}") from None
        try:
            futures = client.map(functools.partial(one_numba_thread, fn), tasks, pure=False)
            task_of = {fut.key: task for fut, task in zip(futures, tasks, strict=True)}
            for fut in dask_completed(futures):
                try:
                    yield fut.result()
                except KilledWorker as exc:
                    yield on_crash(task_of[fut.key], exc)
                fut.release()
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
