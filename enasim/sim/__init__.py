"""The event engine: one SimPy Environment running a mapped workload."""

from enasim.sim.engine import Simulator

__all__ = ["Simulator"]
