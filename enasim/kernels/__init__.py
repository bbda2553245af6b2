"""Numba kernels: the compiled mesh NoC (noc.py) and the bit-sliced crossbar MAC (mac.py; its
semantics in mac_spec.py, a numpy reference in mac_reference.py)."""
