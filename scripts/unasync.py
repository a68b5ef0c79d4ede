"""Generate ``src/kanal/async_queue.py`` from ``src/kanal/queue.py``.

The async facade is the sync one with ``async``/``await`` added, so it is written once
and generated. ``python scripts/unasync.py --check`` fails when the two have drifted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src/kanal/queue.py"
TARGET = ROOT / "src/kanal/async_queue.py"
HEADER = "# Generated from queue.py by scripts/unasync.py: edit queue.py, then run the script.\n"

RULES: list[tuple[str, str]] = [
    (
        r'^""".*"""$',
        '"""The asyncio :class:`AsyncQueue`: every method of :class:`kanal.Queue`, as a coroutine."""',
    ),
    (r"^from kanal\.flows import .*$", "from kanal.flows import AsyncTransport, Flow, run_async"),
    (r"\bSyncTransport\b", "AsyncTransport"),
    (r"\brun_sync\b", "run_async"),
    (r"^class Queue\(", "class AsyncQueue("),
    (
        r"A blocking client for every queue on one backend\. Get one from ``kanal\.connect\(url\)``\.",
        "An asyncio client for every queue on one backend. Get one from ``kanal.connect_async(url)``.",
    ),
    (r"-> Queue:", "-> AsyncQueue:"),
    (r"def __enter__", "def __aenter__"),
    (r"def __exit__", "def __aexit__"),
    (r"^    def (?!__init__)", "    async def "),
    (r"(?<!def )\bself\._run\(", "await self._run("),
    (r"return run_async\(", "return await run_async("),
    (r"\bsync_transport\b", "async_transport"),
    (r"\bjoined_sync_transport\b", "joined_async_transport"),
    (r"self\._transport\.close\(\)", "await self._transport.close()"),
    (r"(?<!def )\bself\.close\(\)", "await self.close()"),
]


def generate() -> str:
    text = SOURCE.read_text()
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=HEADER + text,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main() -> int:
    expected = generate()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != expected:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/unasync.py")
            return 1
        return 0
    TARGET.write_text(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
