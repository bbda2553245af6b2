"""Shared fixtures: reference data (enasim/reference, with its provenance), bundled chips and
workloads."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from enasim.config import from_dict, load
from enasim.mapping import map_network
from enasim.workload import load_workload

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "enasim" / "reference"
# Zoo workloads with grouped (depthwise) convolutions, which NeuroSim's floorplan (mapping.scheme
# neurosim) refuses (tests/test_workload_names.py checks the set).
ZOO_GROUPED = frozenset({"mobilenet_v2"})


def reference_file(*parts: str) -> Path:
    path = REFERENCE.joinpath(*parts)
    assert path.is_file(), f"reference data missing from the repository: {path}"
    return path


def read_reference_csv(*parts: str) -> list[dict[str, str]]:
    with reference_file(*parts).open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def neurosim_hw():
    return load(REPO / "hwconfigs" / "neurosim_v13.yaml")


@pytest.fixture(scope="session")
def flash_hw():
    return load(REPO / "hwconfigs" / "flash_imc.yaml")


@pytest.fixture(scope="session")
def vgg8():
    return load_workload("vgg8")


@pytest.fixture(scope="session")
def neurosim_vgg8_mapping(neurosim_hw, vgg8):
    return map_network(vgg8, neurosim_hw)


def overlapped(name: str, sets=()) -> object:
    """A bundled chip under enasim's overlapped timing on its mesh: neurosim_v13 itself runs
    NeuroSim's accounting over an H-tree, so engine tests take its mesh variant."""
    sets = list(sets)
    if name == "neurosim_v13":
        sets += [("timing.accounting", "overlapped"), ("noc.model", "compiled")]
    return load(name, sets)


# flash_imc as it was before its range mode (issue 23, item 4): all 128 rows at once, full
# ADC range. The mechanics tests built on hw_with hand-calculate one read phase per block.
ONE_PHASE = {"crossbar": {"rows_parallel": 128}, "adc": {"range_mode": "full"}}


def hw_with(**sections) -> object:
    """flash_imc read in one phase (ONE_PHASE) with some sections (merged field by field)
    overridden."""
    merged = {k: {**ONE_PHASE.get(k, {}), **sections.get(k, {})} for k in ONE_PHASE}
    return from_dict({"extends": "flash_imc", **sections, **merged}, "test")


def kill_cli_mid_run(args: list[str], done: Callable[[], int], at_least: int,
                     what: str) -> None:
    """Run `enasim ARGS` in a subprocess and SIGKILL it once `done()` reaches `at_least`
    (failing if it dies first or makes no progress in 60 s): an interrupted long run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-m", "enasim.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while done() < at_least:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, f"{what} made no progress"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
