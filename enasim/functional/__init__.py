"""Functional CIM inference: networks run on the bit-sliced crossbar kernels against exact
integer arithmetic (`inference`), with seeded or `.npz` weights and inputs (`data`), result
files (`results`) and the `enasim infer` command (`cli`). Importing the package loads nothing
heavy; numba loads with the kernels."""
