"""Reading text inputs (YAML, JSON, CSV) with precise errors, and writing outputs atomically.

Every input file goes through `read_text`: UTF-8 only, and at most a size no real input reaches,
so a wrong or hostile file fails at once instead of after minutes and gigabytes. The YAML and
JSON parsers refuse what no enasim input needs and what makes parsing explode: YAML aliases
(billion laughs), nesting deeper than `MAX_DEPTH`, duplicate keys (silently last-wins
otherwise) and, in JSON, NaN, Infinity and numbers beyond the float range.

Outputs: `check_output_dir` / `check_output_file` refuse a path that cannot be written before
any work; `atomic_write` replaces one file (temp file + rename); `result_set` replaces a whole
directory of result files in one step, so a reader never sees a mix of two runs. Temp files and
directories carry the writer's pid, and the next write to the same place removes those of
processes that are gone (a killed run).
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from enasim.errors import ConfigError

MB = 1 << 20
CONFIG_LIMIT = 1 * MB     # hwconfigs, workloads, sweep specs, models.json: a few kB in practice
TABLE_LIMIT = 16 * MB     # CSV tables of (architecture, accuracy) rows
TRACE_LIMIT = 256 * MB    # NoC traces: millions of packets
MAX_DEPTH = 64            # nesting of YAML/JSON collections; enasim's inputs use at most 4


def read_bytes(path: str | Path, limit: int, too_large: str) -> bytes:
    """The bytes of a file of at most `limit` bytes; a missing or unreadable file, or a larger
    one (`too_large` says why that is the limit), raises ConfigError naming it."""
    src = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(src, "", f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConfigError(src, "", f"larger than {too_large}")
    return data


def read_text(path: str | Path, limit: int = CONFIG_LIMIT, kind: str = "input file") -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped) of at most `limit` bytes;
    a missing, unreadable, larger or non-UTF-8 file raises ConfigError naming it."""
    src = str(path)
    data = read_bytes(path, limit, f"{limit // MB} MB, the limit for a {kind} (no real one "
                      f"comes close)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(src, "", f"not UTF-8 text (byte {exc.start}, line {line}: "
                          f"0x{data[exc.start]:02x})") from None
    return text.removeprefix("\ufeff")


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e6` and `2E-3` as floats (YAML 1.2), as users write them,
    and refuses aliases, nesting deeper than MAX_DEPTH and duplicate keys."""

    source, field, depth = "", "", 0

    def _fail(self, mark, message: str):
        raise ConfigError(self.source, self.field, f"malformed YAML at line {mark.line + 1}, "
                          f"column {mark.column + 1}: {message}")

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._fail(event.start_mark, f"alias *{event.anchor}: aliases are not supported "
                       "(write the value out)")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self._fail(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if (type(key), key) in seen:
                        self._fail(key_node.start_mark, f"duplicate key {key!r} (first at line "
                                   f"{seen[(type(key), key)]})")
                    seen[(type(key), key)] = key_node.start_mark.line + 1
                except TypeError:
                    continue  # an unhashable key: the constructor reports it
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: str | Path, kind: str = "input file") -> Any:
    """Parse a YAML file (see `read_text`); a malformed file raises ConfigError naming the
    line."""
    return parse_yaml_text(read_text(path, CONFIG_LIMIT, kind), str(path))


def parse_yaml_text(text: str, source: str, field: str = "") -> Any:
    """Parse YAML text (a file's, or a command-line value); errors name `source` and `field`."""
    loader = None
    try:
        loader = _Loader(text)  # reads the text: a NUL byte fails here
        loader.source, loader.field = source, field
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, field, f"malformed YAML{where}: {problem}") from None
    except ValueError as exc:  # a date such as 2024-13-01, an integer of 5000 digits
        raise ConfigError(source, field, f"malformed YAML: {str(exc).split(';')[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()


class _JsonProblem(ValueError):
    """Raised by the JSON decoder's hooks; `find_json_problem` then says where."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) < len(pairs):
        raise _JsonProblem("duplicate key")
    return out


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonProblem("number out of range")
    return value


def _constant(text: str) -> float:
    raise _JsonProblem(text)


JSON_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_float=_finite,
                                parse_constant=_constant)
_JSON_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[][{}:]|-?Infinity|NaN'
                         r"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def find_json_problem(text: str, start: int = 0) -> tuple[int, str] | None:
    """(offset, message) of the first duplicate key, NaN, Infinity, out-of-range number or
    nesting deeper than MAX_DEPTH in the JSON value at `start`, or None."""
    stack: list[set[str] | None] = []
    prev = ""
    for m in _JSON_TOKEN.finditer(text, start):
        tok = m.group()
        if tok in ("{", "["):
            stack.append(set() if tok == "{" else None)
            if len(stack) > MAX_DEPTH:
                return m.start(), f"nested deeper than {MAX_DEPTH} levels"
        elif tok in ("}", "]"):
            if stack:
                stack.pop()
            if not stack:
                return None
        elif tok == ":":
            if prev.startswith('"') and stack and stack[-1] is not None:
                key = json.loads(prev)
                if key in stack[-1]:
                    return m.start() - len(prev), f"duplicate key {key!r}"
                stack[-1].add(key)
        elif tok in ("NaN", "Infinity", "-Infinity"):
            return m.start(), f"{tok}: expected a finite number"
        elif not tok.startswith('"') and not math.isfinite(float(tok)):
            return m.start(), f"number {tok[:20]}{'...' if len(tok) > 20 else ''} out of range"
        prev = tok
    return None


def decode_json(text: str, source: str, start: int = 0, first_line: int = 1) -> tuple[Any, int]:
    """The JSON value at offset `start` of `text` and the offset after it, decoded strictly
    (see the module docstring); a problem raises ConfigError naming its line (`text` starting
    on line `first_line` of the file) and column."""
    try:
        return JSON_DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        json_error(text, source, exc.pos, exc.msg, first_line)
    except (RecursionError, ValueError) as exc:  # _JsonProblem, or a 5000-digit integer
        pos, message = find_json_problem(text, start) or (start, str(exc))
        json_error(text, source, pos, message, first_line)


def json_error(text: str, source: str, pos: int, message: str, first_line: int = 1):
    """Raise ConfigError for the problem at offset `pos` of JSON `text`: field 'line N'."""
    line = text.count("\n", 0, pos) + first_line
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    raise ConfigError(source, f"line {line}", f"malformed JSON at column {column}: {message}")


def parse_json_text(text: str, source: str) -> Any:
    """A whole JSON document, decoded strictly (see `decode_json`)."""
    start = len(text) - len(text.lstrip())
    if text.count("[") + text.count("{") > MAX_DEPTH:  # else it cannot nest too deeply
        problem = find_json_problem(text, start)
        if problem and problem[1].startswith("nested"):
            json_error(text, source, *problem)
    value, end = decode_json(text, source, start)
    if text[end:].strip():
        json_error(text, source, len(text) - len(text[end:].lstrip()), "extra data after the "
                   "JSON value")
    return value


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: setting it later would race with other threads


def _writable_ancestor(path: Path, source: Path, flag: str) -> None:
    """The nearest existing ancestor of `path` must be a directory we can create files in."""
    anc = path
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise ConfigError(str(source), flag, f"expected a path that can be created, but {anc} "
                          "is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".enasim-probe.", dir=anc)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(str(source), flag, f"expected a writable location, but {anc}: "
                          f"{exc.strerror or exc}") from None


def check_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """Refuse, before any work, an output directory that is a file or cannot be created or
    written (nor its parent, where `result_set` stages the new files)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(str(path), flag, "expected a directory, but it is a file")
    _writable_ancestor(path.parent, path, flag)
    if path.is_dir():
        _writable_ancestor(path, path, flag)
    return path


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """Refuse, before any work, an output file that is a directory or cannot be created."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(str(path), flag, "expected a file, but it is a directory")
    _writable_ancestor(path.parent, path, flag)
    return path


@contextmanager
def writing(path: str | Path, flag: str = "") -> Iterator[None]:
    """Turn an OSError while writing outputs into a ConfigError naming the path."""
    try:
        yield
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) != str(path) else ""
        raise ConfigError(str(path), flag,
                          f"cannot write: {where}{exc.strerror or exc}") from None


def _temp_prefix(name: str, tag: str = "") -> str:
    return f".{name}.{tag}{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


def _stale(directory: Path, name: str) -> list[Path]:
    """Temp files and directories for `name` in `directory` whose writer is gone: a killed run's
    `.NAME.[new|old]PID.XXXXXXXX` (tempfile's 8-character suffix) or `.NAME.oldPID.aside`;
    nothing else, so that a user's `.NAME.backup` or editor swap file is never touched."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(new|old)?(\d+)\.(?:aside|[a-z0-9_]{{8}})")
    found = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        m = pattern.fullmatch(entry.name)
        if m and not _alive(int(m.group(2))):
            found.append(entry)
    return found


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one; an
    OSError becomes a ConfigError naming the path."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in _stale(path.parent, path.name):
            _remove(old)
        mode = "wb" if isinstance(data, bytes) else "w"
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would create it, not mkstemp's 0600
            with os.fdopen(fd, mode) as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextmanager
def result_set(out: str | Path, names: Iterable[str], keep: Iterable[str] = (),
               flag: str = "--out") -> Iterator[Path]:
    """Yield an empty staging directory beside `out`; when the block ends without error, put
    it in place of `out` in one step, so readers see the previous set of files or the whole
    new one, never a mix (a killed run leaves `out` as it was).

    `names` are the set's file names (fnmatch patterns); `keep` names stores that outlive a
    run (a checkpoint, a study database): they are hard-linked into the new set. A directory
    holding anything else is refused rather than replaced. Leftovers of killed runs beside
    `out` are removed first."""
    names, keep = tuple(names), tuple(keep)
    out = check_result_dir(out, names + keep, flag)
    with writing(out, flag):
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=_temp_prefix(out.name, "new"), dir=out.parent))
    try:
        yield stage
        with writing(out, flag):
            for entry in out.iterdir() if out.is_dir() else ():
                if any(fnmatch.fnmatchcase(entry.name, k) for k in keep):
                    _link(entry, stage / entry.name)
            os.chmod(stage, 0o777 & ~_UMASK)  # as mkdir would create it, not mkdtemp's 0700
            _swap(stage, out)
    finally:
        _remove(stage)


def check_result_dir(out: str | Path, names: Iterable[str], flag: str = "--out") -> Path:
    """`check_output_dir`, after removing what killed runs left, and refuse a directory that
    holds files other than `names` (fnmatch patterns): commands call it before any work, with
    the names they give `result_set`."""
    out = Path(out)
    if out.is_symlink():  # the set replaces the link's target, beside the target
        out = Path(os.path.realpath(out))
    out = check_output_dir(out, flag)
    if os.path.ismount(out):
        raise ConfigError(str(out), flag, "expected a directory that can be replaced, but it is "
                          "a mount point; give a directory inside it")
    with writing(out, flag):
        _recover(out)
    _check_ours(out, tuple(names), flag)
    return out


def _recover(out: Path) -> None:
    """Remove what killed runs left beside `out`; if one was killed between the two renames of
    `_swap`'s fallback, `out` is missing: put its previous set back first."""
    stale = _stale(out.parent, out.name)
    if not out.exists():
        aside = [p for p in stale if p.name.startswith(f".{out.name}.old")]
        if aside:
            os.rename(aside[0], out)
            stale.remove(aside[0])
    for path in stale:
        _remove(path)


def _check_ours(out: Path, patterns: tuple[str, ...], flag: str) -> None:
    """Refuse to replace a directory holding files that are not this command's results."""
    if not out.is_dir():
        return
    other = sorted(e.name for e in out.iterdir()
                   if not any(fnmatch.fnmatchcase(e.name, p) or
                              fnmatch.fnmatchcase(e.name, f".{p}.*") for p in patterns))
    if other:
        shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        raise ConfigError(str(out), flag, f"expected a new directory or one holding this "
                          f"command's results (which it replaces), but it holds other files "
                          f"({shown}); choose another directory")


def _link(src: Path, dst: Path) -> None:
    """Hard-link a file, or a directory tree file by file (a store is not copied)."""
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=os.link)
    else:
        os.link(src, dst)


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap(stage: Path, out: Path) -> None:
    """Put `stage` in place of `out`. Atomic with an exchange; otherwise `out` is renamed aside
    first, and is missing (never mixed) until the second rename, `_recover` undoing a kill in
    between. The previous set ends up in `stage`, which the caller removes."""
    if not out.exists():
        os.rename(stage, out)
    elif not _exchange(stage, out):
        aside = out.parent / (_temp_prefix(out.name, "old") + "aside")
        os.rename(out, aside)
        os.rename(stage, out)
        os.rename(aside, stage)
