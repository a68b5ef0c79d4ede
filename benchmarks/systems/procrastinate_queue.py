"""Procrastinate (``procrastinate:URL``): asyncio, ``PsycopgConnector`` (a psycopg 3 pool), one task.

Enqueue is ``task.configure(queue=name).defer_async(**payload)`` (one call of its
``procrastinate_defer_jobs`` function; a trigger NOTIFYs), bulk enqueue ``batch_defer_async`` per
chunk (one call for the chunk). Procrastinate has no public dequeue: jobs are taken by its worker,
so ``dequeue-ack-*`` and ``worker-step`` are all ``App.run_worker_async(wait=False)`` on the queue,
which runs the ready jobs one at a time (fetch, run, finish: one function call each) and returns once
the queue is empty; there is no batch fetch. Latency is a worker with ``wait=True`` woken by its
LISTEN/NOTIFY, cancelled once every job came. Finished jobs are kept (``delete_jobs="never"``, the
default) until the purge. Its schema is applied with ``schema_manager.apply_schema_async`` in the
PostgreSQL schema ``kbench_procrastinate``, dropped on close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, Starved, SyncBridge, System, ages, chunks
from benchmarks.systems.redis_support import latency_tasks
from benchmarks.systems.sql_support import SCHEMA_PREFIX, create_schema, drop_schema, libpq_url, search_path

SCHEMA = f"{SCHEMA_PREFIX}procrastinate"
#: Seconds the latency worker may take past the producer's last job before it counts as starved.
LATENCY_GRACE = 60.0


@register("procrastinate")
def _procrastinate(url: str) -> System:
    async def connect() -> AsyncSystem:
        import procrastinate  # type: ignore[import-not-found, import-untyped, unused-ignore]

        create_schema(url, SCHEMA)
        connector = procrastinate.PsycopgConnector(
            conninfo=libpq_url(url), kwargs={"options": search_path(SCHEMA)}
        )
        app = procrastinate.App(connector=connector)
        await app.open_async()
        await app.schema_manager.apply_schema_async()
        return ProcrastinateSystem(url, app)

    return SyncBridge(connect)


class ProcrastinateSystem:
    """The workloads on one Procrastinate app with one task; the harness's queue is its queue."""

    def __init__(self, url: str, app: Any) -> None:
        self._url = url
        self._app = app
        #: What the task does with a job's payload, set per workload.
        self._handle: Callable[[Payload], None] = lambda payload: None

        async def run(**payload: Any) -> None:
            self._handle(payload)

        self._task = app.task(name="bench", pass_context=False)(run)

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        deferrer = self._task.configure(queue=queue)
        for payload in payloads:
            await deferrer.defer_async(**payload)

    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        deferrer = self._task.configure(queue=queue)
        for part in chunks(payloads, chunk):
            await deferrer.batch_defer_async(*part)

    async def _work(self, queue: str, **options: Any) -> None:
        await self._app.run_worker_async(queues=[queue], install_signal_handlers=False, **options)

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        seen: list[Payload] = []
        self._handle = seen.append
        await self._work(queue, wait=False)
        if len(seen) != n:
            raise Starved(queue, len(seen), n)
        return n

    async def worker_step(self, queue: str, n: int) -> int:
        """The worker loop: the same run as :meth:`dequeue_ack`."""
        return await self.dequeue_ack(queue, n, 1)

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        seen: list[float] = []
        done = asyncio.Event()

        def handle(payload: Payload) -> None:
            seen.extend(ages([payload]))
            if len(seen) >= n:
                done.set()

        self._handle = handle

        async def consume() -> list[float]:
            worker = asyncio.create_task(self._work(queue, wait=True))
            try:
                async with asyncio.timeout(n / rate + LATENCY_GRACE):
                    await done.wait()
            except TimeoutError:
                raise Starved(queue, len(seen), n) from None
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
            return seen

        async def produce(payload: Payload) -> None:
            await self._task.configure(queue=queue).defer_async(**payload)

        return await latency_tasks(n, rate, produce, consume)

    async def purge(self, queue: str) -> None:
        await self._app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE queue_name = %(queue)s", queue=queue
        )

    async def close(self) -> None:
        await self._app.close_async()
        drop_schema(self._url, SCHEMA)
