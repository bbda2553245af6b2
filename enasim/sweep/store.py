"""The sweep result store: one SQLite table, one row per point, one transaction per result.

Rows are keyed by the point key, so a re-run finds what is done. The database runs in WAL mode:
a reader (a plot, a test) can query while a sweep writes, and a killed writer loses nothing it
committed. Exports to CSV (atomic write) and Parquet (needs pyarrow, the `parquet` extra).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

from enasim.errors import EnasimError
from enasim.fileio import atomic_write, check_output_dir

STORE_FILE = "results.sqlite"
# Identity of a point, before the override columns.
ID_COLUMNS = [("key", "TEXT PRIMARY KEY"), ("point", "INTEGER"), ("status", "TEXT NOT NULL"),
              ("workload", "TEXT"), ("workload_source", "TEXT"), ("repeat", "INTEGER"),
              ("seed", "INTEGER"), ("engine", "TEXT"), ("config_hash", "TEXT")]
TOTAL_COLUMNS = [("area_mm2", "REAL"), ("latency_cycles", "INTEGER"), ("latency_ns", "REAL"),
                 ("energy_uj", "REAL"), ("tops_per_w", "REAL"), ("utilization", "REAL")]
# wall_s: run time of the point; attempt: how often it was computed; finished_at: UTC, ISO 8601.
RUN_COLUMNS = [("wall_s", "REAL"), ("attempt", "INTEGER"), ("finished_at", "TEXT"),
               ("error", "TEXT")]
FIXED = [name for name, _ in ID_COLUMNS + TOTAL_COLUMNS + RUN_COLUMNS]


def _q(name: str) -> str:
    """A quoted SQL identifier (override columns contain dots)."""
    return '"' + name.replace('"', '""') + '"'


class Store:
    """The `results` table of `OUT/results.sqlite`; `create=False` requires it to exist, and
    `create=True` checks that OUT can be written (`check_output_dir`) first."""

    def __init__(self, out_dir: str | Path, create: bool = True):
        self.path = Path(out_dir) / STORE_FILE
        if not create and not self.path.is_file():
            raise EnasimError(f"{self.path}: no sweep results here (run 'enasim sweep SPEC.yaml "
                              f"-o {out_dir}' first)")
        if create:
            check_output_dir(out_dir)
        self.conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30)
            self._check_foreign()
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            cols = ID_COLUMNS + TOTAL_COLUMNS + RUN_COLUMNS
            with self.conn:
                self.conn.execute(f"CREATE TABLE IF NOT EXISTS results "
                                  f"({', '.join(f'{_q(n)} {t}' for n, t in cols)})")
        except OSError as exc:
            raise EnasimError(f"{self.path}: cannot create the result store: "
                              f"{exc.strerror}") from None
        except sqlite3.DatabaseError as exc:
            if self.conn is not None:
                self.conn.close()
            raise EnasimError(f"{self.path}: not a sweep result store ({exc})") from None

    def _check_foreign(self) -> None:
        """Refuse a database that is not an enasim store, rather than add a table to it."""
        objects = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master")}
        names = {row[1] for row in self.conn.execute("PRAGMA table_info(results)")}
        if objects and not {n for n, _ in ID_COLUMNS + TOTAL_COLUMNS} <= names:
            self.conn.close()
            raise EnasimError(f"{self.path}: not a sweep result store (an SQLite database "
                              f"without enasim's 'results' table); choose another directory")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def columns(self) -> list[str]:
        """Columns in export order: identity, overrides (as first added), totals, run data."""
        names = [row[1] for row in self.conn.execute("PRAGMA table_info(results)")]
        overrides = [n for n in names if n not in FIXED]
        return [n for n, _ in ID_COLUMNS] + overrides + [n for n, _ in TOTAL_COLUMNS + RUN_COLUMNS]

    def add_override_columns(self, names: list[str]) -> None:
        have = set(self.columns())
        with self.conn:
            for name in names:
                if name not in have:
                    self.conn.execute(f"ALTER TABLE results ADD COLUMN {_q(name)}")

    def statuses(self) -> dict[str, tuple[str, int]]:
        """key -> (status, attempt) of every stored row."""
        return {k: (s, a) for k, s, a in
                self.conn.execute("SELECT key, status, attempt FROM results")}

    def record(self, row: dict[str, Any]) -> None:
        """Insert or replace one row in its own transaction."""
        names = list(row)
        sql = (f"INSERT OR REPLACE INTO results ({', '.join(map(_q, names))}) "
               f"VALUES ({', '.join('?' * len(names))})")
        with self.conn:
            self.conn.execute(sql, [row[n] for n in names])

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """Rows in grid order (point index, then key), optionally only one status."""
        cols = self.columns()
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        cur = self.conn.execute(f"SELECT {', '.join(map(_q, cols))} FROM results {where} "
                                "ORDER BY point, key", args)
        return [dict(zip(cols, r, strict=True)) for r in cur]

    def export_csv(self, path: str | Path) -> Path:
        cols = self.columns()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for row in self.rows():
            w.writerow(["" if row[c] is None else row[c] for c in cols])
        atomic_write(path, buf.getvalue())
        return Path(path)

    def export_parquet(self, path: str | Path) -> Path:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise EnasimError(f"{path}: Parquet export needs pyarrow: pip install "
                              "'enasim[parquet]'") from None
        rows = self.rows()
        table = pa.table({c: pa.array(_uniform([r[c] for r in rows])) for c in self.columns()})
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        atomic_write(path, buf.getvalue().to_pybytes())
        return Path(path)


def _uniform(values: list[Any]) -> list[Any]:
    """A column Parquet can type: an override axis mixing strings and numbers becomes text."""
    kinds = {type(v) for v in values if v is not None}
    if str in kinds and len(kinds) > 1:
        return [None if v is None else str(v) for v in values]
    return values
