"""NN-Degree of DenseNet-type networks, vectorised over many architectures (FLASH).

g = sum_c (w_c + SC_c / (w_c * d_c)) with the edge reading of the skip term (notes §3.4): each of
the t_j skip channels concatenated into layer j feeds all w_c output channels, so
SC_c = w_c * sum_j t_j and g_c = w_c + sum_j t_j / d_c, the cell width plus the mean number of
skip channels per layer. With t_j = min(t_c, (j - 1) w_c) for j = 2 .. d_c - 1 the sum has the
closed form w m (m + 1) / 2 + (d_c - 2 - m) t_c, m = min(d_c - 2, floor(t_c / w_c)).
"""

from __future__ import annotations

import numpy as np

from enasim.nas.spaces.densenet_flash import BASE_WIDTH


def cell_widths(wm: np.ndarray, cells: int) -> np.ndarray:
    """w_c = 16 w_m 2^c, shape (N, cells)."""
    return BASE_WIDTH * np.asarray(wm, np.int64)[:, None] * (2 ** np.arange(cells))[None, :]


def skip_sums(widths: np.ndarray, depths: np.ndarray, tcs: np.ndarray) -> np.ndarray:
    """sum_j t_j per cell (the skip channels concatenated into the cell's layers)."""
    w, d, t = (np.asarray(a, np.int64) for a in (widths, depths, tcs))
    m = np.minimum(np.maximum(d - 2, 0), t // w)
    return w * m * (m + 1) // 2 + np.maximum(d - 2 - m, 0) * t


def nn_degree(wm, depths, tcs) -> np.ndarray:
    """NN-Degree of N architectures: `wm` (N,), `depths` and `tcs` (N, cells)."""
    depths, tcs = np.atleast_2d(depths), np.atleast_2d(tcs)
    w = cell_widths(np.atleast_1d(wm), depths.shape[1])
    return (w + skip_sums(w, depths, tcs) / depths).sum(axis=1)
