"""Everything network-on-chip: the mesh as SimPy router processes (`router`) and compiled with
Numba (`compiled`), the engine's interconnects (`interconnect`: the interface and the ideal
mesh; `mesh`: the cycle-level mesh), packets and traffic, traces, measurement, `enasim noc`."""
