"""kanal itself: ``kanal:URL`` uses the blocking Queue, ``kanal-async:URL`` the AsyncQueue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import kanal
from benchmarks.systems import register
from benchmarks.systems.base import (
    AsyncSystem,
    Payload,
    Starved,
    SyncBridge,
    System,
    ages,
    apace,
    chunks,
    pace,
    stamp,
)
from benchmarks.systems.redis_support import redis_memory

#: How many jobs the latency consumer takes per dequeue at most (it takes what is ready).
LATENCY_BATCH = 100


@register("kanal")
def _sync(url: str) -> System:
    # The probe's client gets the URL without its query: that holds kanal's options (prefix=).
    probe = redis_memory(url.partition("?")[0]) if url.startswith(("redis://", "rediss://")) else None
    return KanalSystem(kanal.connect(url), probe)


@register("kanal-async")
def _async(url: str) -> System:
    async def connect() -> AsyncSystem:
        return KanalAsyncSystem(kanal.connect_async(url))

    return SyncBridge(connect)


class KanalSystem:
    """The workloads on a blocking :class:`kanal.Queue`.

    ``memory`` (the server's used memory, for the backlog workloads) exists when a probe is given.
    """

    def __init__(self, queue: kanal.Queue, memory: Callable[[], int] | None = None) -> None:
        self._q = queue
        self.memory = memory

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        for payload in payloads:
            self._q.enqueue(queue, payload)

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        for part in chunks(payloads, chunk):
            self._q.enqueue_many(queue, part)

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        done = 0
        while done < n:
            leases = self._q.dequeue(queue, limit=min(batch, n - done))
            if not leases:
                raise Starved(queue, done, n)
            if batch == 1:
                self._q.ack(leases[0])
            else:
                self._q.ack_many(leases)
            done += len(leases)
        return done

    def worker_step(self, queue: str, n: int) -> int:
        """A worker's loop: one dequeue, then ack each job and lease the next in one call."""
        leases = self._q.dequeue(queue)
        done = 0
        while leases:
            done += 1
            if done == n:
                self._q.ack(leases[0])
                break
            _, leases = self._q.ack_and_dequeue(leases[0])
        if done != n:
            raise Starved(queue, done, n)
        return done

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                leases = self._q.dequeue(queue, limit=LATENCY_BATCH, wait=wait)
                if not leases:
                    raise Starved(queue, len(seen), n)
                seen += ages([lease.payload for lease in leases])
                for lease in leases:
                    self._q.ack(lease)
            return seen

        with ThreadPoolExecutor(1) as pool:
            consumer = pool.submit(consume)
            for i in pace(n, rate):
                self._q.enqueue(queue, stamp(i))
            return consumer.result()

    def purge(self, queue: str) -> None:
        self._q.purge(queue)

    def close(self) -> None:
        self._q.close()


class KanalAsyncSystem:
    """The workloads on a :class:`kanal.AsyncQueue` (run through :class:`SyncBridge`)."""

    def __init__(self, queue: kanal.AsyncQueue) -> None:
        self._q = queue

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        for payload in payloads:
            await self._q.enqueue(queue, payload)

    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        for part in chunks(payloads, chunk):
            await self._q.enqueue_many(queue, part)

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        done = 0
        while done < n:
            leases = await self._q.dequeue(queue, limit=min(batch, n - done))
            if not leases:
                raise Starved(queue, done, n)
            if batch == 1:
                await self._q.ack(leases[0])
            else:
                await self._q.ack_many(leases)
            done += len(leases)
        return done

    async def worker_step(self, queue: str, n: int) -> int:
        """:meth:`KanalSystem.worker_step` on the AsyncQueue."""
        leases = await self._q.dequeue(queue)
        done = 0
        while leases:
            done += 1
            if done == n:
                await self._q.ack(leases[0])
                break
            _, leases = await self._q.ack_and_dequeue(leases[0])
        if done != n:
            raise Starved(queue, done, n)
        return done

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        seen: list[float] = []

        async def consume() -> None:
            while len(seen) < n:
                leases = await self._q.dequeue(queue, limit=LATENCY_BATCH, wait=wait)
                if not leases:
                    raise Starved(queue, len(seen), n)
                seen.extend(ages([lease.payload for lease in leases]))
                for lease in leases:
                    await self._q.ack(lease)

        async def produce() -> None:
            async for i in apace(n, rate):
                await self._q.enqueue(queue, stamp(i))

        async with asyncio.TaskGroup() as group:
            group.create_task(consume())
            group.create_task(produce())
        return seen

    async def purge(self, queue: str) -> None:
        await self._q.purge(queue)

    async def close(self) -> None:
        await self._q.close()
