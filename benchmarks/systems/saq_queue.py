"""SAQ (``saq:URL``): asyncio, one ``saq.Queue`` per name, ``enqueue`` / ``dequeue`` / ``job.finish``.

Dequeue is BLMOVE into the active list plus a GET of the job; ``job.finish(COMPLETE)`` is one
MULTI (LREM, ZREM, SETEX of the finished job, kept ``ttl`` = 600 s by default) plus a PUBLISH.
A SAQ worker also writes the job once more as ``active`` before running it; that step is left
out. No bulk enqueue (``Queue.map`` enqueues one by one, then waits for results) and no batch
dequeue. ``saq`` is installed without its ``redis`` extra, whose ``redis<8`` pin would clash
with kanal's redis-py; SAQ 0.26 runs on redis-py 8 as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, Starved, SyncBridge, System, ages
from benchmarks.systems.redis_support import READY_TIMEOUT, adelete_matching, async_client, latency_tasks

if TYPE_CHECKING:
    import redis.asyncio
    from saq.job import Status  # type: ignore[import-not-found, unused-ignore]
    from saq.queue.redis import RedisQueue  # type: ignore[import-not-found, unused-ignore]


@register("saq")
def _saq(url: str) -> System:
    from saq.job import Status  # type: ignore[import-not-found, unused-ignore]
    from saq.queue.redis import RedisQueue  # type: ignore[import-not-found, unused-ignore]

    async def connect() -> AsyncSystem:
        return SaqSystem(async_client(url), RedisQueue, Status.COMPLETE)

    return SyncBridge(connect)


class SaqSystem:
    """The workloads on ``saq.Queue`` objects sharing one asyncio redis-py client.

    ``client`` is what ``queue_class`` takes first: here a redis-py client; a psycopg pool for
    :class:`~benchmarks.systems.saq_pg_queue.SaqPostgresSystem`, which replaces purge and close.
    """

    def __init__(self, client: Any, queue_class: type[RedisQueue], complete: Status) -> None:
        self._r: redis.asyncio.Redis = client
        self._queue_class = queue_class
        self._complete = complete
        self._queues: dict[str, RedisQueue] = {}

    def _get(self, name: str) -> RedisQueue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = self._queue_class(self._r, name=name)
        return queue

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        q = self._get(queue)
        for payload in payloads:
            await q.enqueue("noop", payload=payload)

    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        await self.enqueue_each(queue, payloads)  # no bulk enqueue: one at a time

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        q = self._get(queue)
        for done in range(n):  # no batch dequeue: one at a time
            # SAQ's dequeue only blocks (timeout 0: forever); the jobs are ready, so it returns at once
            job = await q.dequeue(timeout=READY_TIMEOUT)
            if job is None:
                raise Starved(queue, done, n)
            await job.finish(self._complete)
        return n

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        q = self._get(queue)

        async def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                job = await q.dequeue(timeout=wait)
                if job is None:
                    raise Starved(queue, len(seen), n)
                seen += ages([(job.kwargs or {})["payload"]])
                await job.finish(self._complete)
            return seen

        async def produce(payload: Payload) -> None:
            await q.enqueue("noop", payload=payload)

        return await latency_tasks(n, rate, produce, consume)

    async def purge(self, queue: str) -> None:
        self._queues.pop(queue, None)
        await adelete_matching(self._r, f"saq:{queue}:*", f"saq:job:{queue}:*")

    async def close(self) -> None:
        for queue in list(self._queues):
            await self.purge(queue)
        await self._r.aclose()
