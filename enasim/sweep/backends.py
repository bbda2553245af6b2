"""Where points run: a local process pool (default) or a Dask cluster.

Each backend is a generator of results in completion order; the caller (the runner, in the
parent process) writes them to the store as they arrive, so workers never touch the store.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from enasim.errors import ConfigError

BACKENDS = ("local", "dask")


def local(fn: Callable[[Any], Any], tasks: list[Any], workers: int) -> Iterator[Any]:
    """`fn(task)` for every task on `workers` processes (in this process when 1)."""
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(task)
        return
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    futures = [pool.submit(fn, task) for task in tasks]
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


def dask(fn: Callable[[Any], Any], tasks: list[Any], scheduler: str | None,
         on_crash: Callable[[Any, BaseException], Any]) -> Iterator[Any]:
    """`fn(task)` for every task on the Dask cluster at `scheduler`. A task whose workers keep
    dying (Dask's KilledWorker) gives `on_crash(task, exc)` instead of stopping the sweep."""
    try:
        from distributed import Client, KilledWorker
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError("", "--backend", "'dask' needs dask.distributed: pip install "
                          "'enasim[dask]'") from None
    if not scheduler:
        raise ConfigError("", "--scheduler", "the dask backend needs the scheduler address, "
                          "e.g. tcp://10.0.0.1:8786")
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError("", "--scheduler", f"cannot connect to {scheduler}: {exc}") from None
    try:
        futures = client.map(fn, tasks, pure=False)
        task_of = {fut.key: task for fut, task in zip(futures, tasks, strict=True)}
        for fut in dask_completed(futures):
            try:
                yield fut.result()
            except KilledWorker as exc:
                yield on_crash(task_of[fut.key], exc)
            fut.release()
    finally:
        client.close()
