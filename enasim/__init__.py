"""enasim: a cycle-level simulator of ReRAM compute-in-memory accelerators for NAS.

`enasim.run(hw, workload, ...)` simulates one workload on one chip and `enasim.load_results(DIR)`
reads a results directory back (enasim.api); both are imported on first use, so that
`import enasim` stays light.
"""

__version__ = "0.1.0"
__all__ = ["Result", "load_results", "run"]


def __getattr__(name: str):
    if name in __all__:
        from enasim import api

        return getattr(api, name)
    raise AttributeError(f"module 'enasim' has no attribute {name!r}")
