"""Multi-objective Bayesian NAS for CIM (`search`, optuna) and `enasim monas`."""
