"""The mesh network-on-chip: packets, traffic, traces, measurement.

Models: `enasim.hw.router` (SimPy processes) and `enasim.kernels.noc` (Numba).
"""
