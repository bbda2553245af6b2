"""Property-based: random values of every count, size and seed flag of every command give
exit 0 or 2 with one stderr line, never a traceback, hang or runaway allocation.

Each command gets a trailing input that fails validation after the fuzzed flag was parsed and
checked (an unknown hwconfig, a traffic pattern the mesh cannot take), so no long simulation
starts whatever value is drawn.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enasim.cli import main

NOC = ["noc", "--model", "process", "--traffic", "bitcomp", "--mesh", "3x3"]
COMMANDS = {  # command line (the failing input last) -> its count/size/seed flags
    ("run", "--quiet", "--activity", "measured", "--workload", "no_such_wl"):
        ["--images", "--seed"],
    ("infer", "--quiet", "--workload", "no_such_wl"): ["--images", "--seed"],
    tuple(NOC): ["--vcs", "--vc-buf", "--routing-delay", "--va-delay", "--sa-delay",
                 "--st-delay", "--link-delay", "--warmup-cycles", "--measure-cycles",
                 "--sample-cycles", "--packet-flits", "--latency-threshold", "--seed"],
    ("noc", "--model", "process", "--rate", "0"): ["--mesh"],
    ("enasa", "run", "--quiet", "--hw", "no_such_hw"):
        ["--group", "--images", "--generations", "--population", "--flops-limit", "--seed"],
    ("monas", "run", "--quiet", "--channels", "x"): ["--trials", "--max-blocks", "--seed"],
    ("flash", "fit", "--hw", "no_such_hw"): ["--train", "--test", "--workers", "--seed"],
    ("flash", "search", "--models", "no_such_models.json"):
        ["--samples", "--t-step", "--seed", "--min-quality", "--max-area-mm2"],
    ("sweep", "run", "no_such_spec.yaml"): ["--workers"],
}
CASES = [(cmd, flag) for cmd, flags in COMMANDS.items() for flag in flags]

NUMBERS = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.sampled_from(["0", "-1", "1", "2", "4294967295", "4294967296", "9223372036854775807",
                     "1e12", "1e9", "2.5", "nan", "NaN", "inf", "-inf", "", " ", "0x10", "１"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
MESHES = st.one_of(
    st.tuples(st.integers(-5, 5000), st.integers(-5, 5000)).map(lambda rc: f"{rc[0]}x{rc[1]}"),
    st.text(max_size=8),
)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def _check(cmd: tuple[str, ...], flag: str, value: str) -> None:
    code, err = _run([*cmd, f"{flag}={value}"])
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    assert code == 0 or (err.count("\n") == 1 and err.startswith("enasim: error: ")), err


def _property(examples: int):
    @settings(max_examples=examples, deadline=2000, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def prop(cmd, flag, data):
        value = data.draw(MESHES if flag == "--mesh" else NUMBERS, label=flag)
        _check(cmd, flag, value)
    return prop


_fast = _property(12)
_many = _property(200)


@pytest.mark.parametrize("cmd, flag", CASES, ids=[f"{c[0]} {f}" for c, f in CASES])
def test_count_flags_never_crash(cmd, flag):
    _fast(cmd, flag)


@pytest.mark.slow
@pytest.mark.parametrize("cmd, flag", CASES, ids=[f"{c[0]} {f}" for c, f in CASES])
def test_count_flags_never_crash_many(cmd, flag):
    _many(cmd, flag)
