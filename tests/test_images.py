"""Several images through the chip (`--images N`): pipelined throughput, back-to-back layer by
layer, energy that adds up, the outputs that report them, and bad counts refused."""

from __future__ import annotations

import csv
import json
from math import ceil

import pytest
from conftest import hw_with

import enasim
from enasim.analytical import run_analytical
from enasim.cli import main
from enasim.errors import EnasimError
from enasim.mapping import map_network
from enasim.sim import Simulator
from enasim.workload import load_workload

# Three 3x3-or-1x1 convolutions on an 8x8 map (64 vectors each, one weight copy, one tile):
# with 32 rows read at once, b's 144 rows take 4 read phases per input bit, a's and c's 16
# rows one, so b is the slowest stage.
THREE = """name: three
input: [16, 8, 8]
layers:
  - {name: a, op: conv2d, out_channels: 16, kernel: 1}
  - {name: b, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: c, op: conv2d, out_channels: 16, kernel: 1}
"""
CHIP = {"crossbar": {"rows_parallel": 32}, "mapping": {"duplication": "none"}}


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    path = tmp_path_factory.mktemp("wl") / "three.yaml"
    path.write_text(THREE)
    return path


def _mapping(three, mode: str):
    return map_network(load_workload(three), hw_with(execution={"mode": mode}, **CHIP))


def _run(three, mode: str, images: int, noc: str = "ideal"):
    return Simulator(_mapping(three, mode), noc_model=noc, images=images).run()


def _dynamic_pj(stats) -> dict[str, float]:
    return {k: v for k, v in stats.energy_by_component_pj().items() if k != "leakage"}


def test_the_period_is_the_slowest_stage_worked_out_by_hand(three):
    """b, per step of one vector: read 144 rows x 8 bits over one 128-bit port = 9 cycles,
    convert 8 input bits x 4 phases x 8 columns per ADC = 256, write 16 x 8 bits = 1, lag =
    shift-add 1 + one accumulator stage over its 2 row blocks; 64 steps overlap as
    r + c + lag + w + 63 max(r, c, w) (`LayerTiles.compute_alone`). Once the chip is full, an
    image leaves every such stage time."""
    m = _mapping(three, "pipelined")
    hw, b = m.hw, m.layer("b")
    assert (b.tiles, b.copies, b.vectors, len(b.tiling.block_rows)) == (1, 1, 64, 2)
    bits = hw.precision.input_bits
    r = ceil(144 * bits / hw.tile.input_buffer.port_bits)
    c = bits * ceil(128 / 32) * hw.adc.cols_per_adc * hw.adc.cycles_per_conversion
    w = ceil(16 * hw.precision.output_bits / hw.tile.output_buffer.port_bits)
    lag = hw.pe.shift_add_cycles + hw.tile.accumulator.cycles
    stage = r + c + lag + w + 63 * max(r, c, w)
    assert (r, c, w, stage) == (9, 256, 1, 16396)

    one, n = _run(three, "pipelined", 1), 6
    s = _run(three, "pipelined", n)
    assert s.period_cycles == stage
    assert s.bottleneck.name == "b" and s.bottleneck.busy_cycles_per_image == stage
    assert all(ls.busy_cycles_per_image < stage for ls in s.layers if ls.name != "b")
    assert s.first_image_latency_cycles == one.latency_cycles
    assert s.period_cycles * (n - 1) + s.first_image_latency_cycles == s.latency_cycles
    assert s.period_cycles < one.latency_cycles  # images overlap
    assert s.throughput_images_per_s == pytest.approx(1e9 / (stage * hw.clock_period_ns))
    # Every image after the first leaves one stage time after the one before.
    ends = s.image_end_cycles
    assert [b - a for a, b in zip(ends, ends[1:], strict=False)] == [stage] * (n - 1)


@pytest.mark.parametrize("mode", ["pipelined", "layer_by_layer"])
def test_progress_counts_every_layer_of_every_image(three, mode):
    seen = []
    m = _mapping(three, mode)
    Simulator(m, noc_model="ideal", images=2, progress=lambda d, t: seen.append((d, t))).run()
    assert seen == [(i, 6) for i in range(1, 7)]


