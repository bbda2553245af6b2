"""Analytical models: the closed-form performance model (and, later, fitted FLASH models)."""

from enasim.analytical.perf import run_analytical

__all__ = ["run_analytical"]
