"""SAQ's Postgres queue (``saq-pg:URL``): ``saq.queue.postgres.PostgresQueue`` objects on one psycopg pool.

The same calls as the Redis ``saq`` system (:class:`~benchmarks.systems.saq_queue.SaqSystem`):
``enqueue`` (one INSERT ... ON CONFLICT, then a NOTIFY), ``dequeue`` (a CTE with FOR UPDATE SKIP
LOCKED that marks one job active; a blocking one LISTENs) and ``job.finish(COMPLETE)`` (an UPDATE;
the job row is kept until SAQ's sweeper expires it). No bulk enqueue and no batch dequeue. Each
queue object is connected (``Queue.connect``: SAQ's migrations, a no-op after the first) before
its first call. The tables live in the schema ``kbench_saq``, dropped on close.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, SyncBridge, System
from benchmarks.systems.saq_queue import SaqSystem
from benchmarks.systems.sql_support import SCHEMA_PREFIX, create_schema, drop_schema, libpq_url, search_path

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool  # type: ignore[import-not-found, import-untyped, unused-ignore]

SCHEMA = f"{SCHEMA_PREFIX}saq"


@register("saq-pg")
def _saq_pg(url: str) -> System:
    from psycopg_pool import AsyncConnectionPool  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from saq.job import Status  # type: ignore[import-not-found, unused-ignore]
    from saq.queue.postgres import PostgresQueue  # type: ignore[import-not-found, unused-ignore]

    async def connect() -> AsyncSystem:
        create_schema(url, SCHEMA)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            libpq_url(url), kwargs={"options": search_path(SCHEMA)}, open=False
        )
        await pool.open()
        return SaqPostgresSystem(url, pool, PostgresQueue, Status.COMPLETE)

    return SyncBridge(connect)


class SaqPostgresSystem(SaqSystem):
    """:class:`SaqSystem` on ``PostgresQueue``: each queue is connected first, purge deletes its rows."""

    def __init__(self, url: str, pool: AsyncConnectionPool[Any], queue_class: Any, complete: Any) -> None:
        super().__init__(pool, queue_class, complete)
        self._url = url
        self._pool = pool

    async def _connected(self, queue: str) -> None:
        await self._get(queue).connect()  # idempotent

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        await self._connected(queue)
        await super().enqueue_each(queue, payloads)

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        await self._connected(queue)
        return await super().dequeue_ack(queue, n, batch)

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        await self._connected(queue)
        return await super().latency(queue, n, rate, wait)

    async def purge(self, queue: str) -> None:
        q = self._queues.pop(queue, None)
        if q is not None:
            await q.disconnect()
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM saq_jobs WHERE queue = %s", (queue,))

    async def close(self) -> None:
        for queue in list(self._queues):
            await self.purge(queue)
        await self._pool.close()
        drop_schema(self._url, SCHEMA)
