"""Sweeps: grids of hwconfig overrides x workloads x repeats, run on a process pool or a Dask
cluster into a resumable SQLite result store (DESIGN section 2, issue 6).

    from enasim import sweep
    result = sweep.run("example", backend="local", workers=2, out="results/ex")
"""

from enasim.sweep.points import Point, expand
from enasim.sweep.runner import SweepResult, run
from enasim.sweep.spec import SweepSpec, WorkloadRef, load_spec, spec_from_dict
from enasim.sweep.store import Store

__all__ = ["Point", "Store", "SweepResult", "SweepSpec", "WorkloadRef", "expand", "load_spec",
           "run", "spec_from_dict"]
