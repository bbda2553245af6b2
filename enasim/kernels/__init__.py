"""Numba kernels of the crossbar: the bit-sliced MAC (mac.py; its semantics in mac_spec.py, a
numpy reference in mac_reference.py). The compiled mesh NoC lives in `enasim.noc.compiled`."""