def test_layer_by_layer_runs_images_back_to_back(three):
    one, n = _run(three, "layer_by_layer", 1), 3
    s = _run(three, "layer_by_layer", n)
    t = one.latency_cycles
    assert s.image_end_cycles == tuple(k * t for k in range(1, n + 1))
    assert s.latency_cycles == n * t and s.period_cycles == t
    for ls, l1 in zip(s.layers, one.layers, strict=True):
        assert ls.start_cycle == l1.start_cycle
        assert ls.end_cycle == l1.end_cycle + (n - 1) * t
        for part in (
            "adc_cycles",
            "buffer_cycles",
            "digital_cycles",
            "noc_cycles",
            "macs",
            "ops",
            "vectors",
        ):
            assert getattr(ls, part) == n * getattr(l1, part)
        assert ls.busy_cycles_per_image == l1.busy_cycles_per_image
    # The analytical model agrees, image for image.
    a = run_analytical(_mapping(three, "layer_by_layer"), images=n)
    assert a.image_end_cycles == s.image_end_cycles
    assert _dynamic_pj(a) == pytest.approx(_dynamic_pj(s), rel=1e-12)
    assert a.energy_pj == pytest.approx(s.energy_pj, rel=1e-12)


@pytest.mark.parametrize(
    "mode, noc", [("pipelined", "ideal"), ("layer_by_layer", "ideal"), ("pipelined", "compiled")]
)
def test_energy_adds_up(three, mode, noc):
    """Dynamic energy of N images = N x one image's, per component (NoC flits included);
    leakage = chip leakage over the whole run, split among the layers."""
    one, n = _run(three, mode, 1, noc), 4
    s = _run(three, mode, n, noc)
    per_image = _dynamic_pj(one)
    assert _dynamic_pj(s) == pytest.approx({k: n * v for k, v in per_image.items()}, rel=1e-12)
    for ls, l1 in zip(s.layers, one.layers, strict=True):
        assert ls.counts == pytest.approx({k: n * v for k, v in l1.counts.items()}, rel=1e-12)
    leak = sum(ls.energy_pj["leakage"] for ls in s.layers)
    assert leak == pytest.approx(s.leakage_uw * s.latency_ns * 1e-3, rel=1e-12)
    assert s.tops_per_w == pytest.approx(n * s.ops / n / s.energy_pj)
    assert s.ops == n * one.ops


def test_on_the_compiled_mesh(three):
    """On the mesh the images' packets share the links: the first image can only be delayed
    by the later ones (here it is not: b's outputs leave 256 cycles apart), and the steady
    state runs at the slowest stage."""
    one = _run(three, "pipelined", 1, "compiled")
    s = _run(three, "pipelined", 6, "compiled")
    assert s.first_image_latency_cycles >= one.latency_cycles
    assert s.bottleneck.name == "b"
    assert s.period_cycles == s.bottleneck.busy_cycles_per_image == 16396
    assert s.period_cycles * 5 + s.first_image_latency_cycles == s.latency_cycles
    assert s.traffic.packets.total_flits == 6 * one.traffic.packets.total_flits


def test_a_narrow_mesh_sets_the_period(three):
    """2-bit links: a's 64 x 16 x 8 output bits per image take 4096 flits over one link, and b
    waits for them in every image, so the period exceeds every stage time and the interconnect,
    not a layer, is the bottleneck."""
    from enasim.report.files import layer_rows, throughput

    hw = hw_with(execution={"mode": "pipelined"}, noc={"flit_bits": 2}, **CHIP)
    s = Simulator(map_network(load_workload(three), hw), noc_model="compiled", images=6).run()
    assert s.period_cycles > 1.5 * s.slowest_stage.busy_cycles_per_image
    assert s.period_cycles >= 4096 and s.bottleneck is None
    ends = s.image_end_cycles
    assert len({b - a for a, b in zip(ends[1:], ends[2:], strict=False)}) == 1  # steady
    summary = throughput(s, hw)
    assert summary["bottleneck_layer"] == "interconnect"
    assert summary["slowest_stage_layer"] == "b"
    assert [row[-1] for row in layer_rows(s, pipelined=True)] == [0, 0, 0]


