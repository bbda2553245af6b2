"""NeuroSim's network files (`NetWork_<name>.csv`), so that a NeuroSim user's network runs as is.

One row per weight layer: IFM_H, IFM_W, IFM_C, K_H, K_W, OFM_C, followedByMaxPool, stride.
A row with a 1x1 input and a 1x1 kernel is a fully connected layer (NeuroSim writes FC layers
that way). Convolutions get the padding that makes the next row's input size come out,
(K - 1) / 2 for NeuroSim's own networks; every layer but the last (the logits) is followed by a
ReLU, and by a 2x2 max-pool where the row says so. The file holds no more than this, so
residual or dense connections (NeuroSim's ResNet/DenseNet files) are not represented: such a
file is refused where its rows do not chain.
"""

from __future__ import annotations

import csv
from pathlib import Path

from enasim.errors import ConfigError
from enasim.fileio import read_text
from enasim.workload.ir import Activation, Conv2d, Linear, Network, NetworkBuilder, Pool

_COLUMNS = ("IFM_H", "IFM_W", "IFM_C", "K_H", "K_W", "OFM_C", "followedByMaxPool", "stride")


def load_neurosim_csv(path: str | Path) -> Network:
    """Read a NeuroSim network file into a Network (see the module docstring)."""
    src = str(path)
    text = read_text(path, kind="NeuroSim network file")
    rows = []
    for i, line in enumerate(csv.reader(text.splitlines())):
        if not line or not "".join(line).strip():
            continue
        try:
            vals = [int(v) for v in line]
        except ValueError:
            vals = []
        if len(line) != 8 or len(vals) != 8 or min(vals[:6]) < 1 or vals[7] < 1 \
                or vals[6] not in (0, 1):
            raise ConfigError(src, f"row {i + 1}", f"expected 8 integers {', '.join(_COLUMNS)} "
                              f"(sizes and stride >= 1, followedByMaxPool 0 or 1), got {line}")
        rows.append(vals)
    if not rows:
        raise ConfigError(src, "", "expected at least one layer row")
    h, w, c = rows[0][:3]
    b = NetworkBuilder(Path(path).stem.removeprefix("NetWork_").lower(), (c, h, w), source=src)
    for i, (ih, iw, ic, kh, kw, oc, pool, stride) in enumerate(rows):
        field = f"row {i + 1}"
        shape = b.shape(b.last) if i else (c, h, w)
        if ih == iw == kh == kw == 1:
            if shape[0] * shape[1] * shape[2] != ic:
                raise ConfigError(src, field, f"IFM_C {ic} is not the previous layer's "
                                  f"{shape[0]}x{shape[1]}x{shape[2]} outputs flattened")
            b.add(f"fc{i + 1}", Linear(out_features=oc), field=field)
        else:
            if shape != (ic, ih, iw):
                raise ConfigError(src, field, f"input {ih}x{iw}x{ic} does not follow the "
                                  f"previous layer's output {shape[1]}x{shape[2]}x{shape[0]}")
            if kh != kw:
                raise ConfigError(src, field, f"expected a square kernel, got {kh}x{kw}")
            pad = _padding(rows, i)
            b.add(f"conv{i + 1}", Conv2d(out_channels=oc, kernel=(kh, kw), stride=stride,
                                         padding=pad), field=field)
        if i + 1 < len(rows):
            b.add(f"relu{i + 1}", Activation(), field=field)
        if pool:
            b.add(f"pool{i + 1}", Pool(mode="max", kernel=2), field=field)
    return b.build()


def _padding(rows: list[list[int]], i: int) -> int:
    """The padding that gives the next row's input size ((K - 1) / 2 when nothing follows)."""
    ih, _, _, k, _, _, pool, stride = rows[i]
    if i + 1 < len(rows) and rows[i + 1][0] > 1:
        want = rows[i + 1][0] * (2 if pool else 1)
        pad2 = (want - 1) * stride + k - ih
        if pad2 >= 0 and pad2 % 2 == 0:
            return pad2 // 2
    return (k - 1) // 2
