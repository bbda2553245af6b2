"""ENASA: one-shot NAS on a supernet chip. Sub-net groups (`groups`), the stage-wise evolutionary
search (`search`) and `enasim enasa`; the groups run in the engine's `ops` schedule."""
