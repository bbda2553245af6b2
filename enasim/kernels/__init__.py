"""Numba kernels: the compiled mesh NoC (noc.py)."""
