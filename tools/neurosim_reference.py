"""Make NeuroSim V1.3 reference data for enasim: synthetic traces, one C++ run, two CSVs.

What it does, for one network CSV of DNN_NeuroSim V1.3 (rows IFM_H, IFM_W, IFM_C, K_H, K_W,
OFM_C, followedByMaxPool, stride):

1. writes the traces NeuroSim's Python wrapper (Inference_pytorch/utee/hook.py) would write, but
   from numpy random numbers instead of a trained PyTorch model:
   - ``weight<i>.csv``: a (K*K*Cin) x Cout matrix, row index c*K*K + kh*K + kw (hook.py's
     ``weight.reshape(cout, -1).T``), values k/128 with k uniform in [-128, 127] (an 8-bit grid
     in [-1, 1)), printed ``%10.5f`` as hook.py does;
   - ``input<i>.csv``: the unfolded input bits, (K*K*Cin) rows x (windows * 8) columns, column
     window*8 + b holding bit b of the 8-bit code with b = 0 the sign bit (hook.py's ``dec2bin``
     order). An activation map (Cin, H, W) is drawn first, each of its 8 bit-planes Bernoulli
     with the layer's density, and unfolded 'valid' (windows at every stride step with no padding:
     NeuroSim uses (H-K+1)(W-K+1)/stride^2 input vectors), so overlapping windows share bits as in
     a real feature map;
2. runs ``main <network.csv> 8 8 weight1.csv input1.csv ...`` (main.cpp's argument order) and keeps
   its stdout, gzipped, as ``<log-dir>/<run_id>.log.gz``;
3. parses stdout into ``neurosim_v13_<name>_layers.csv`` and ``..._summary.csv`` in the format of
   enasim/reference/cim/neurosim_v13_vgg8_default_*.csv.

It needs a built NeuroSim V1.3 (github.com/neurosim/DNN_NeuroSim_V1.3, Inference_pytorch/NeuroSIM,
``make``); Param.cpp decides the configuration. Example (from the repository root)::

    python tools/neurosim_reference.py /tmp/ns/NeuroSIM/main /tmp/ns/NeuroSIM/NetWork_VGG8.csv \\
        --run-id ns13_vgg8_default --work /tmp/ns_traces \\
        --densities 0.48,0.25,0.38,0.22,0.30,0.24,0.30,0.25

The default output name is ``<run_id>`` minus its ``ns13_`` prefix; ``--no-write`` only prints the
parsed numbers (to compare a rerun with a stored file).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import subprocess
import time
from pathlib import Path

import numpy as np

BITS = 8  # weight and activation precision passed to NeuroSim (argv[2], argv[3])
OUT_DIR = Path(__file__).resolve().parent.parent / "enasim" / "reference" / "cim"
NUM = r"([-+0-9.eE]+|-?nan|-?inf)"

# per-layer printouts of main.cpp: (column, text before the number)
LAYER_FIELDS = [
    ("read_latency_ns", "'s readLatency is: "),
    ("read_dynamic_energy_pj", "'s readDynamicEnergy is: "),
    ("leakage_power_uw", "'s leakagePower is: "),
    ("leakage_energy_pj", "'s leakageEnergy is: "),
    ("buffer_latency_ns", "'s buffer latency is: "),
    ("buffer_read_dynamic_energy_pj", "'s buffer readDynamicEnergy is: "),
    ("ic_latency_ns", "'s ic latency is: "),
    ("ic_read_dynamic_energy_pj", "'s ic readDynamicEnergy is: "),
]
BREAKDOWN = [  # the six breakdown lines, in main.cpp's order (per layer and once for the chip)
    ("adc_latency_ns", "ns"), ("accum_latency_ns", "ns"), ("other_latency_ns", "ns"),
    ("adc_energy_pj", "pJ"), ("accum_energy_pj", "pJ"), ("other_energy_pj", "pJ"),
]
NET_COLS = ["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "followed_by_maxpool", "stride"]
LAYER_COLS = (["run_id", "layer", *NET_COLS, "num_tiles", "speedup", "utilization"]
              + [c for c, _ in LAYER_FIELDS] + [c for c, _ in BREAKDOWN]
              + ["ops_2x_macs_neurosim"])
# summary metric, unit, regex on stdout (the "pipeline-system ... (per image)" wording included)
SUMMARY = [
    ("chip_area_um2", "um^2", r"^ChipArea : " + NUM),
    ("cim_array_area_um2", "um^2", r"^Chip total CIM array : " + NUM),
    ("ic_area_um2", "um^2", r"^Total IC Area on chip .*?: " + NUM),
    ("adc_area_um2", "um^2", r"^Total ADC .*? Area on chip : " + NUM),
    ("accum_area_um2", "um^2", r"^Total Accumulation Circuits .*? on chip : " + NUM),
    ("other_area_um2", "um^2", r"^Other Peripheries .*?\) : " + NUM),
    ("clock_period_ns", "ns", r"^Chip clock period is: " + NUM),
    ("read_latency_ns", "ns", r"^Chip (?:layer-by-layer readLatency|pipeline-system-clock-cycle)"
                              r" \(per image\) is: " + NUM),
    ("read_dynamic_energy_pj", "pJ", r"^Chip (?:total|pipeline-system) readDynamicEnergy.*?: "
                                     + NUM),
    ("leakage_energy_pj", "pJ", r"^Chip (?:total|pipeline-system) leakage Energy.*?: " + NUM),
    ("leakage_power_uw", "uW", r"^Chip (?:total|pipeline-system) leakage Power.*?: " + NUM),
    ("buffer_latency_ns", "ns", r"^Chip (?:pipeline-system )?buffer readLatency.*?: " + NUM),
    ("buffer_read_dynamic_energy_pj", "pJ",
     r"^Chip (?:pipeline-system )?buffer readDynamicEnergy.*?: " + NUM),
    ("ic_latency_ns", "ns", r"^Chip (?:pipeline-system )?ic readLatency.*?: " + NUM),
    ("ic_read_dynamic_energy_pj", "pJ", r"^Chip (?:pipeline-system )?ic readDynamicEnergy.*?: "
                                        + NUM),
    # the six chip-level breakdown lines are filled in from the last breakdown block
    ("tops_per_w", "TOPS/W", r"^Energy Efficiency TOPS/W \(.*?\): " + NUM),
    ("tops", "TOPS", r"^Throughput TOPS \(.*?\): " + NUM),
    ("fps", "1/s", r"^Throughput FPS \(.*?\): " + NUM),
    ("tops_per_mm2", "TOPS/mm^2", r"^Compute efficiency TOPS/mm\^2 \(.*?\): " + NUM),
    ("neurosim_reported_runtime_s", "s", r"^Total Run-time of NeuroSim: " + NUM),
]


def read_network(path: Path) -> list[list[int]]:
    rows = [line.split(",") for line in path.read_text().splitlines() if line.strip()]
    return [[int(float(v)) for v in row[:8]] for row in rows]


def _write_bits(path: Path, bits: np.ndarray) -> None:
    """Write a 0/1 matrix as comma-separated '0'/'1' (hook.py's '%s' of a one-char str array)."""
    rows, cols = bits.shape
    text = np.full((rows, 2 * cols), ord(","), dtype=np.uint8)
    text[:, 0::2] = bits.astype(np.uint8) + ord("0")
    text[:, -1] = ord("\n")
    path.write_bytes(text.tobytes())


def write_traces(net: list[list[int]], densities: list[float], work: Path, seed: int) -> list[str]:
    """Write weight<i>.csv / input<i>.csv for every layer; return main's trace arguments."""
    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    args = []
    for i, ((h, w, cin, kh, kw, cout, _pool, stride), p) in enumerate(
            zip(net, densities, strict=True), start=1):
        weights = rng.integers(-2 ** (BITS - 1), 2 ** (BITS - 1), size=(cin * kh * kw, cout))
        np.savetxt(work / f"weight{i}.csv", weights / 2 ** (BITS - 1), delimiter=",",
                   fmt="%10.5f")
        # activation bit-planes (bit, Cin, H, W), bit 0 = sign bit, each Bernoulli(p)
        planes = rng.random((BITS, cin, h, w)) < p
        # 'valid' windows: rows ordered (c, kh, kw) like the kernel, columns (window, bit)
        win = np.lib.stride_tricks.sliding_window_view(planes, (kh, kw), axis=(2, 3))
        win = win[:, :, ::stride, ::stride]  # (bit, c, oh, ow, kh, kw)
        nwin = win.shape[2] * win.shape[3]
        need = ((h - kh + 1) // stride) * ((w - kw + 1) // stride)
        assert nwin >= need, (i, nwin, need)
        unfolded = win.transpose(1, 4, 5, 2, 3, 0).reshape(cin * kh * kw, nwin * BITS)
        _write_bits(work / f"input{i}.csv", unfolded)
        args += [str(work / f"weight{i}.csv"), str(work / f"input{i}.csv")]
    return args


def parse(stdout: str, run_id: str, net: list[list[int]]) -> tuple[list[dict], list[list[str]]]:
    lines = stdout.splitlines()
    n = len(net)

    def section(title: str) -> dict[int, str]:
        start = next(k for k, s in enumerate(lines) if title in s)
        found = {}
        for s in lines[start + 1:]:
            m = re.match(r"^layer(\d+): " + NUM + r"\s*$", s)
            if not m:
                if found:
                    break
                continue
            found[int(m.group(1))] = m.group(2)
        return found

    tiles = section("# of tile used for each layer")
    speedup = section("Speed-up of each layer")
    util = section("Utilization of each layer")
    breakdown = [re.search(r"readLatency is : " + NUM + "ns|readDynamicEnergy is : " + NUM
                           + "pJ", s) for s in lines if s.startswith("----------- ")]
    breakdown = [m.group(1) or m.group(2) for m in breakdown if m]
    assert len(breakdown) == 6 * (n + 1), len(breakdown)
    layers = []
    for i, row in enumerate(net, start=1):
        rec = {"run_id": run_id, "layer": i, **dict(zip(NET_COLS, row, strict=True)),
               "num_tiles": float(tiles[i]), "speedup": float(speedup[i]),
               "utilization": float(util[i])}
        for col, text in LAYER_FIELDS:
            pat = re.compile(rf"^layer{i}{re.escape(text)}{NUM}")
            rec[col] = float(next(m.group(1) for s in lines if (m := pat.match(s))))
        for (col, _unit), val in zip(BREAKDOWN, breakdown[6 * (i - 1):6 * i], strict=True):
            rec[col] = float(val)
        h, w, cin, kh, kw, cout = row[:6]
        rec["ops_2x_macs_neurosim"] = float(2 * h * w * cin * kh * kw * cout)
        layers.append(rec)
    values = {}
    for metric, unit, pat in SUMMARY:
        rx = re.compile(pat)
        values[metric] = (next((m.group(1) for s in lines if (m := rx.match(s))), ""), unit)
    for (col, unit), val in zip(BREAKDOWN, breakdown[6 * n:], strict=True):
        values[col] = (val, unit)
    order = [m for m, _, _ in SUMMARY[:15]] + [c for c, _ in BREAKDOWN] + [
        m for m, _, _ in SUMMARY[15:]]
    summary = [[run_id, m, values[m][0], values[m][1]] for m in order if values[m][0] != ""]
    return layers, summary


def write(out_dir: Path, name: str, run_id: str, stdout: str, layers: list[dict],
          summary: list[list[str]]) -> None:
    """Write logs/<run_id>.log.gz and neurosim_v13_<name>_{layers,summary}.csv."""
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out_dir / "logs" / f"{run_id}.log.gz", "wb", mtime=0) as f:
        f.write(stdout.encode())
    with open(out_dir / f"neurosim_v13_{name}_layers.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, LAYER_COLS)  # "\r\n" rows, as the shared files
        wr.writeheader()
        wr.writerows(layers)
    with open(out_dir / f"neurosim_v13_{name}_summary.csv", "w", newline="") as f:
        wr = csv.writer(f)  # "\r\n" rows, as the shared files
        wr.writerow(["run_id", "metric", "value", "unit"])
        wr.writerows(summary)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("neurosim", type=Path, help="the built NeuroSim V1.3 'main'")
    ap.add_argument("network", type=Path, help="NetWork_<x>.csv")
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--name", help="file name part (default: run id without 'ns13_')")
    ap.add_argument("--work", type=Path, required=True, help="scratch dir for the traces")
    ap.add_argument("--densities", help="input-bit density per layer, comma-separated "
                    "(default 0.3 for every layer)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    ap.add_argument("--no-write", action="store_true", help="parse and print, write no CSVs")
    a = ap.parse_args(argv)

    net = read_network(a.network)
    dens = [float(x) for x in a.densities.split(",")] if a.densities else [0.3] * len(net)
    trace_args = write_traces(net, dens, a.work, a.seed)
    cmd = [str(a.neurosim.resolve()), str(a.network.resolve()), str(BITS), str(BITS), *trace_args]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=a.neurosim.parent, check=True)
    wall = time.monotonic() - t0
    (a.work / f"{a.run_id}.log").write_text(proc.stdout)
    layers, summary = parse(proc.stdout, a.run_id, net)
    print(f"{a.run_id}: C++ wall time {wall:.1f} s")
    for metric, value, unit in (r[1:] for r in summary):
        print(f"  {metric} = {value} {unit}")
    if a.no_write:
        return 0
    write(a.out_dir, a.name or a.run_id.removeprefix("ns13_"), a.run_id, proc.stdout, layers,
          summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
