"""PgQueuer (``pgqueuer:URL`` on psycopg 3, ``pgqueuer-asyncpg:URL`` on asyncpg), asyncio.

A queue name is a PgQueuer entrypoint. Enqueue is ``Queries.enqueue`` (one INSERT, its trigger
NOTIFYs), bulk enqueue the same call with lists (one INSERT of arrays per chunk). Dequeue + ack is
what a ``QueueManager`` does per batch, by hand: ``Queries.dequeue`` (one CTE with FOR UPDATE SKIP
LOCKED that marks the jobs picked) then ``Queries.log_jobs`` (one statement that deletes them and
writes the log row), for 1 or 100 jobs. ``worker-step`` is a real ``QueueManager.run`` in drain
mode (batch 10, its default; acks buffered and flushed per batch) over the ready jobs, and latency a
``QueueManager`` woken by its LISTEN/NOTIFY. Each driver has its own schema (``kbench_pgqueuer``,
``kbench_pgqueuer_asyncpg``), installed with ``Queries.install`` and dropped on close.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from benchmarks.systems import register
from benchmarks.systems.base import AsyncSystem, Payload, Starved, SyncBridge, System, ages, chunks
from benchmarks.systems.redis_support import encode, latency_tasks
from benchmarks.systems.sql_support import SCHEMA_PREFIX, create_schema, drop_schema, libpq_url, search_path

#: Opens a new connection; returns it (``await conn.close()`` closes either kind) and its PgQueuer driver.
Connect = Callable[[], Awaitable[tuple[Any, Any]]]
#: Seconds the latency consumer may take past the producer's last job before it counts as starved.
LATENCY_GRACE = 60.0


def psycopg_driver(url: str, schema: str) -> Connect:
    """Opens PgQueuer connections on psycopg 3 in ``schema``."""

    async def driver() -> tuple[Any, Any]:
        import psycopg
        from pgqueuer.db import PsycopgDriver  # type: ignore[import-not-found, import-untyped, unused-ignore]

        conn = await psycopg.AsyncConnection.connect(
            libpq_url(url), autocommit=True, options=search_path(schema)
        )
        return conn, PsycopgDriver(conn)

    return driver


def asyncpg_driver(url: str, schema: str) -> Connect:
    """Opens PgQueuer connections on asyncpg in ``schema``."""

    async def driver() -> tuple[Any, Any]:
        import asyncpg  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from pgqueuer.db import AsyncpgDriver  # type: ignore[import-not-found, import-untyped, unused-ignore]

        conn = await asyncpg.connect(libpq_url(url), server_settings={"search_path": schema})
        return conn, AsyncpgDriver(conn)

    return driver


#: Each registered PgQueuer system: its schema and how it opens connections.
DRIVERS: dict[str, tuple[str, Callable[[str, str], Connect]]] = {
    "pgqueuer": (f"{SCHEMA_PREFIX}pgqueuer", psycopg_driver),
    "pgqueuer-asyncpg": (f"{SCHEMA_PREFIX}pgqueuer_asyncpg", asyncpg_driver),
}


async def install(url: str, schema: str, driver: Connect) -> tuple[Any, Any]:
    """Create ``schema`` with PgQueuer's tables in it; a first connection and its ``Queries``."""
    from pgqueuer.queries import Queries  # type: ignore[import-not-found, import-untyped, unused-ignore]

    create_schema(url, schema)
    conn, first = await driver()
    queries = Queries(first)
    await queries.install()
    return conn, queries


def _register(name: str) -> None:
    schema, opener = DRIVERS[name]

    @register(name)
    def factory(url: str) -> System:
        driver = opener(url, schema)

        async def connect() -> AsyncSystem:
            conn, queries = await install(url, schema, driver)
            return PgQueuerSystem(url, schema, conn, queries, driver)

        return SyncBridge(connect)


for _name in DRIVERS:
    _register(_name)


class PgQueuerSystem:
    """The workloads on one ``Queries`` object; each QueueManager run gets a connection of its own."""

    def __init__(self, url: str, schema: str, conn: Any, queries: Any, driver: Connect) -> None:
        from pgqueuer.queries import EntrypointExecutionParameter  # type: ignore[import-not-found, import-untyped, unused-ignore]

        self._url = url
        self._schema = schema
        self._conn = conn
        self._q = queries
        self._driver = driver
        self._manager_id = uuid.uuid4()
        self._unlimited = EntrypointExecutionParameter(concurrency_limit=0)

    async def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        for payload in payloads:
            await self._q.enqueue(queue, encode(payload).encode())

    async def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        for part in chunks(payloads, chunk):
            await self._q.enqueue(
                [queue] * len(part), [encode(payload).encode() for payload in part], [0] * len(part)
            )

    async def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        done = 0
        while done < n:
            jobs = await self._q.dequeue(
                batch_size=min(batch, n - done),
                entrypoints={queue: self._unlimited},
                queue_manager_id=self._manager_id,
                global_concurrency_limit=None,
                heartbeat_timeout=timedelta(seconds=30),
            )
            if not jobs:
                raise Starved(queue, done, n)
            for job in jobs:
                json.loads(job.payload)
            await self._q.log_jobs([(job, "successful", None) for job in jobs])
            done += len(jobs)
        return done

    async def _run(self, queue: str, handle: Callable[[Payload], bool], drain: bool) -> None:
        """Run a QueueManager on ``queue`` until ``handle(payload)`` says stop (or, in drain mode,
        until the queue is empty)."""
        from pgqueuer.qm import QueueManager  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from pgqueuer.queries import Queries  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from pgqueuer.types import QueueExecutionMode  # type: ignore[import-not-found, import-untyped, unused-ignore]

        conn, driver = await self._driver()
        try:
            manager = QueueManager(Queries(driver))

            async def work(job: Any) -> None:
                if handle(json.loads(job.payload)):
                    manager.shutdown.set()

            manager.entrypoint(queue)(work)
            mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
            await manager.run(mode=mode)
        finally:
            await conn.close()

    async def worker_step(self, queue: str, n: int) -> int:
        """A QueueManager draining the ready jobs: PgQueuer's own worker loop."""
        done = 0

        def handle(payload: Payload) -> bool:
            nonlocal done
            done += 1
            return False

        await self._run(queue, handle, drain=True)
        if done != n:
            raise Starved(queue, done, n)
        return done

    async def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        seen: list[float] = []

        def handle(payload: Payload) -> bool:
            seen.extend(ages([payload]))
            return len(seen) >= n

        async def consume() -> list[float]:
            try:
                async with asyncio.timeout(n / rate + LATENCY_GRACE):
                    await self._run(queue, handle, drain=False)
            except TimeoutError:
                raise Starved(queue, len(seen), n) from None
            return seen

        async def produce(payload: Payload) -> None:
            await self._q.enqueue(queue, encode(payload).encode())

        return await latency_tasks(n, rate, produce, consume)

    async def purge(self, queue: str) -> None:
        await self._q.clear_queue(queue)
        await self._q.clear_queue_log(queue)
        await self._q.clear_statistics_log(queue)

    async def close(self) -> None:
        await self._conn.close()
        drop_schema(self._url, self._schema)
