"""The documentation runs: every ```bash line and every ```python block of README.md and docs/.

Each command line (`\\` continuations joined, a heredoc kept with its line) runs in a subprocess
with `enasim` replaced by `python -m enasim.cli` and `python` by this interpreter, in a temporary
directory per document (commands of one document run in order and may use each other's files)
where `hwconfigs`, `workloads`, `sweeps` and `benchmarks` link to the repository's. A heredoc
that only writes a file is rerun before each later command of its document, so a `# slow`
command may use it when the fast ones are deselected. Lines of
`pip install ...` (CI runs those itself) and comment-only lines are skipped. Trailing comments
drive the run: `# slow` runs the line only under `pytest -m slow`, `# needs: optuna` (or
`dask,pyarrow`) skips it when a module is missing. In a ```python block the same comments may
stand on any line. Blocks that are not runnable use ```text, ```yaml or ```console.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
LINKED_DIRS = ("hwconfigs", "workloads", "sweeps", "benchmarks")
README_MAX_BYTES = 15360
SETUP_BLOCK = (
    "```bash\n"
    "pip install -e . && enasim run            # installs, then runs VGG8 on the bundled FLASH "
    "IMC chip\n"
    'pip install -e ".[test]" && pytest        # installs the test extra and runs the test suite\n'
    "```\n"
)

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
SLOW = re.compile(r"#.*\bslow\b")
NEEDS = re.compile(r"#.*\bneeds:\s*([\w.]+(?:\s*,\s*[\w.]+)*)")
ENASIM = re.compile(r"(?<![\w./-])enasim(?=\s|$)")
PYTHON = re.compile(r"(?<![\w./-])python3?(?=\s)")


@dataclass(frozen=True)
class Snippet:
    doc: Path
    line: int  # 1-based line of the command (or of the python block's first line)
    kind: str  # "bash" | "python"
    code: str
    slow: bool
    needs: tuple[str, ...]
    setup: bool = False  # a heredoc writing a file: rerun before later commands that need it

    @property
    def id(self) -> str:
        head = self.code.splitlines()[0] if self.kind == "bash" else "python"
        return f"{self.doc.name}:{self.line}:{head[:50]}"


def _needs(text: str) -> tuple[str, ...]:
    m = NEEDS.search(text)
    return tuple(n.strip() for n in m.group(1).split(",")) if m else ()


def _bash_commands(doc: Path, first_line: int, code: str) -> list[Snippet]:
    lines = code.splitlines()
    out, i = [], 0
    while i < len(lines):
        start, line = i, lines[i]
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1].rstrip() + " " + lines[i].strip()
            i += 1
        head = line
        heredoc = HEREDOC.search(line)
        if heredoc:
            body = []
            while i < len(lines):
                body.append(lines[i])
                i += 1
                if lines[i - 1].strip() == heredoc.group(1):
                    break
            line = "\n".join([line, *body])
        stripped = head.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("pip install"):
            continue
        setup = bool(heredoc) and not ENASIM.search(head)
        out.append(Snippet(doc, first_line + start, "bash", line, bool(SLOW.search(head)),
                           _needs(head), setup))
    return out


def snippets() -> list[Snippet]:
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for m in FENCE.finditer(text):
            lang, code = m.group(1), m.group(2)
            first = text.count("\n", 0, m.start(2)) + 1
            if lang == "bash":
                out.extend(_bash_commands(doc, first, code))
            elif lang == "python":
                comments = "\n".join(x for x in code.splitlines() if x.strip().startswith("#"))
                out.append(Snippet(doc, first, "python", code,
                                   bool(re.search(r"^\s*#\s*slow\s*$", code, re.M)),
                                   _needs(comments)))
    return out


SNIPPETS = snippets()


def _param(s: Snippet):
    return pytest.param(s, id=s.id, marks=[pytest.mark.slow] if s.slow else [])


@pytest.fixture(scope="session")
def doc_dirs(tmp_path_factory):
    dirs: dict[Path, Path] = {}

    def get(doc: Path) -> Path:
        if doc not in dirs:
            d = tmp_path_factory.mktemp(f"doc-{doc.stem}")
            for name in LINKED_DIRS:
                (d / name).symlink_to(REPO / name, target_is_directory=True)
            dirs[doc] = d
        return dirs[doc]

    return get


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    return env


def _run_bash(code: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    exe = f'"{sys.executable}"'
    cmd = ENASIM.sub(f"{exe} -m enasim.cli", PYTHON.sub(exe, code))
    return subprocess.run(cmd, shell=True, executable="/bin/bash", cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("snippet", [_param(s) for s in SNIPPETS])
def test_doc_snippet_runs(snippet: Snippet, doc_dirs):
    missing = [m for m in snippet.needs if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (not installed)")
    cwd = doc_dirs(snippet.doc)
    timeout = 3600 if snippet.slow else 300
    # files written by earlier heredocs of the document (deselected when only `-m slow` runs)
    for s in SNIPPETS:
        if s.doc == snippet.doc and s.setup and s.line < snippet.line and s is not snippet:
            _run_bash(s.code, cwd, 60).check_returncode()
    if snippet.kind == "bash":
        proc = _run_bash(snippet.code, cwd, timeout)
    else:
        proc = subprocess.run([sys.executable, "-c", snippet.code], cwd=cwd, env=_env(),
                              capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{snippet.doc.name}:{snippet.line}: exit {proc.returncode}\n{snippet.code}\n"
        f"--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-3000:]}")


def test_docs_have_snippets():
    assert {s.doc for s in SNIPPETS} >= {README}
    assert any(s.kind == "python" for s in SNIPPETS if s.doc == README)


def test_readme_size():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes, limit {README_MAX_BYTES}"


def test_readme_setup_block_unchanged():
    assert SETUP_BLOCK in README.read_text(), "the set-up block (parsed by CI) changed"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_relative_links_exist(doc: Path):
    text = FENCE.sub("", doc.read_text())
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (doc.parent / path).exists():
            broken.append(target)
    assert not broken, f"{doc.name}: broken relative links {broken}"


def _field_range(meta: dict, typ: str) -> str:
    if meta["choices"]:
        return " \\| ".join(f"`{c}`" for c in meta["choices"])
    if "bool" in typ:
        return "`true` \\| `false`"
    if typ == "str":
        return "text"
    parts = []
    if meta["min"] is not None:
        parts.append(f"{'>' if meta['strict'] else '>='} {meta['min']:g}")
    if meta["max"] is not None:
        parts.append(f"<= {meta['max']:g}")
    extra = (["`auto`"] if meta["auto"] else []) + (["`derived`"] if meta.get("derived") else [])
    return ", ".join(parts + extra) or "any number"


def hwconfig_field_tables() -> str:
    """docs/hwconfig.md's "Fields" section, from the schema's help strings and flash_imc."""
    import dataclasses
    import typing

    from enasim.config import HardwareConfig, load

    flash = load("flash_imc")
    out = []

    def section(cls, path: str, values) -> None:
        hints = typing.get_type_hints(cls)
        rows, subs = [], []
        for f in dataclasses.fields(cls):
            value = getattr(values, f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                subs.append((hints[f.name], f"{path}.{f.name}" if path else f.name, value))
                continue
            shown = f"`{value:g}`" if isinstance(value, float) else f"`{value}`"
            kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
            rows.append(f"| `{f.name}` | {shown} | {_field_range(f.metadata, kind)} | "
                        f"{f.metadata['help']} |")
        if rows:
            doc = f"\n{cls.__doc__.strip()}\n" if path else ""
            out.append(f"### {f'`{path}`' if path else 'top level'}\n{doc}\n"
                       "| field | flash_imc | range | meaning |\n|---|---|---|---|\n"
                       + "\n".join(rows) + "\n")
        for sub in subs:
            section(*sub)

    section(HardwareConfig, "", flash)
    return "\n".join(out)


def test_hwconfig_field_tables_match_the_schema(tmp_path):
    """The field reference is the schema's: regenerate it when a field changes."""
    text = (REPO / "docs" / "hwconfig.md").read_text()
    start = text.index("### top level")
    want = hwconfig_field_tables()
    if text[start:] != want:
        (tmp_path / "fields.md").write_text(want)
        pytest.fail(f"docs/hwconfig.md's field tables differ from the schema; the current "
                    f"ones are in {tmp_path / 'fields.md'}: paste them from '### top level' on")
