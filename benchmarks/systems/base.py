"""What a benchmarked system implements, and helpers for writing one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: A job's payload: JSON-compatible, small and of fixed shape.
Payload = dict[str, Any]


class Starved(RuntimeError):
    """A system returned no job where one was due: the benchmark would measure nothing."""

    def __init__(self, queue: str, done: int, wanted: int) -> None:
        super().__init__(f"queue {queue!r} ran dry after {done} of {wanted} jobs")


class System(Protocol):
    """A queue library (or raw client) bound to one backend, able to run every workload.

    The harness times each call from outside, so a method does the work and nothing else.
    Queue names are fresh for every call sequence; :meth:`purge` runs after each one.
    """

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        """Enqueue ``payloads`` with one call per job."""

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        """Enqueue ``payloads`` with one bulk call per ``chunk`` jobs."""

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        """Dequeue (up to ``batch`` per call, not waiting) and ack ``n`` ready jobs; return how many."""

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        """Produce ``n`` :func:`stamp` jobs at ``rate`` per second while one consumer takes them.

        The consumer blocks in dequeue for up to ``wait`` seconds and acks every job; return
        each job's age (seconds since :func:`stamp`) at the moment its dequeue returned.
        """

    def purge(self, queue: str) -> None:
        """Delete everything the workload left in ``queue``."""

    # Optional, for the workloads that need them (``harness.Workload.needs``):
    # ``worker_step(queue, n) -> int``: take N ready jobs one at a time, each ack also
    # fetching the next job in the same call where the system can; ``memory() -> int``: the
    # bytes the backend's server uses now.

    def close(self) -> None:
        """Release connections; the system is not used again."""


#: Builds a system from the part of ``NAME:TARGET`` after the first colon (usually a URL).
SystemFactory = Callable[[str], System]


class AsyncSystem(Protocol):
    """:class:`System` with coroutine methods; wrap one in :class:`SyncBridge`."""

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None: ...
    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None: ...
    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int: ...
    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]: ...
    async def purge(self, queue: str) -> None: ...
    async def close(self) -> None: ...


class SyncBridge:
    """Runs an :class:`AsyncSystem` on one event loop that lives as long as the system.

    One loop for every call keeps loop-bound connections (pools, sockets) valid; the cost
    of entering the loop once per workload is negligible next to the work timed.
    """

    def __init__(self, connect: Callable[[], Coroutine[Any, Any, AsyncSystem]]) -> None:
        self._runner = asyncio.Runner()
        self._system = self._runner.run(connect())
        #: The optional worker step, where the wrapped system has one (see harness.Workload.needs).
        self.worker_step: Callable[[str, int], int] | None = None
        step = getattr(self._system, "worker_step", None)
        if step is not None:
            self.worker_step = lambda queue, n: self._runner.run(step(queue, n))

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        self._runner.run(self._system.enqueue_each(queue, payloads))

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        self._runner.run(self._system.enqueue_bulk(queue, payloads, chunk))

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        return self._runner.run(self._system.dequeue_ack(queue, n, batch))

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        return self._runner.run(self._system.latency(queue, n, rate, wait))

    def purge(self, queue: str) -> None:
        self._runner.run(self._system.purge(queue))

    def close(self) -> None:
        try:
            self._runner.run(self._system.close())
        finally:
            self._runner.close()


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stamp(i: int) -> Payload:
    """Job ``i`` of the latency workload, carrying its send time."""
    return {"n": i, "sent": time.perf_counter()}


def ages(payloads: Sequence[Payload]) -> list[float]:
    """Seconds since each :func:`stamp` payload was made, all measured now."""
    now = time.perf_counter()
    return [now - payload["sent"] for payload in payloads]


def pace(n: int, rate: float) -> Iterator[int]:
    """Yield ``0..n-1`` on a steady schedule of ``rate`` per second (catching up if late)."""
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


async def apace(n: int, rate: float) -> AsyncIterator[int]:
    """:func:`pace` for asyncio: sleeps without blocking the loop."""
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i
