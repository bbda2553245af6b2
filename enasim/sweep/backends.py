"""Where points run: a local process pool (default) or a Dask cluster.

Each backend is a generator of results in completion order; the caller (the runner, in the
parent process) writes them to the store as they arrive, so workers never touch the store.
Every point runs with one Numba thread: the workers already occupy the cores, and extra kernel
threads on a busy core slow the MAC kernel down instead of up.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
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


def one_numba_thread(fn: Callable[[Any], Any], task: Any) -> Any:
    """`fn(task)` with one Numba thread in the calling thread (Numba's setting is per thread,
    so this also holds for Dask workers running several tasks at once)."""
    import numba

    numba.set_num_threads(1)
    return fn(task)


def local(fn: Callable[[Any], Any], tasks: list[Any], workers: int) -> Iterator[Any]:
    """`fn(task)` for every task on `workers` processes (in this process when 1)."""
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(task)
        return
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    futures = [pool.submit(one_numba_thread, fn, task) for task in tasks]
    try:
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _exit_with_parent(parent_pid: int) -> None:
    """Worker start-up: end the worker when the sweep process dies (e.g. SIGKILL), instead of
    leaving it to finish a point nobody will store."""
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
