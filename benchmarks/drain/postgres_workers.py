"""The PostgreSQL peers' workers and a raw psycopg drain, each in a schema of its own.

- ``pg-raw:URL``: the floor. A bare ``jobs (id bigserial, queue, payload jsonb)`` table; the
  "worker" is a loop on one autocommit psycopg connection of one transaction per job: ``SELECT id,
  payload ... ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED``, the no-op call, ``DELETE`` (BEGIN,
  SELECT, DELETE, COMMIT), until the SELECT finds nothing. One job at a time.
- ``pgqueuer:URL`` (psycopg 3) and ``pgqueuer-asyncpg:URL``: a ``QueueManager`` on a connection
  of its own (opened before the timing), ``run(mode=QueueExecutionMode.drain)``, which returns
  once the queue is empty and its tasks are done, at its defaults: ``batch_size=10``, every
  fetched job started at once as an asyncio task, acks buffered and flushed per batch. PgQueuer
  has no per-worker setting that can be 1: ``max_concurrent_tasks`` must be at least twice the
  batch size, and an entrypoint's ``concurrency_limit`` is a limit across all workers, checked
  in SQL, after which the worker polls again (with ``concurrency_limit=1`` it drained about 9
  jobs/s here). So it runs once per round, as it is.
- ``procrastinate:URL``: ``App.run_worker_async(queues=[queue], concurrency=C, wait=False,
  install_signal_handlers=False)``, which returns once it finds no job (then waits for the
  running ones); a ``PsycopgConnector`` pool, finished jobs kept (its default).
- ``saq-pg:URL``: SAQ's ``Worker``, stopped when done as for ``saq:URL`` in
  :mod:`.redis_workers`, on a ``PostgresQueue`` per run (its own pool, SAQ's defaults, connected
  before the timing).

Schemas ``kbench_drain_raw``, ``kbench_drain_procrastinate`` and ``kbench_drain_saq`` are
(re)created when a system starts and dropped on close. PgQueuer's are the protocol harness's
(``kbench_pgqueuer``, ``kbench_pgqueuer_asyncpg``, set up by the same code), so the two
benchmarks must not run PgQueuer at the same time.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from benchmarks.drain import register
from benchmarks.drain.base import PROBE, AsyncDrain, Bridge, Drain, Window, each_concurrently
from benchmarks.drain.redis_workers import quiet_saq, saq_until_done
from benchmarks.systems import pgqueuer_queue
from benchmarks.systems.pgqueuer_queue import Connect
from benchmarks.systems.sql_support import create_schema, drop_schema, libpq_url, search_path, url_in_schema

if TYPE_CHECKING:
    import psycopg

#: Every schema here starts with this.
SCHEMA_PREFIX = "kbench_drain_"
#: Jobs per bulk insert when filling a queue.
FILL_CHUNK = 1000

RAW_TABLE = """CREATE TABLE jobs (
    id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL
);
CREATE INDEX jobs_queue_id ON jobs (queue, id)"""
RAW_FILL = "INSERT INTO jobs (queue, payload) SELECT %s, p::jsonb FROM unnest(%s::text[]) AS p"
RAW_CLAIM = "SELECT id, payload FROM jobs WHERE queue = %s ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
RAW_DELETE = "DELETE FROM jobs WHERE id = %s"


def noop(n: int) -> None:
    """The job function: tells the probe, nothing else."""
    PROBE.hit()


@register("pg-raw")
def _raw(url: str) -> Drain:
    return PostgresRawDrain(url)


class PostgresRawDrain:
    """One connection; one claim-run-delete transaction per job."""

    knob = False

    def __init__(self, url: str) -> None:
        import psycopg

        self._url = libpq_url(url)
        self._schema = f"{SCHEMA_PREFIX}raw"
        create_schema(self._url, self._schema)
        self._conn = psycopg.connect(self._url, autocommit=True, options=search_path(self._schema))
        self._conn.execute(RAW_TABLE.encode())

    def fill(self, queue: str, n: int) -> None:
        for start in range(0, n, FILL_CHUNK):
            payloads = [json.dumps({"n": i}) for i in range(start, min(start + FILL_CHUNK, n))]
            self._conn.execute(RAW_FILL, (queue, payloads))

    def _take(self, conn: psycopg.Connection[tuple[Any, ...]], queue: str) -> bool:
        """Claim, run and delete one job in one transaction; False when there was none."""
        with conn.transaction():
            row = conn.execute(RAW_CLAIM, (queue,)).fetchone()
            if row is None:
                return False
            noop(row[1]["n"])
            conn.execute(RAW_DELETE, (row[0],))
        return True

    def drain(self, queue: str, n: int, concurrency: int) -> Window:
        started = time.perf_counter()
        while self._take(self._conn, queue):
            pass
        return started, time.perf_counter()

    def purge(self, queue: str) -> None:
        self._conn.execute("DELETE FROM jobs WHERE queue = %s", (queue,))

    def close(self) -> None:
        self._conn.close()
        drop_schema(self._url, self._schema)


def _register_pgqueuer(name: str) -> None:
    schema, opener = pgqueuer_queue.DRIVERS[name]

    @register(name)
    def factory(url: str) -> Drain:
        driver = opener(url, schema)

        async def connect() -> AsyncDrain:
            conn, queries = await pgqueuer_queue.install(url, schema, driver)
            return PgQueuerDrain(url, schema, conn, queries, driver)

        return Bridge(connect)


for _name in pgqueuer_queue.DRIVERS:
    _register_pgqueuer(_name)


class PgQueuerDrain:
    """A queue name is a PgQueuer entrypoint; each run's QueueManager has a connection of its own."""

    knob = False

    def __init__(self, url: str, schema: str, conn: Any, queries: Any, driver: Connect) -> None:
        self._url = url
        self._schema = schema
        self._conn = conn
        self._q = queries
        self._driver = driver

    async def fill(self, queue: str, n: int) -> None:
        for start in range(0, n, FILL_CHUNK):
            count = min(FILL_CHUNK, n - start)
            payloads = [json.dumps({"n": i}).encode() for i in range(start, start + count)]
            await self._q.enqueue([queue] * count, payloads, [0] * count)

    async def drain(self, queue: str, n: int, concurrency: int) -> Window:
        from pgqueuer.qm import QueueManager  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from pgqueuer.queries import Queries  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from pgqueuer.types import QueueExecutionMode  # type: ignore[import-not-found, import-untyped, unused-ignore]

        conn, driver = await self._driver()
        try:
            manager = QueueManager(Queries(driver))

            async def work(job: Any) -> None:
                noop(json.loads(job.payload)["n"])

            manager.entrypoint(queue)(work)
            started = time.perf_counter()
            await manager.run(mode=QueueExecutionMode.drain)
            ended = time.perf_counter()
        finally:
            await conn.close()
        return started, ended

    async def purge(self, queue: str) -> None:
        await self._q.clear_queue(queue)
        await self._q.clear_queue_log(queue)
        await self._q.clear_statistics_log(queue)

    async def close(self) -> None:
        await self._conn.close()
        drop_schema(self._url, self._schema)


