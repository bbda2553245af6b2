"""Reading YAML inputs with precise errors, and writing outputs atomically.

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


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e6` and `2E-3` as floats (YAML 1.2), as users write them."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing or malformed file raises ConfigError naming the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read file: {exc.strerror}") from None
    return parse_yaml_text(text, str(path))


def parse_yaml_text(text: str, source: str, field: str = "") -> Any:
    """Parse YAML text (a file's, or a command-line value); errors name `source` and `field`."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, field, f"malformed YAML{where}: {problem}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    (`.NAME.[new|old]PID.*`, or `.NAME.*` of enasim versions without the pid)."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(new|old)?(?:(\d+)\.)?[^.]*")
    found = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        m = pattern.fullmatch(entry.name)
        if m and not (m.group(2) and _alive(int(m.group(2)))):
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
            os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
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
            os.chmod(stage, 0o777 & ~_umask())  # as mkdir would create it, not mkdtemp's 0700
            _swap(stage, out)
    finally:
        _remove(stage)


def check_result_dir(out: str | Path, names: Iterable[str], flag: str = "--out") -> Path:
    """`check_output_dir`, after removing what killed runs left, and refuse a directory that
    holds files other than `names` (fnmatch patterns): commands call it before any work, with
    the names they give `result_set`."""
    out = check_output_dir(out, flag)
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
