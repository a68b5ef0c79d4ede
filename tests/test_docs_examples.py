"""Every runnable Python example in ``docs/**/*.md`` and ``README.md`` runs as-is.

Convention, one rule for all documentation:

- A fence whose language is ``python`` (```` ```python ````, or with options such as
  ```` ```python title="app.py" ````) is *runnable*: it is executed on its own, in a fresh
  namespace, and the test fails if it raises. Each block is self-contained (imports included)
  and uses ``memory://`` (with ``FakeClock`` where time matters).
- A fence written ```` ```{.python .no-run} ```` is highlighted as Python but never executed:
  use it for URLs of other backends, code that needs a server, or fragments.
- Any other Python-looking fence (```` ```py ````, ```` ```python3 ````, ```` ```{.python} ````,
  ...) is reported as a failure, so that an example is never skipped by accident.

Each case is named ``file:line`` after the line of its opening fence; tracebacks point at
the Markdown file and line too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "docs").rglob("*.md")) + [p for p in [ROOT / "README.md"] if p.is_file()]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
RUNNABLE = re.compile(r"python(?:[ \t]+.*)?")
NO_RUN = re.compile(r"\{[ \t]*\.python[ \t]+\.no-run(?:[ \t]+[^}]*)?\}")
PYTHON_LIKE = re.compile(r"\{?[ \t]*\.?(?:py|python|python3|pycon|py3)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """One fenced code block that the test runs, or a convention problem to report."""

    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def fenced_blocks(path: Path) -> Iterator[Block]:
    """Runnable blocks of ``path`` (and blocks that break the convention, as problems)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        start, indent, fence = index, opening["indent"], opening["fence"]
        body: list[str] = []
        closed = False
        while index < len(lines):
            line = lines[index]
            index += 1
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                closed = True
                break
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
        info = opening["info"]
        if RUNNABLE.fullmatch(info):
            problem = None if closed else "the code block is never closed"
            yield Block(path, start, "\n".join(body) + "\n", problem)
        elif not NO_RUN.fullmatch(info) and PYTHON_LIKE.match(info):
            yield Block(
                path,
                start,
                "",
                f"fence {info!r}: write ```python (runnable) or ```{{.python .no-run}} (not run)",
            )


BLOCKS = [block for source in SOURCES for block in fenced_blocks(source)]


def test_the_docs_have_runnable_examples() -> None:
    assert len(BLOCKS) >= 20, f"only {len(BLOCKS)} runnable examples found under {ROOT / 'docs'}"


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_example_runs(block: Block) -> None:
    if block.problem is not None:
        pytest.fail(f"{block.name}: {block.problem}")
    # Leading newlines make line numbers in tracebacks match the Markdown file.
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    exec(code, {"__name__": "__docs_example__"})