def test_timeline_tells_the_images_apart(three):
    from enasim.report.timeline import chrome_trace

    s = _run(three, "pipelined", 3)
    trace = chrome_trace(s)
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["args"]["image"] for e in spans} == {1, 2, 3}
    by_track: dict[tuple, list] = {}
    for e in spans:
        by_track.setdefault((e["pid"], e["tid"]), []).append(
            (e["args"]["start_cycle"], e["args"]["start_cycle"] + e["args"]["cycles"])
        )
    for intervals in by_track.values():
        intervals.sort()
        assert all(b[0] >= a[1] for a, b in zip(intervals, intervals[1:], strict=False))
    # One image: no image in the args (the files of one-image runs are unchanged).
    one = chrome_trace(_run(three, "pipelined", 1))
    assert all("image" not in e.get("args", {}) for e in one["traceEvents"])


def test_result_files_and_printed_table(three, tmp_path, capsys):
    hw = tmp_path / "hw.yaml"
    hw.write_text(
        "extends: flash_imc\nexecution: {mode: pipelined}\ncrossbar: "
        "{rows_parallel: 32}\nmapping: {duplication: none}\n"
    )
    out = tmp_path / "r"
    assert (
        main(
            [
                "run",
                "--hw",
                str(hw),
                "--workload",
                str(three),
                "--noc",
                "ideal",
                "--images",
                "4",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 4 and summary["period_cycles"] == 16396
    assert summary["throughput_images_per_s"] == pytest.approx(1e9 / 16396)
    assert summary["first_image_latency_cycles"] + 3 * 16396 == summary["latency_cycles"]
    assert summary["bottleneck_layer"] == summary["slowest_stage_layer"] == "b"
    assert summary["slowest_stage_cycles"] == 16396
    assert "period 16396 cycles per image" in printed and "6.099e+04 images/s" in printed
    assert "4 images" in printed and "slowest stage b (16396 cycles): b sets" in printed
    rows = list(csv.DictReader((out / "layers.csv").open()))
    assert [(r["name"], r["bottleneck"]) for r in rows] == [("a", "0"), ("b", "1"), ("c", "0")]
    assert rows[1]["busy_cycles_per_image"] == "16396"
    timeline = json.loads((out / "timeline.json").read_text())
    assert timeline["otherData"]["images"] == 4
    # One image: none of the new fields or columns.
    assert (
        main(
            [
                "run",
                "--hw",
                str(hw),
                "--workload",
                str(three),
                "--noc",
                "ideal",
                "-o",
                str(tmp_path / "one"),
            ]
        )
        == 0
    )
    assert "throughput" not in capsys.readouterr().out
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert not {"images", "period_cycles", "bottleneck_layer"} & set(one)
    assert "bottleneck" not in (tmp_path / "one" / "layers.csv").read_text()


def test_api_images_and_measured_activity(three):
    """`images=` in the API; with measured activity the run processes the measured images."""
    r = enasim.run(hw_with(**CHIP), load_workload(three), engine="analytical", images=2)
    assert r.summary["images"] == 2 and "bottleneck_layer" not in r.summary
    r = enasim.run(
        hw_with(**CHIP), load_workload(three), noc="ideal", activity="measured", images=2
    )
    assert r.summary["images"] == 2 and r.summary["activity"]["images"] == 2
    assert r.layers[0]["vectors"] == 128


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0", "expected an integer >= 1, got 0"),
        ("-1", "expected an integer >= 1, got -1"),
        ("abc", "invalid int value: 'abc'"),
    ],
)
def test_bad_image_counts_exit_2(value, expected, tmp_path, capsys):
    assert main(["run", "--images", value, "--noc", "ideal", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field '--images'" in err and expected in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("images", [0, -2, 1.5, True, "2"])
def test_bad_image_counts_in_the_api_and_engine(images, three):
    with pytest.raises(EnasimError, match="--images"):
        enasim.run(hw_with(**CHIP), load_workload(three), images=images)
    with pytest.raises(EnasimError, match="images: expected an integer >= 1"):
        Simulator(_mapping(three, "pipelined"), images=images)


def test_too_many_images_are_refused_before_the_run(three):
    with pytest.raises(EnasimError, match=r"x 100000000 images \(--images\)"):
        Simulator(_mapping(three, "pipelined"), images=10**8).run()
