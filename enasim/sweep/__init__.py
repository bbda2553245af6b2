"""Sweeps: grids of hwconfig overrides x workloads x repeats, run on a process pool or a Dask
cluster into a resumable SQLite result store (DESIGN section 2, issue 6).

    from enasim import sweep
    result = sweep.run("example", backend="local", workers=2, out="results/ex")

The names below are imported on first use, so that importing a light part of the package (the
command line's `enasim.sweep.cli`, `enasim.sweep.backends`) does not load the simulator.
"""

import importlib

_WHERE = {"Point": "points", "expand": "points", "SweepResult": "runner", "run": "runner",
          "SweepSpec": "spec", "WorkloadRef": "spec", "load_spec": "spec",
          "spec_from_dict": "spec", "Store": "store"}
_MODULES = ("backends", "cli", "plot", "points", "runner", "spec", "store")
__all__ = ["Point", "Store", "SweepResult", "SweepSpec", "WorkloadRef", "expand", "load_spec",
           "run", "spec_from_dict"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"enasim.sweep.{_WHERE[name]}"), name)
    if name in _MODULES:  # `sweep.runner` as when this file imported them all
        return importlib.import_module(f"enasim.sweep.{name}")
    raise AttributeError(f"module 'enasim.sweep' has no attribute {name!r}")
