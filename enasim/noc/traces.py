"""NoC traces: CSV/JSONL rows `cycle,src,dst,flits[,id,deps]` and BookSim2-fork JSON.

The BookSim2-fork format is a JSON list of {id, cycle, src, dst, num_flits, num_deps,
rev_deps}: `rev_deps` lists the packets that wait for this one, `num_deps` how many this one
waits for. A packet with dependencies is created one cycle after the last of them arrives, or
at its own cycle if later. Ids must increase in file order.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from enasim.errors import ConfigError
from enasim.fileio import atomic_write
from enasim.noc.packets import Packets

FORMATS = ("csv", "jsonl", "booksim-json")
_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".json": "booksim-json"}


def _format(path: Path, fmt: str | None) -> str:
    fmt = fmt or _SUFFIX.get(path.suffix.lower())
    if fmt not in FORMATS:
        raise ConfigError(str(path), "--format", f"expected one of {', '.join(FORMATS)} "
                          f"(or a .csv/.jsonl/.json file), got {fmt!r}")
    return fmt


def _int(value, src: str, where: str, minimum: int = 0) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ConfigError(src, where, f"expected an integer, got {value!r}") from None
    if isinstance(value, float) and value != v or v < minimum:
        raise ConfigError(src, where, f"expected an integer >= {minimum}, got {value!r}")
    return v


def read_trace(path: str | Path, fmt: str | None = None, rows: int | None = None,
               cols: int | None = None) -> Packets:
    """Read and check a trace; nodes must lie in a rows x cols mesh when given."""
    path = Path(path)
    fmt, src = _format(path, fmt), str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(src, "", f"cannot read file: {exc.strerror}") from None
    records: list[tuple[str, dict]] = []  # (where, fields)
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = {"cycle", "src", "dst", "flits"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(src, "header", f"missing columns {sorted(missing)}; expected "
                              "cycle,src,dst,flits[,id,deps]")
        for i, row in enumerate(reader, start=2):
            deps = (row.get("deps") or "").strip()
            row["deps"] = [d for d in deps.split(";") if d.strip()] if deps else []
            records.append((f"line {i}", row))
    else:
        try:
            if fmt == "jsonl":
                items = [(f"line {i}", json.loads(line)) for i, line in
                         enumerate(text.splitlines(), start=1) if line.strip()]
            else:
                data = json.loads(text)
                if not isinstance(data, list):
                    raise ConfigError(src, "", "expected a JSON list of packets")
                items = [(f"packet {i}", d) for i, d in enumerate(data)]
        except json.JSONDecodeError as exc:
            raise ConfigError(src, f"line {exc.lineno}", f"malformed JSON: {exc.msg}") from None
        for where, d in items:
            if not isinstance(d, dict):
                raise ConfigError(src, where, "expected a JSON object")
            if fmt == "booksim-json":
                d = {"id": d.get("id"), "cycle": d.get("cycle"), "src": d.get("src"),
                     "dst": d.get("dst"), "flits": d.get("num_flits"),
                     "rev_deps": d.get("rev_deps", []), "num_deps": d.get("num_deps", 0)}
            records.append((where, d))
    return _packets(records, fmt, src, rows, cols)


def _packets(records, fmt, src, rows, cols) -> Packets:
    n = len(records)
    nodes = rows * cols if rows and cols else None
    cyc, s, d, fl, ids = (np.zeros(n, np.int64) for _ in range(5))
    for k, (where, r) in enumerate(records):
        for key in ("cycle", "src", "dst", "flits"):
            if r.get(key) is None:
                name = "num_flits" if key == "flits" and fmt == "booksim-json" else key
                raise ConfigError(src, f"{where}.{name}", "required field missing")
        cyc[k] = _int(r["cycle"], src, f"{where}.cycle")
        s[k] = _int(r["src"], src, f"{where}.src")
        d[k] = _int(r["dst"], src, f"{where}.dst")
        fl[k] = _int(r["flits"], src, f"{where}.flits", 1)
        ids[k] = _int(r["id"], src, f"{where}.id") if r.get("id") not in (None, "") else k
        for name, node in (("src", s[k]), ("dst", d[k])):
            if nodes is not None and node >= nodes:
                raise ConfigError(src, f"{where}.{name}", f"node {node} outside the "
                                  f"{rows}x{cols} mesh (nodes 0..{nodes - 1})")
        if k and ids[k] <= ids[k - 1]:
            raise ConfigError(src, f"{where}.id", f"non-monotonic ids: {ids[k]} after "
                              f"{ids[k - 1]} (ids must increase in file order)")
    index = {int(i): k for k, i in enumerate(ids)}

    def lookup(dep, where):
        k = index.get(_int(dep, src, where))
        if k is None:
            raise ConfigError(src, where, f"dependency on unknown packet id {dep}")
        return k

    deps: list[list[int]] = [[] for _ in range(n)]
    if fmt == "booksim-json":
        for k, (where, r) in enumerate(records):
            for dep in r["rev_deps"] or []:
                deps[lookup(dep, f"{where}.rev_deps")].append(k)
        for k, (where, r) in enumerate(records):
            if _int(r["num_deps"], src, f"{where}.num_deps") != len(deps[k]):
                raise ConfigError(src, f"{where}.num_deps", f"says {r['num_deps']} but "
                                  f"{len(deps[k])} packets list id {ids[k]} in rev_deps")
    else:
        for k, (where, r) in enumerate(records):
            deps[k] = [lookup(dep, f"{where}.deps") for dep in r.get("deps") or []]
    _check_acyclic(deps, ids, src)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum([len(x) for x in deps], out=ptr[1:])
    idx = np.array([k for x in deps for k in x], dtype=np.int32)
    return Packets(s, d, fl, cyc, ids=ids, dep_ptr=ptr, dep_idx=idx)


def _check_acyclic(deps: list[list[int]], ids: np.ndarray, src: str) -> None:
    """Kahn's algorithm; a packet left over lies on (or behind) a dependency cycle."""
    waiting = [len(x) for x in deps]
    users: list[list[int]] = [[] for _ in deps]
    for k, x in enumerate(deps):
        for dep in x:
            users[dep].append(k)
    ready = [k for k, w in enumerate(waiting) if not w]
    seen = 0
    while ready:
        k = ready.pop()
        seen += 1
        for u in users[k]:
            waiting[u] -= 1
            if not waiting[u]:
                ready.append(u)
    if seen < len(deps):
        k = next(k for k, w in enumerate(waiting) if w)
        raise ConfigError(src, "deps", f"cyclic dependencies: packet id {ids[k]} can never "
                          "be created")


