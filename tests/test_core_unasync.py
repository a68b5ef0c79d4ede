"""The generated AsyncQueue is up to date with Queue, and the check notices drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["scripts/unasync.py", "src/kanal/queue.py", "src/kanal/async_queue.py", "pyproject.toml"]


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/unasync.py", "--check"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_async_queue_is_generated_from_queue() -> None:
    result = check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_the_check_fails_when_async_queue_drifts(tmp_path: Path) -> None:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    assert check(tmp_path).returncode == 0
    target = tmp_path / "src/kanal/async_queue.py"
    target.write_text(target.read_text().replace("async def ack(", "def ack(", 1))
    result = check(tmp_path)
    assert result.returncode == 1
    assert "src/kanal/async_queue.py is out of date" in result.stdout