@register("procrastinate")
def _procrastinate(url: str) -> Drain:
    schema = f"{SCHEMA_PREFIX}procrastinate"

    async def connect() -> AsyncDrain:
        import procrastinate  # type: ignore[import-not-found, unused-ignore]

        create_schema(url, schema)
        connector = procrastinate.PsycopgConnector(
            conninfo=libpq_url(url), kwargs={"options": search_path(schema)}
        )
        app = procrastinate.App(connector=connector)
        await app.open_async()
        await app.schema_manager.apply_schema_async()
        return ProcrastinateDrain(url, schema, app)

    return Bridge(connect)


class ProcrastinateDrain:
    """One Procrastinate app with one no-op task; a queue name is a Procrastinate queue."""

    knob = True

    def __init__(self, url: str, schema: str, app: Any) -> None:
        self._url = url
        self._schema = schema
        self._app = app

        async def run(n: int) -> None:
            noop(n)

        self._task = app.task(name="noop", pass_context=False)(run)

    async def fill(self, queue: str, n: int) -> None:
        deferrer = self._task.configure(queue=queue)
        for start in range(0, n, FILL_CHUNK):
            await deferrer.batch_defer_async(*({"n": i} for i in range(start, min(start + FILL_CHUNK, n))))

    async def drain(self, queue: str, n: int, concurrency: int) -> Window:
        started = time.perf_counter()
        await self._app.run_worker_async(
            queues=[queue], concurrency=concurrency, wait=False, install_signal_handlers=False
        )
        return started, time.perf_counter()

    async def purge(self, queue: str) -> None:
        await self._app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE queue_name = %(queue)s", queue=queue
        )

    async def close(self) -> None:
        await self._app.close_async()
        drop_schema(self._url, self._schema)


@register("saq-pg")
def _saq_pg(url: str) -> Drain:
    quiet_saq()

    async def connect() -> AsyncDrain:
        import psycopg

        schema = f"{SCHEMA_PREFIX}saq"
        create_schema(url, schema)
        conn = await psycopg.AsyncConnection.connect(url_in_schema(url, schema), autocommit=True)
        return SaqPostgresDrain(url, schema, conn)

    return Bridge(connect)


class SaqPostgresDrain:
    """A ``PostgresQueue`` per queue name, each with its own pool, disconnected on purge."""

    knob = True

    def __init__(self, url: str, schema: str, conn: Any) -> None:
        self._url = url
        self._schema = schema
        #: For purges; the queues have pools of their own.
        self._conn = conn
        self._queues: dict[str, Any] = {}

    async def _queue(self, name: str) -> Any:
        queue = self._queues.get(name)
        if queue is None:
            from saq.queue.postgres import PostgresQueue  # type: ignore[import-not-found, unused-ignore]

            queue = self._queues[name] = PostgresQueue.from_url(
                url_in_schema(self._url, self._schema), name=name
            )
            await queue.connect()
        return queue

    async def fill(self, queue: str, n: int) -> None:
        q = await self._queue(queue)
        await each_concurrently(n, lambda i: q.enqueue("noop", n=i), width=10)

    async def drain(self, queue: str, n: int, concurrency: int) -> Window:
        return await saq_until_done(await self._queue(queue), n, concurrency)

    async def purge(self, queue: str) -> None:
        q = self._queues.pop(queue, None)
        if q is not None:
            await q.disconnect()
        await self._conn.execute("DELETE FROM saq_jobs WHERE queue = %s", (queue,))

    async def close(self) -> None:
        for queue in list(self._queues):
            await self.purge(queue)
        await self._conn.close()
        drop_schema(self._url, self._schema)