def write_trace(path: str | Path, packets: Packets, fmt: str | None = None) -> None:
    """Write packets (with their ids and dependencies) in one of the trace formats."""
    path = Path(path)
    fmt = _format(path, fmt)
    pk = packets
    ids = pk.ids.tolist()
    deps = [[ids[d] for d in pk.deps_of(i).tolist()] for i in range(len(pk))]
    rows = zip(ids, pk.cycle.tolist(), pk.src.tolist(), pk.dst.tolist(), pk.flits.tolist(),
               deps, strict=True)
    if fmt == "csv":
        lines = ["cycle,src,dst,flits,id,deps"]
        lines += [f"{c},{s},{d},{f},{i},{';'.join(map(str, x))}" for i, c, s, d, f, x in rows]
        text = "\n".join(lines) + "\n"
    elif fmt == "jsonl":
        text = "".join(json.dumps({"cycle": c, "src": s, "dst": d, "flits": f, "id": i,
                                   "deps": x}) + "\n" for i, c, s, d, f, x in rows)
    else:
        rev: dict[int, list[int]] = {i: [] for i in ids}
        for i, x in zip(ids, deps, strict=True):
            for dep in x:
                rev[dep].append(i)
        text = json.dumps([{"id": i, "cycle": c, "src": s, "dst": d, "num_flits": f,
                            "num_deps": len(x), "rev_deps": rev[i]}
                           for i, c, s, d, f, x in rows], indent=1) + "\n"
    atomic_write(path, text)
