"""arq (``arq:URL``): asyncio, ``enqueue_job`` to produce and an arq ``Worker``'s own poll step to consume.

arq has no dequeue call and no blocking wait: its worker polls the queue (a sorted set) every
``poll_delay`` (0.5 s by default), claims each job id (WATCH + MULTI on an in-progress key), loads
it, runs the function and finishes it (one MULTI: result kept 1 h, job and retry keys deleted,
ZREM). Here one ``Worker`` per queue runs that step, ``_poll_iteration``, without its ``main``
loop, with ``max_jobs=1`` so that, like every other system, one consumer completes one job at a
time (arq runs 10 at once by default). ``queue_read_limit`` is the batch: 1 job id per poll, or
the batch size. A job's age is taken when the worker calls its function. No bulk enqueue.

Only arq 0.25 resolves with kanal's redis-py 8 (0.26+ pins ``redis<6``); it requires
``redis[hiredis]``, so in a bench environment every system's redis-py parses with hiredis.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, Starved, SyncBridge, System, ages, apace, stamp
from benchmarks.systems.redis_support import adelete_matching

if TYPE_CHECKING:
    from arq.connections import ArqRedis  # type: ignore[import-not-found, unused-ignore]
    from arq.worker import Worker  # type: ignore[import-not-found, unused-ignore]

#: What arq keeps per job id.
JOB_KEYS = ("arq:job:{}", "arq:result:{}", "arq:retry:{}", "arq:in-progress:{}")


@register("arq")
def _arq(url: str) -> System:
    from arq.connections import RedisSettings, create_pool  # type: ignore[import-not-found, unused-ignore]
    from arq.worker import Worker, func

    async def connect() -> AsyncSystem:
        return ArqSystem(await create_pool(RedisSettings.from_dsn(url)), Worker, func)

    return SyncBridge(connect)


async def noop(ctx: dict[str, Any], payload: Payload) -> None:
    """The job function: does nothing, so only the queue's own work is measured."""


class ArqSystem:
    """The workloads on one ``ArqRedis`` pool; each queue name is its own arq queue."""

    def __init__(self, pool: ArqRedis, worker_class: type[Worker], func: Callable[..., Any]) -> None:
        self._pool = pool
        self._worker_class = worker_class
        self._func = func  # wraps a coroutine function as an arq job function
        self._ids: defaultdict[str, list[str]] = defaultdict(list)  # to purge their keys later

    async def _enqueue(self, queue: str, payload: Payload) -> None:
        job = await self._pool.enqueue_job("noop", payload, _queue_name=queue)
        if job is None:
            raise RuntimeError("arq refused a job as a duplicate")
        self._ids[queue].append(job.job_id)

    def _worker(self, queue: str, function: Any, read_limit: int) -> Worker:
        return self._worker_class(
            [self._func(function, name="noop")],
            queue_name=queue,
            redis_pool=self._pool,
            burst=True,
            handle_signals=False,
            max_jobs=1,
            queue_read_limit=read_limit,
        )

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        for payload in payloads:
            await self._enqueue(queue, payload)

    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        await self.enqueue_each(queue, payloads)  # no bulk enqueue: one at a time

    @staticmethod
    async def _poll(worker: Worker) -> None:
        """One poll step, and wait for the jobs it started (with max_jobs=1 all but the last ran)."""
        await worker._poll_iteration()
        await asyncio.gather(*worker.tasks.values())
        if worker.jobs_failed:
            raise RuntimeError(f"{worker.jobs_failed} arq jobs failed")

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        worker = self._worker(queue, noop, batch)
        while worker.jobs_complete < n:
            before = worker.jobs_complete
            await self._poll(worker)
            if worker.jobs_complete == before:
                raise Starved(queue, before, n)
        return int(worker.jobs_complete)

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        seen: list[float] = []

        async def record(ctx: dict[str, Any], payload: Payload) -> None:
            seen.extend(ages([payload]))

        worker = self._worker(queue, record, 100)

        async def consume() -> None:
            idle = 0.0
            while len(seen) < n:
                before = len(seen)
                await self._poll(worker)
                if len(seen) == before:
                    if idle >= wait:
                        raise Starved(queue, before, n)
                    await asyncio.sleep(worker.poll_delay_s)  # what arq's poll loop does
                    idle += worker.poll_delay_s
                else:
                    idle = 0.0

        async def produce() -> None:
            async for i in apace(n, rate):
                await self._enqueue(queue, stamp(i))

        async with asyncio.TaskGroup() as group:
            group.create_task(consume())
            group.create_task(produce())
        return seen

    async def purge(self, queue: str) -> None:
        ids = self._ids.pop(queue, [])
        async with self._pool.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.delete(*(key.format(job_id) for key in JOB_KEYS))
            await pipe.execute()
        await adelete_matching(self._pool, f"{queue}", f"{queue}:*")

    async def close(self) -> None:
        for queue in list(self._ids):
            await self.purge(queue)
        await self._pool.aclose()
