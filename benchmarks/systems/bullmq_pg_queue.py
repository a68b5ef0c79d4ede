"""BullMQ's Python client on its PostgreSQL backend (``bullmq-pg:URL``, ``{"backend": "postgres"}``).

The same calls as the Redis ``bullmq`` system (:class:`~benchmarks.systems.bullmq_queue.BullMQSystem`):
``Queue.add`` / ``addBulk``, a processor-less ``Worker`` doing ``getNextJob`` + ``moveToCompleted``
(one SQL command file each), blocking on LISTEN/NOTIFY (its ``bullmq_jobs`` channel) when drained.
Every ``Queue`` and ``Worker`` owns its own connection (commands serialised on it) and a worker a
second one to LISTEN on. Completed jobs are kept, as on Redis. BullMQ's migrations create its tables
in the schema ``kbench_bullmq``; ``Queue.obliterate(force=True)`` purges a queue, and the schema is
dropped on close.
"""

from __future__ import annotations

from typing import Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, SyncBridge, System
from benchmarks.systems.bullmq_queue import BullMQSystem
from benchmarks.systems.sql_support import SCHEMA_PREFIX, create_schema, drop_schema, libpq_url

SCHEMA = f"{SCHEMA_PREFIX}bullmq"


@register("bullmq-pg")
def _bullmq_pg(url: str) -> System:
    import bullmq  # type: ignore[import-untyped, import-not-found, unused-ignore]

    async def connect() -> AsyncSystem:
        create_schema(url, SCHEMA)
        return BullMQPostgresSystem(bullmq, libpq_url(url))

    return SyncBridge(connect)


class BullMQPostgresSystem(BullMQSystem):
    """:class:`BullMQSystem` with the Postgres backend's options; closes what each queue opened."""

    def __init__(self, module: Any, url: str) -> None:
        super().__init__(module, url)
        self._url = url

    def _options(self) -> dict[str, Any]:
        return {"backend": "postgres", "connection": self._url, "schema": SCHEMA}

    async def purge(self, queue: str) -> None:
        bull = self._queues.pop(queue, None)
        if bull is not None:
            await bull.queue.obliterate(force=True)
            await bull.worker.close(force=True)
            await bull.queue.close()

    async def close(self) -> None:
        for queue in list(self._queues):
            await self.purge(queue)
        drop_schema(self._url, SCHEMA)
