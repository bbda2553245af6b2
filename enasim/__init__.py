"""enasim: a cycle-level simulator of ReRAM compute-in-memory accelerators for NAS."""

__version__ = "0.1.0"
