"""The mesh network-on-chip: packets, traffic, traces, measurement.

Models: `enasim.hw.router` (SimPy) and `enasim.kernels.noc` (Numba).
"""
