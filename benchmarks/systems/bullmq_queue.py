"""BullMQ's Python client (``bullmq:URL``): ``Queue.add`` / ``addBulk``, and a ``Worker`` fetching by hand.

The worker is made without a processor (``autorun`` off) and driven the way BullMQ documents
manual processing: ``getNextJob(token)`` (the moveToActive script; when the queue is drained, a
BZPOPMIN on its marker key first, for up to ``drainDelay``) then
``job.moveToCompleted(result, token, fetchNext=False)``, as the Python worker itself does.
Completed jobs are kept (BullMQ's default ``removeOnComplete=False``). No batch fetch (that is
BullMQ Pro). Each new queue name costs a few ms to set up (BullMQ loads its ~40 Lua scripts from
disk per ``Queue`` and ``Worker``), inside the first timed call of a workload.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, Starved, SyncBridge, System, ages, chunks
from benchmarks.systems.redis_support import READY_TIMEOUT, adelete_matching, latency_tasks

if TYPE_CHECKING:
    import redis.asyncio


@register("bullmq")
def _bullmq(url: str) -> System:
    import bullmq  # type: ignore[import-untyped, import-not-found, unused-ignore]

    async def connect() -> AsyncSystem:
        import redis.asyncio

        # BullMQ needs str replies; one client serves every Queue and Worker of this system
        return BullMQSystem(bullmq, redis.asyncio.Redis.from_url(url, decode_responses=True))

    return SyncBridge(connect)


class _Bull:
    """One queue name's ``bullmq.Queue`` and processor-less ``bullmq.Worker``, both made with ``opts``."""

    def __init__(self, module: Any, name: str, opts: dict[str, Any]) -> None:
        self.queue: Any = module.Queue(name, dict(opts))
        self.worker: Any = module.Worker(name, None, {**opts, "autorun": False, "drainDelay": READY_TIMEOUT})


class BullMQSystem:
    """The workloads on BullMQ queues sharing one asyncio client.

    ``connection`` is BullMQ's ``connection`` option: here a redis-py client; a PostgreSQL URL for
    :class:`~benchmarks.systems.bullmq_pg_queue.BullMQPostgresSystem`, which replaces
    :meth:`_options`, purge and close.
    """

    def __init__(self, module: Any, connection: Any) -> None:
        self._bullmq = module
        self._r: redis.asyncio.Redis = connection
        self._queues: dict[str, _Bull] = {}
        self._tokens = itertools.count()

    def _get(self, name: str) -> _Bull:
        bull = self._queues.get(name)
        if bull is None:
            bull = self._queues[name] = _Bull(self._bullmq, name, self._options())
        return bull

    def _options(self) -> dict[str, Any]:
        """The options every ``Queue`` and ``Worker`` is made with."""
        return {"connection": self._r}

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        q = self._get(queue).queue
        for payload in payloads:
            await q.add("noop", payload)

    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        q = self._get(queue).queue
        for part in chunks(payloads, chunk):
            await q.addBulk([{"name": "noop", "data": payload} for payload in part])

    async def _next(self, worker: Any, wait: float) -> Any:
        """The next job, or None when none came within ``wait`` seconds.

        ``getNextJob`` also returns None once when it first finds the queue drained (it waits on
        the marker only from the next call on), hence the loop.
        """
        deadline = time.monotonic() + wait
        while True:
            job = await worker.getNextJob(f"{worker.id}:{next(self._tokens)}")
            if job is not None or time.monotonic() >= deadline:
                return job

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        worker = self._get(queue).worker
        for done in range(n):  # no batch fetch: one at a time
            job = await self._next(worker, READY_TIMEOUT)
            if job is None:
                raise Starved(queue, done, n)
            await job.moveToCompleted(None, job.token, False)
        return n

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        bull = self._get(queue)
        bull.worker.opts["drainDelay"] = wait

        async def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                job = await self._next(bull.worker, wait)
                if job is None:
                    raise Starved(queue, len(seen), n)
                seen += ages([job.data])
                await job.moveToCompleted(None, job.token, False)
            return seen

        async def produce(payload: Payload) -> None:
            await bull.queue.add("noop", payload)

        return await latency_tasks(n, rate, produce, consume)

    async def purge(self, queue: str) -> None:
        # the worker never ran (no lock renewal, no stalled checks) and its close() would close the
        # shared client, so it is just dropped
        self._queues.pop(queue, None)
        await adelete_matching(self._r, f"bull:{queue}:*")

    async def close(self) -> None:
        for queue in list(self._queues):
            await self.purge(queue)
        await self._r.aclose()
