"""Test-side helpers: run an AsyncQueue from synchronous test code, move time, name things."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from typing import Any

from kanal import AsyncQueue


class SyncOverAsync:
    """Drives an :class:`~kanal.AsyncQueue` from synchronous tests, one coroutine at a time.

    Test harness only: the suite runs every test through both ``Queue`` and ``AsyncQueue``
    (and so through the backend's async transport) with one test body.
    """

    def __init__(self, queue: AsyncQueue) -> None:
        self._queue = queue
        self._runner = asyncio.Runner()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._queue, name)
        if inspect.iscoroutinefunction(attr):

            def call(*args: Any, **kwargs: Any) -> Any:
                return self._runner.run(attr(*args, **kwargs))

            return call
        return attr

    def close(self) -> None:
        try:
            self._runner.run(self._queue.close())
        finally:
            self._runner.close()

    def __repr__(self) -> str:
        return f"<SyncOverAsync {self._queue!r}>"


def unique_name(prefix: str = "t") -> str:
    """A queue name no other test uses, so tests never see each other's jobs."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"
