"""NAS as a workload generator: search spaces (`spaces`), NN-Degree (`degree`), and one
subpackage per flow: `flash`, `enasa`, `monas` (each with its CLI)."""
