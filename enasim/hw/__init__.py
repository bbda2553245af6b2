"""The chip's blocks as SimPy processes and resources (DESIGN section 3)."""
