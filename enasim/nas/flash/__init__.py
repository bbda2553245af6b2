"""FLASH (Li et al., 2021): NN-Degree accuracy predictor, analytical hardware models fitted on
simulated ground truth (`fit`), hierarchical SHGO search (`search`), and `enasim flash`."""
