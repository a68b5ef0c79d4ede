"""SAQ's Postgres queue (``saq-pg:URL``): a ``saq.queue.postgres.PostgresQueue`` per queue name.

The same calls as the Redis ``saq`` system (:class:`~benchmarks.systems.saq_queue.SaqSystem`):
``enqueue`` (one INSERT ... ON CONFLICT, then a NOTIFY), ``dequeue`` (a CTE with FOR UPDATE SKIP
LOCKED that marks one job active; a blocking one LISTENs) and ``job.finish(COMPLETE)`` (an UPDATE;
the job row is kept until SAQ's sweeper expires it). No bulk enqueue and no batch dequeue. Each
queue object is connected (``Queue.connect``: SAQ's migrations, a no-op after the first) before
its first call. Each queue object has its own psycopg pool (``Queue.from_url``, SAQ's defaults: 4
to 20 connections), opened inside the first timed call and closed with ``Queue.disconnect`` on
purge: queue objects sharing one pool leave their LISTEN connections checked out after a blocking
``dequeue`` and starve the pool after a few workloads. The tables live in the schema
``kbench_saq``, dropped on close.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, SyncBridge, System
from benchmarks.systems.saq_queue import SaqSystem
from benchmarks.systems.sql_support import SCHEMA_PREFIX, create_schema, drop_schema, url_in_schema

if TYPE_CHECKING:
    import psycopg

SCHEMA = f"{SCHEMA_PREFIX}saq"


@register("saq-pg")
def _saq_pg(url: str) -> System:
    from saq.job import Status  # type: ignore[import-not-found, unused-ignore]
    from saq.queue.postgres import PostgresQueue  # type: ignore[import-not-found, unused-ignore]

    async def connect() -> AsyncSystem:
        import psycopg

        create_schema(url, SCHEMA)
        conn = await psycopg.AsyncConnection.connect(url_in_schema(url, SCHEMA), autocommit=True)
        return SaqPostgresSystem(url, conn, PostgresQueue, Status.COMPLETE)

    return SyncBridge(connect)


class SaqPostgresSystem(SaqSystem):
    """:class:`SaqSystem` on ``PostgresQueue``: each queue is connected first, purge deletes its rows."""

    def __init__(self, url: str, conn: psycopg.AsyncConnection[Any], queue_class: Any, complete: Any) -> None:
        super().__init__(None, queue_class, complete)
        self._url = url
        #: For purges; the queues have pools of their own.
        self._conn = conn

    def _get(self, name: str) -> Any:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = self._queue_class.from_url(
                url_in_schema(self._url, SCHEMA), name=name
            )
        return queue

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
        await self._conn.execute("DELETE FROM saq_jobs WHERE queue = %s", (queue,))

    async def close(self) -> None:
        for queue in list(self._queues):
            await self.purge(queue)
        await self._conn.close()
        drop_schema(self._url, SCHEMA)
