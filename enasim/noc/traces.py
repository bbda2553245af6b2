"""NoC traces: CSV/JSONL rows `cycle,src,dst,flits[,id,deps]` and the BookSim2-fork JSON.

- csv: a header naming the columns, then one packet per row; `deps` holds ids separated by `;`.
- jsonl: one object per line with the same keys; `deps` is a list of ids.
- booksim-json: the trace-capable BookSim2 fork's JSON list of {id, cycle, src, dst,
  num_flits, num_deps, rev_deps}: `rev_deps` lists the packets that wait for this one,
  `num_deps` how many this one waits for.

Ids must increase strictly in file order (without ids: 0..n-1). A packet may depend on any
other, a later one included, as long as the dependencies form no cycle; it is created in the
cycle the last of them arrives (and may be injected in it), or at its own cycle if later (see
`Packets`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from enasim.errors import ConfigError, suggest
from enasim.fileio import TRACE_LIMIT, atomic_write, decode_json, json_error, read_text
from enasim.noc.packets import Packets
from enasim.noc.settings import FORMATS
from enasim.validate import type_name

_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".json": "booksim-json"}
_COLUMNS = ("cycle", "src", "dst", "flits", "id", "deps")
_REQUIRED = ("cycle", "src", "dst", "flits")
_BOOKSIM_KEYS = ("id", "cycle", "src", "dst", "num_flits", "num_deps", "rev_deps")
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")  # longer ones are out of range anyway
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_INT32_MAX, _INT64_MAX = 2**31 - 1, 2**63 - 1
# Creation cycles: the kernels add latencies and delays to cycles in int64 and use -2**40 as
# "never"; 2**40 (12 days at 1 GHz) keeps every sum far from overflow.
MAX_CYCLE = 2**40

Record = tuple[str, dict[str, Any]]  # (where in the file, e.g. "line 3"; fields)


def trace_format(path: str | Path, fmt: str | None = None) -> str:
    """`fmt`, or the format given by the file suffix (.csv, .jsonl, .json)."""
    fmt = fmt or _SUFFIX.get(Path(path).suffix.lower())
    if fmt not in FORMATS:
        raise ConfigError(str(path), "--format", f"expected one of {', '.join(FORMATS)} "
                          f"(or a .csv/.jsonl/.json file), got {fmt!r}")
    return fmt


def read_trace(path: str | Path, fmt: str | None = None, rows: int | None = None,
               cols: int | None = None) -> Packets:
    """Read and check a trace; nodes must lie in the rows x cols mesh when both are given."""
    fmt, src = trace_format(path, fmt), str(path)
    text = read_text(path, TRACE_LIMIT, "trace")
    reader = {"csv": _csv_records, "jsonl": _jsonl_records, "booksim-json": _booksim_records}
    return _packets(reader[fmt](text, src), fmt, src, rows, cols)


def _csv_records(text: str, src: str) -> list[Record]:
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        for name in header:
            if name not in _COLUMNS:
                raise ConfigError(src, "line 1", f"unknown column {name!r}"
                                  f"{suggest(name, _COLUMNS)}; expected cycle,src,dst,flits"
                                  "[,id,deps]")
        missing = [c for c in _REQUIRED if c not in header]
        if missing or len(set(header)) < len(header):
            what = f"missing columns {', '.join(missing)}" if missing else "repeated columns"
            raise ConfigError(src, "line 1", f"{what} in the header {','.join(header)!r}; "
                              "expected cycle,src,dst,flits[,id,deps]")
        records = []
        for row in reader:
            if not row:
                continue
            where = f"line {reader.line_num}"
            if len(row) != len(header):
                raise ConfigError(src, where, f"expected {len(header)} comma-separated fields "
                                  f"({','.join(header)}), got {len(row)}")
            fields = {k: _csv_int(v) for k, v in zip(header, row, strict=True)}
            if "deps" in fields:
                deps = str(fields["deps"]).split(";")
                fields["deps"] = [_csv_int(v) for v in deps if v.strip()]
            records.append((where, fields))
    except csv.Error as exc:
        raise ConfigError(src, f"line {reader.line_num}", f"malformed CSV: {exc}") from None
    return records


def _csv_int(text: str) -> int | str:
    """A CSV field as an int if it is one; otherwise left as text for `_int` to report."""
    text = text.strip()
    return int(text) if _INTEGER.fullmatch(text) else text


def _jsonl_records(text: str, src: str) -> list[Record]:
    records = []
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        obj, end = decode_json(line, src, len(line) - len(line.lstrip()), first_line=i)
        if line[end:].strip():
            json_error(line, src, end, "expected one JSON object per line", first_line=i)
        where = f"line {i}"
        records.append((where, _check_object(obj, _COLUMNS, _REQUIRED, src, where)))
    return records


def _booksim_records(text: str, src: str) -> list[Record]:
    """Parse the JSON list element by element to know the line each packet starts on."""
    records, line, counted = [], 1, 0

    def fail(pos: int, message: str):
        json_error(text, src, pos, message)

    def skip(pos: int) -> int:
        return _JSON_SPACE.match(text, pos).end()

    pos = skip(0)
    if text[pos:pos + 1] != "[":
        fail(pos, "expected a JSON list of packets ('[')")
    pos = skip(pos + 1)
    if text[pos:pos + 1] == "]":
        pos += 1
    else:
        while True:
            line, counted = line + text.count("\n", counted, pos), pos
            obj, pos = decode_json(text, src, pos)
            where = f"line {line}"
            records.append((where, _check_object(obj, _BOOKSIM_KEYS, _BOOKSIM_KEYS, src, where)))
            pos = skip(pos)
            if text[pos:pos + 1] == "]":
                pos += 1
                break
            if text[pos:pos + 1] != ",":
                fail(pos, "expected ',' or ']' after a packet")
            pos = skip(pos + 1)
    if skip(pos) != len(text):
        fail(skip(pos), "extra data after the list of packets")
    return records


def _check_object(obj: Any, keys: tuple[str, ...], required: tuple[str, ...], src: str,
                  where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ConfigError(src, where, f"expected a JSON object with keys {', '.join(keys)}, "
                          f"got {type_name(obj)}")
    for key in obj:
        if key not in keys:
            raise ConfigError(src, f"{where}: {key}", f"unknown key{suggest(key, keys)}; "
                              f"valid keys: {', '.join(keys)}")
    for key in required:
        if key not in obj:
            raise ConfigError(src, f"{where}: {key}", "required key missing")
    return obj


def _int(value: Any, src: str, where: str, key: str, minimum: int | None = 0,
         maximum: int = _INT64_MAX) -> int:
    """A JSON (or converted CSV) integer, not a bool, float or string, in range."""
    if type(value) is int and (minimum is None or value >= minimum) and value <= maximum:
        return value  # the common case, without building messages
    field = f"{where}: {key}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(src, field, f"expected an integer, got {type_name(value)} {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(src, field, f"expected an integer >= {minimum}, got {value}")
    raise ConfigError(src, field, f"expected an integer <= {maximum}, got {value}")


def _packets(records: list[Record], fmt: str, src: str, rows: int | None,
             cols: int | None) -> Packets:
    """Check the fields of every record and resolve dependency ids to packet indices."""
    n = len(records)
    nodes = rows * cols if rows and cols else None
    booksim = fmt == "booksim-json"
    flits_key = "num_flits" if booksim else "flits"
    with_ids = bool(records) and "id" in records[0][1]
    cycle, s, d, fl, ids = (np.zeros(n, np.int64) for _ in range(5))

    def node(where: str, key: str, value: Any) -> int:
        v = _int(value, src, where, key, None if nodes else 0, _INT32_MAX)
        if nodes is not None and not 0 <= v < nodes:
            raise ConfigError(src, f"{where}: {key}", f"node {v} outside the {rows}x{cols} "
                              f"mesh (nodes 0..{nodes - 1})")
        return v

    for k, (where, r) in enumerate(records):
        cycle[k] = _int(r["cycle"], src, where, "cycle", 0, MAX_CYCLE)
        s[k] = node(where, "src", r["src"])
        d[k] = node(where, "dst", r["dst"])
        fl[k] = _int(r[flits_key], src, where, flits_key, 1, _INT32_MAX)
        if ("id" in r) != with_ids:
            raise ConfigError(src, f"{where}: id", "ids must be given for all packets or none")
        ids[k] = _int(r["id"], src, where, "id") if with_ids else k
        if k and ids[k] <= ids[k - 1]:
            raise ConfigError(src, f"{where}: id", f"non-monotonic ids: {ids[k]} after "
                              f"{ids[k - 1]} (ids must increase strictly in file order)")

    # Dependency edges as listed in the file: record `owner` lists id `named`, which is the
    # packet it waits for (deps) or a packet that waits for it (rev_deps).
    dep_key = "rev_deps" if booksim else "deps"
    listed_ids, owner = [], []
    for k, (where, r) in enumerate(records):
        listed = r.get(dep_key, [])
        if not isinstance(listed, list):
            raise ConfigError(src, f"{where}: {dep_key}", f"expected a list of packet ids, got "
                              f"{type_name(listed)} {listed!r}")
        listed_ids += [_int(v, src, where, dep_key) for v in listed]
        owner += [k] * len(listed)
    named, owner = np.asarray(listed_ids, np.int64), np.asarray(owner, np.int64)
    pos = np.searchsorted(ids, named)
    unknown = np.flatnonzero((pos >= n) | (ids[np.minimum(pos, n - 1)] != named)) if n else []
    if len(unknown):
        e = unknown[0]
        raise ConfigError(src, f"{records[owner[e]][0]}: {dep_key}",
                          f"unknown packet id {named[e]}")
    wait_idx, dep_idx = (pos, owner) if booksim else (owner, pos)
    order = np.argsort(wait_idx, kind="stable")  # CSR by waiting packet, file order within
    wait_idx, dep_idx, owners = wait_idx[order], dep_idx[order], owner[order]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(wait_idx, minlength=n), out=ptr[1:])

    pairs = np.lexsort((dep_idx, wait_idx))
    twice = np.flatnonzero((np.diff(wait_idx[pairs]) == 0) & (np.diff(dep_idx[pairs]) == 0))
    if len(twice):
        e = pairs[twice[0]]
        raise ConfigError(src, f"{records[owners[e]][0]}: {dep_key}", f"packet id "
                          f"{ids[wait_idx[e]]} depends on id {ids[dep_idx[e]]} twice")
    if booksim:
        for k, (where, r) in enumerate(records):
            num = _int(r["num_deps"], src, where, "num_deps")
            if num != ptr[k + 1] - ptr[k]:
                raise ConfigError(src, f"{where}: num_deps", f"is {num} but "
                                  f"{ptr[k + 1] - ptr[k]} packets list id {ids[k]} in rev_deps")
    _check_acyclic(ptr, dep_idx, ids, records, src, dep_key)
    return Packets(s, d, fl, cycle, ids=ids, dep_ptr=ptr, dep_idx=dep_idx)


def _check_acyclic(ptr: np.ndarray, dep_idx: np.ndarray, ids: np.ndarray,
                   records: list[Record], src: str, dep_key: str) -> None:
    """Kahn's algorithm on the CSR; if packets are left, name a cycle among them."""
    if not len(dep_idx):
        return
    n = len(ids)
    waiting = np.diff(ptr)
    users = np.repeat(np.arange(n), waiting)[np.argsort(dep_idx, kind="stable")]
    user_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(dep_idx, minlength=n), out=user_ptr[1:])
    waiting, users, user_ptr = waiting.tolist(), users.tolist(), user_ptr.tolist()
    ready = deque(k for k in range(n) if not waiting[k])
    while ready:
        k = ready.popleft()
        for u in users[user_ptr[k]:user_ptr[k + 1]]:
            waiting[u] -= 1
            if not waiting[u]:
                ready.append(u)
    left = [k for k in range(n) if waiting[k]]
    if not left:
        return
    # Every packet left waits for another one left: walking those edges must close a cycle.
    path, seen, k = [], {}, left[0]
    while k not in seen:
        seen[k] = len(path)
        path.append(k)
        k = next(j for j in dep_idx[ptr[k]:ptr[k + 1]].tolist() if waiting[j])
    cycle = path[seen[k]:] + [k]
    chain = " -> ".join(str(ids[j]) for j in cycle)
    raise ConfigError(src, f"{records[k][0]}: {dep_key}", f"cyclic dependencies: ids {chain} "
                      "(each waits for the next), so none of them can ever be created")


