"""NoC trace files: the BookSim2-fork reference trace, round trips, dependencies, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import reference_file

from enasim.errors import ConfigError
from enasim.noc.packets import Packets
from enasim.noc.traces import read_trace, write_trace

FIELDS = ("src", "dst", "flits", "cycle", "ids", "dep_ptr", "dep_idx")
SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "booksim-json": ".json"}


@pytest.fixture
def trace_a():
    return reference_file("booksim", "trace_A_light_1flit.json")


def same(a: Packets, b: Packets) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_reference_trace_a(trace_a):
    pk = read_trace(trace_a, rows=4, cols=4)
    assert len(pk) == 320 and int(pk.cycle.min()) == 10
    np.testing.assert_array_equal(pk.ids, np.arange(320))
    assert np.all(pk.flits == 1) and len(pk.dep_idx) == 0
    for s in range(8):
        mine = np.flatnonzero(pk.src == s)
        assert len(mine) == 40
        j = np.arange(40)
        np.testing.assert_array_equal(pk.dst[mine], 8 + (j + s) % 8)
        np.testing.assert_array_equal(pk.cycle[mine], 10 + 10 * j)


def test_reference_trace_round_trips_byte_for_byte(trace_a, tmp_path):
    out = tmp_path / "a.json"
    write_trace(out, read_trace(trace_a))
    assert out.read_bytes() == trace_a.read_bytes()


def with_deps() -> Packets:
    """Ids 5, 7, 9, 12: 7 waits for 5; 9 waits for 5 and 12 (a later id); 12 waits for 7."""
    return Packets([0, 1, 2, 3], [3, 0, 1, 2], [1, 2, 4, 1], [10, 10, 12, 0], ids=[5, 7, 9, 12],
                   dep_ptr=[0, 0, 1, 3, 4], dep_idx=[0, 0, 3, 1])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "booksim-json"])
def test_round_trip_with_dependencies(tmp_path, fmt):
    pk = with_deps()
    path = tmp_path / f"t{SUFFIX[fmt]}"
    write_trace(path, pk)  # format from the suffix
    same(read_trace(path, rows=2, cols=2), pk)
    other = tmp_path / "t.txt"
    write_trace(other, pk, fmt)
    same(read_trace(other, fmt), pk)


def test_written_formats(tmp_path):
    pk = with_deps()
    write_trace(tmp_path / "t.csv", pk)
    assert (tmp_path / "t.csv").read_text().splitlines()[:4] == [
        "cycle,src,dst,flits,id,deps", "10,0,3,1,5,", "10,1,0,2,7,5", "12,2,1,4,9,5;12"]
    write_trace(tmp_path / "t.jsonl", pk)
    first = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[2])
    assert first == {"cycle": 12, "src": 2, "dst": 1, "flits": 4, "id": 9, "deps": [5, 12]}
    write_trace(tmp_path / "t.json", pk)
    data = json.loads((tmp_path / "t.json").read_text())
    assert list(data[0]) == ["id", "cycle", "src", "dst", "num_flits", "num_deps", "rev_deps"]
    assert [(p["id"], p["num_deps"], p["rev_deps"]) for p in data] == [
        (5, 0, [7, 9]), (7, 1, [12]), (9, 2, []), (12, 1, [9])]


def test_absent_ids_number_rows_and_deps_use_them(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("src,dst,cycle,flits,deps\n0,1,5,1,\n1,2,6,1,0\n\n2,3,0,2,0; 1\n")
    pk = read_trace(path, rows=2, cols=2)
    np.testing.assert_array_equal(pk.ids, [0, 1, 2])
    assert pk.deps_of(1).tolist() == [0] and pk.deps_of(2).tolist() == [0, 1]
    np.testing.assert_array_equal(pk.cycle, [5, 6, 0])
    path = tmp_path / "t.jsonl"
    path.write_text('{"cycle": 3, "src": 0, "dst": 1, "flits": 1}\n\n'
                    '{"cycle": 4, "src": 1, "dst": 0, "flits": 2, "deps": [0]}\n')
    pk = read_trace(path)
    np.testing.assert_array_equal(pk.ids, [0, 1])
    assert pk.deps_of(1).tolist() == [0]


def test_empty_traces(tmp_path):
    (tmp_path / "e.csv").write_text("cycle,src,dst,flits\n")
    (tmp_path / "e.json").write_text("[]")
    for name in ("e.csv", "e.json"):
        assert len(read_trace(tmp_path / name)) == 0


CSV_HEAD = "cycle,src,dst,flits,id,deps\n"


@pytest.mark.parametrize("text, field, message", [
    (CSV_HEAD + "10,0,17,1,0,\n", "line 2: dst", "node 17 outside the 4x4 mesh (nodes 0..15)"),
    (CSV_HEAD + "10,-1,1,1,0,\n", "line 2: src", "node -1 outside the 4x4 mesh"),
    (CSV_HEAD + "-3,0,1,1,0,\n", "line 2: cycle", "expected an integer >= 0, got -3"),
    (CSV_HEAD + "1,0,1,0,0,\n", "line 2: flits", "expected an integer >= 1, got 0"),
    (CSV_HEAD + "1,0,1,x,0,\n", "line 2: flits", "expected an integer, got a string 'x'"),
    (CSV_HEAD + "1,0,1,1.5,0,\n", "line 2: flits", "expected an integer, got a string '1.5'"),
    (CSV_HEAD + "1,0,1,1,0,\n2,0,1,1,,\n", "line 3: id", "expected an integer"),
    (CSV_HEAD + "10,0,1,1,3,\n11,1,2,1,2,\n", "line 3: id", "non-monotonic ids: 2 after 3"),
    (CSV_HEAD + "10,0,1,1,3,\n11,1,2,1,3,\n", "line 3: id", "non-monotonic ids: 3 after 3"),
    (CSV_HEAD + "10,0,1,1,0,8\n", "line 2: deps", "unknown packet id 8"),
    (CSV_HEAD + "10,0,1,1,0,\n10,0,1,1,1,0;0\n", "line 3: deps", "depends on id 0 twice"),
    (CSV_HEAD + "10,0,1,1,0,1\n10,1,2,1,1,0\n", "line", "cyclic dependencies: ids"),
    (CSV_HEAD + "10,0,1,1,0,\n\n10,0,1,1,1\n", "line 4", "expected 6 comma-separated fields"),
    (CSV_HEAD + '10,0,1,1,0,"\n', "line 2", "malformed CSV"),
    ("cycle,src,flits\n1,2,3\n", "line 1", "missing columns dst"),
    ("cycle,src,dst,flit\n1,2,3,1\n", "line 1", "unknown column 'flit' (did you mean 'flits'?)"),
    ("cycle,src,dst,flits,src\n", "line 1", "repeated columns"),
    ("", "line 1", "missing columns cycle, src, dst, flits"),
])
def test_bad_csv(tmp_path, text, field, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        read_trace(path, rows=4, cols=4)
    assert exc.value.source == str(path)
    assert exc.value.field.startswith(field) and message in exc.value.message, str(exc.value)


def test_cycle_is_named_not_a_packet_behind_it(tmp_path):
    # id 0 waits for 1; 1 and 2 wait for each other: the cycle is 1 -> 2 -> 1
    path = tmp_path / "c.csv"
    path.write_text(CSV_HEAD + "0,0,1,1,0,1\n0,0,1,1,1,2\n0,0,1,1,2,1\n0,0,1,1,3,\n")
    with pytest.raises(ConfigError, match=r"cyclic dependencies: ids (1 -> 2 -> 1|2 -> 1 -> 2)"):
        read_trace(path)
    path.write_text(CSV_HEAD + "0,0,1,1,0,0\n")
    with pytest.raises(ConfigError, match=r"ids 0 -> 0 "):
        read_trace(path)


JL = '{"cycle": 1, "src": 0, "dst": 1, "flits": 1, "id": 0}\n'


@pytest.mark.parametrize("text, field, message", [
    (JL + '{"cycle": 1, "src": 0, "dst": 1, "flits": 1, "id": 1\n', "line 2", "malformed JSON"),
    (JL + '{"cycle": 1, "src": "0", "dst": 1, "flits": 1, "id": 1}\n', "line 2: src",
     "expected an integer, got a string '0'"),
    (JL + '{"cycle": 1.0, "src": 0, "dst": 1, "flits": 1, "id": 1}\n', "line 2: cycle",
     "expected an integer, got a number 1.0"),
    (JL + '{"cycle": 1, "src": 0, "dst": 1, "flits": true, "id": 1}\n', "line 2: flits",
     "expected an integer, got a boolean"),
    (JL + '{"cycle": 1, "src": 0, "dst": 1, "id": 1}\n', "line 2: flits", "required key missing"),
    (JL + '{"cycle": 1, "src": 0, "dst": 1, "flits": 1}\n', "line 2: id",
     "ids must be given for all packets or none"),
    (JL + '{"cycle": 1, "src": 0, "dst": 1, "flits": 1, "id": 1, "deps": 0}\n', "line 2: deps",
     "expected a list of packet ids"),
    (JL + '{"cycle": 1, "src": 0, "dst": 1, "flits": 1, "id": 1, "dep": [0]}\n', "line 2: dep",
     "unknown key (did you mean 'deps'?)"),
    (JL + "[1, 2]\n", "line 2", "expected a JSON object"),
])
def test_bad_jsonl(tmp_path, text, field, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        read_trace(path)
    assert exc.value.source == str(path)
    assert exc.value.field.startswith(field) and message in exc.value.message, str(exc.value)


def booksim(*packets: dict) -> str:
    keys = ("id", "cycle", "src", "dst", "num_flits", "num_deps", "rev_deps")
    return json.dumps([dict(zip(keys, p, strict=True)) for p in packets], indent=1)


@pytest.mark.parametrize("text, field, message", [
    (booksim((0, 1, 0, 1, 1, 0, [1]), (1, 1, 0, 1, 1, 0, [])), "line 13: num_deps",
     "is 0 but 1 packets list id 1 in rev_deps"),
    (booksim((0, 1, 0, 1, 1, 0, [4])), "line 2: rev_deps", "unknown packet id 4"),
    (booksim((0, 1, 0, 1, 1, 1, [1]), (1, 1, 0, 1, 1, 1, [0])), "line", "cyclic dependencies"),
    (booksim((0, 1, 0, 1, 1, 0, 5)), "line 2: rev_deps", "expected a list of packet ids"),
    (booksim((0, 1, 0, 1, 0, 0, [])), "line 2: num_flits", "expected an integer >= 1"),
    (booksim((0, 1, 0, 1, 1, 0, []), (1, 1, 0, 99, 1, 0, [])), "line 11: dst",
     "node 99 outside the 4x4 mesh"),
    ('[\n {"id": 0, "cycle": 1, "src": 0, "dst": 1, "num_flits": 1, "rev_deps": []}\n]',
     "line 2: num_deps", "required key missing"),
    ('[\n {"id": 0, "cycle": 1,\n "src": 0 "dst": 1}\n]', "line 3", "malformed JSON at column 11"),
    ('[\n {"id": 0, "cycle": 1, "src": 0, "dst": 1, "num_flits": 1, "num_deps": 0, '
     '"rev_deps": []}\n {"id": 1}]', "line 3", "expected ',' or ']'"),
    ('{"id": 0}', "line 1", "expected a JSON list of packets"),
    ("[]\n[]", "line 2", "extra data after the list"),
])
def test_bad_booksim_json(tmp_path, text, field, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        read_trace(path, rows=4, cols=4)
    assert exc.value.source == str(path)
    assert exc.value.field.startswith(field) and message in exc.value.message, str(exc.value)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="--format.*expected one of csv, jsonl, booksim-json"):
        read_trace(tmp_path / "t.txt")
    with pytest.raises(ConfigError, match="cannot read file"):
        read_trace(tmp_path / "absent.csv")


@pytest.mark.parametrize("model", ["compiled", "process"])
def test_booksim_json_dependency_chain_replays_at_zero_load(tmp_path, model):
    """A BookSim2-fork trace where each packet lists the next in `rev_deps`: each one is created
    in the cycle its predecessor's tail is ejected, as in the fork, so on an empty 4x4 mesh the
    last ejection is the first cycle plus the zero-load latencies 7 + 5D + (L - 1)."""
    from enasim.noc.measure import run_trace
    from enasim.noc.router import RouterParams

    hops = [(0, 15, 1), (15, 5, 2), (5, 5, 1), (5, 6, 3), (6, 0, 1), (0, 12, 4)]
    data = [{"id": k, "cycle": 20 if k == 0 else 0, "src": s, "dst": d, "num_flits": fl,
             "num_deps": int(k > 0), "rev_deps": [k + 1] if k + 1 < len(hops) else []}
            for k, (s, d, fl) in enumerate(hops)]
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(data))
    pk = read_trace(path, rows=4, cols=4)
    res, rec = run_trace(RouterParams(4, 4), pk, model)
    dist = np.abs(pk.src % 4 - pk.dst % 4) + np.abs(pk.src // 4 - pk.dst // 4)
    zero = 7 + 5 * dist + pk.flits - 1
    np.testing.assert_array_equal(rec.created[1:], rec.tail_ejected[:-1])
    np.testing.assert_array_equal(rec.tail_ejected - rec.created, zero)
    assert res["last_ejection_cycle"] == 20 + zero.sum()
