"""Torrelque (``torrelque:URL``): asyncio reliable queue, ``enqueue`` / ``dequeue`` / ``release``.

Enqueue is one MULTI (LPUSH of the id, HSET of the task and its state hash); the bulk form passes
one MULTI pipeline per chunk to ``enqueue(..., pipeline=p)``, as its documentation shows.
Dequeue is RPOPLPUSH (or BRPOPLPUSH to wait) plus a Lua script that moves the ids to the working
set; ``dequeue(max_tasks=batch)`` first tries a MULTI of ``batch`` RPOPLPUSHes. ``release`` (no
result: the task's state is deleted) is one MULTI. Torrelque waits in whole seconds only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, Starved, SyncBridge, System, ages, chunks
from benchmarks.systems.redis_support import READY_TIMEOUT, adelete_matching, async_client, latency_tasks

if TYPE_CHECKING:
    import redis.asyncio


@register("torrelque")
def _torrelque(url: str) -> System:
    import torrelque  # type: ignore[import-untyped, import-not-found, unused-ignore]

    async def connect() -> AsyncSystem:
        return TorrelqueSystem(torrelque, async_client(url))

    return SyncBridge(connect)


class TorrelqueSystem:
    """The workloads on ``Torrelque(client, queue=name)`` objects sharing one client (JSON tasks)."""

    def __init__(self, module: Any, client: redis.asyncio.Redis) -> None:
        self._torrelque = module
        self._r = client
        self._queues: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = self._torrelque.Torrelque(self._r, queue=name)
        return queue

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        q = self._get(queue)
        for payload in payloads:
            await q.enqueue(payload)

    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        q = self._get(queue)
        for part in chunks(payloads, chunk):
            async with self._r.pipeline(transaction=True) as pipe:
                for payload in part:
                    await q.enqueue(payload, pipeline=pipe)
                await pipe.execute()

    async def _take(self, q: Any, timeout: float, batch: int) -> list[tuple[str, Payload]]:
        """Up to ``batch`` (id, task) pairs, or [] when nothing came within ``timeout`` (whole seconds)."""
        try:
            taken = await q.dequeue(max(math.ceil(timeout), 1), max_tasks=batch)
        except self._torrelque.TorrelqueTimeoutError:
            return []
        return taken if batch > 1 else [taken]

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        q, done = self._get(queue), 0
        while done < n:
            # with one task, Torrelque goes straight to BRPOPLPUSH: the jobs are ready, so it returns
            tasks = await self._take(q, READY_TIMEOUT, min(batch, n - done))
            if not tasks:
                raise Starved(queue, done, n)
            for task_id, _ in tasks:
                await q.release(task_id)
            done += len(tasks)
        return done

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        q = self._get(queue)

        async def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                tasks = await self._take(q, wait, 1)
                if not tasks:
                    raise Starved(queue, len(seen), n)
                seen += ages([task for _, task in tasks])
                for task_id, _ in tasks:
                    await q.release(task_id)
            return seen

        return await latency_tasks(n, rate, q.enqueue, consume)

    async def purge(self, queue: str) -> None:
        self._queues.pop(queue, None)
        await adelete_matching(self._r, f"{queue}:*")

    async def close(self) -> None:
        for queue in list(self._queues):
            await self.purge(queue)
        await self._r.aclose()
