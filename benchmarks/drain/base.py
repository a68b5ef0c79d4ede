"""What a drain system implements, the probe its no-op job calls, and helpers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Protocol

#: (started, ended): ``time.perf_counter()`` just before the worker was started and when it had
#: finished the N jobs (it returned, or its last completion was seen).
Window = tuple[float, float]


class Probe:
    """What every system's no-op job calls: counts the calls and keeps the first and last time.

    Thread-safe (sync tasks run in worker threads); the lock is uncontended but for threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def reset(self) -> None:
        with self._lock:
            self.count, self.first, self.last = 0, 0.0, 0.0

    def hit(self) -> None:
        now = time.perf_counter()
        with self._lock:
            self.count += 1
            if self.count == 1:
                self.first = now
            self.last = now


#: The one probe: runs are sequential, so every system's job function calls this one.
PROBE = Probe()


class Drain(Protocol):
    """A queue library's worker on one backend, able to drain a queue of ready no-op jobs.

    The runner fills a fresh queue, then times :meth:`drain`, then purges the queue. The job
    function calls :data:`PROBE`'s ``hit()`` and nothing else; its argument is one small int.
    """

    #: Whether the worker has a concurrency setting. Without one it runs once per round, as it is.
    knob: bool

    def fill(self, queue: str, n: int) -> None:
        """Enqueue ``n`` no-op jobs (not timed)."""

    def drain(self, queue: str, n: int, concurrency: int) -> Window:
        """Run the library's worker on ``queue`` until its ``n`` jobs are done; when it started and ended."""

    def purge(self, queue: str) -> None:
        """Delete everything the run left (jobs, results, worker records)."""

    def close(self) -> None:
        """Release connections; the system is not used again."""


class AsyncDrain(Protocol):
    """:class:`Drain` with coroutine methods; wrap one in :class:`Bridge`."""

    knob: bool

    async def fill(self, queue: str, n: int) -> None: ...
    async def drain(self, queue: str, n: int, concurrency: int) -> Window: ...
    async def purge(self, queue: str) -> None: ...
    async def close(self) -> None: ...


class Bridge:
    """Runs an :class:`AsyncDrain` on one event loop that lives as long as the system (its
    connections and pools stay valid from run to run)."""

    def __init__(self, connect: Callable[[], Coroutine[Any, Any, AsyncDrain]]) -> None:
        self._runner = asyncio.Runner()
        self._system = self._runner.run(connect())
        self.knob = self._system.knob

    def fill(self, queue: str, n: int) -> None:
        self._runner.run(self._system.fill(queue, n))

    def drain(self, queue: str, n: int, concurrency: int) -> Window:
        return self._runner.run(self._system.drain(queue, n, concurrency))

    def purge(self, queue: str) -> None:
        self._runner.run(self._system.purge(queue))

    def close(self) -> None:
        try:
            self._runner.run(self._system.close())
        finally:
            self._runner.close()


async def each_concurrently(n: int, call: Callable[[int], Awaitable[object]], width: int = 50) -> None:
    """Await ``call(i)`` for ``i`` in ``0..n-1``, ``width`` at a time (fills a queue faster than
    one by one, for libraries without a bulk enqueue; never timed)."""
    for start in range(0, n, width):
        await asyncio.gather(*(call(i) for i in range(start, min(start + width, n))))


@contextlib.contextmanager
def kept_signals() -> Iterator[None]:
    """Restore the SIGINT/SIGTERM/SIGHUP handlers a library's worker installs for itself."""
    signums = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    saved = {signum: signal.getsignal(signum) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