def write_trace(path: str | Path, packets: Packets, fmt: str | None = None) -> None:
    """Write packets with their ids and dependencies (fmt None: from the suffix)."""
    fmt = trace_format(path, fmt)
    pk = packets
    if np.any(np.diff(pk.ids) <= 0):
        raise ValueError("write_trace: packet ids must increase strictly")
    ids = pk.ids.tolist()
    deps = np.split(pk.ids[pk.dep_idx], pk.dep_ptr[1:-1]) if len(pk) else []
    rows = list(zip(ids, pk.cycle.tolist(), pk.src.tolist(), pk.dst.tolist(),
                    pk.flits.tolist(), [x.tolist() for x in deps], strict=True))
    if fmt == "csv":
        lines = ["cycle,src,dst,flits,id,deps"]
        lines += [f"{c},{s},{d},{f},{i},{';'.join(map(str, x))}" for i, c, s, d, f, x in rows]
        text = "\n".join(lines) + "\n"
    elif fmt == "jsonl":
        text = "".join(json.dumps({"cycle": c, "src": s, "dst": d, "flits": f, "id": i,
                                   "deps": x}) + "\n" for i, c, s, d, f, x in rows)
    else:
        rev: list[list[int]] = [[] for _ in ids]
        waiter = np.repeat(np.arange(len(pk)), np.diff(pk.dep_ptr))
        for w, j in zip(waiter.tolist(), pk.dep_idx.tolist(), strict=True):
            rev[j].append(ids[w])
        # Like the fork's own files: indent 1, keys in this order, no final newline.
        text = json.dumps([{"id": i, "cycle": c, "src": s, "dst": d, "num_flits": f,
                            "num_deps": len(x), "rev_deps": r}
                           for (i, c, s, d, f, x), r in zip(rows, rev, strict=True)], indent=1)
    atomic_write(path, text)
