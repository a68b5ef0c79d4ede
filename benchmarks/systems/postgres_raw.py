"""Raw psycopg 3 baselines on PostgreSQL: a bare jobs table, no leases, ids, states or retries.

``pg-raw:URL`` keeps one table, ``kbench_raw.jobs (id bigserial, queue text, payload jsonb)`` with
an index on ``(queue, id)``, on one autocommit connection (psycopg prepares repeated statements):

- enqueue: one INSERT, its own transaction (one round trip);
- bulk enqueue: one ``INSERT ... SELECT FROM unnest(%s, %s)`` per chunk (one round trip);
- dequeue + ack: one transaction per call, ``SELECT id, payload ... ORDER BY id LIMIT n FOR UPDATE
  SKIP LOCKED`` then ``DELETE ... WHERE id = ANY(ids)`` (BEGIN, SELECT, DELETE, COMMIT: four round
  trips for 1 or 100 jobs). The job is "worked" while its row lock is held, so nothing outlives the
  transaction: the least a SKIP LOCKED queue does;
- latency: the producer's INSERT and ``pg_notify`` are one statement; the consumer LISTENs on a
  second connection and, when woken (or at once if jobs are there), takes up to 100 on a third.

``pg-raw-copy:URL`` is the same with ``COPY jobs (queue, payload) FROM STDIN`` per chunk for the
bulk enqueue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmarks.systems import register
from benchmarks.systems.base import Payload, Starved, System, ages, chunks
from benchmarks.systems.redis_support import encode, latency_threads
from benchmarks.systems.sql_support import (
    SCHEMA_PREFIX,
    create_schema,
    drop_schema,
    libpq_url,
    relation_bytes,
    search_path,
)

if TYPE_CHECKING:
    import psycopg

SCHEMA = f"{SCHEMA_PREFIX}raw"
TABLE = """CREATE TABLE jobs (
    id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL
);
CREATE INDEX jobs_queue_id ON jobs (queue, id)"""
INSERT = "INSERT INTO jobs (queue, payload) VALUES (%s, %s::jsonb)"
INSERT_MANY = "INSERT INTO jobs (queue, payload) SELECT %s, p::jsonb FROM unnest(%s::text[]) AS p"
INSERT_NOTIFY = (
    "WITH j AS (INSERT INTO jobs (queue, payload) VALUES (%s, %s::jsonb) RETURNING 1) "
    "SELECT pg_notify(%s, '') FROM j"
)
CLAIM = "SELECT id, payload FROM jobs WHERE queue = %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
DELETE = "DELETE FROM jobs WHERE id = ANY(%s)"
#: Jobs the latency consumer takes per claim at most (it takes what is ready).
LATENCY_BATCH = 100


@register("pg-raw")
def _raw(url: str) -> System:
    return PostgresRawSystem(url)


@register("pg-raw-copy")
def _raw_copy(url: str) -> System:
    return PostgresRawCopySystem(url)


class PostgresRawSystem:
    """The workloads as plain SQL on one jobs table; the queue name is a column."""

    def __init__(self, url: str) -> None:
        self._url = libpq_url(url)
        create_schema(self._url, SCHEMA)
        self._conn = self._connect()
        self._conn.execute(TABLE.encode())

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        return psycopg.connect(self._url, autocommit=True, options=search_path(SCHEMA))

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        for payload in payloads:
            self._conn.execute(INSERT, (queue, encode(payload)))

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        for part in chunks(payloads, chunk):
            self._conn.execute(INSERT_MANY, (queue, [encode(payload) for payload in part]))

    def _take(self, conn: psycopg.Connection[tuple[object, ...]], queue: str, limit: int) -> list[Payload]:
        """Claim and delete up to ``limit`` jobs in one transaction; their (decoded) payloads."""
        with conn.transaction():
            rows = conn.execute(CLAIM, (queue, limit)).fetchall()
            if rows:
                conn.execute(DELETE, ([row[0] for row in rows],))
        return [row[1] for row in rows]  # type: ignore[misc]

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        done = 0
        while done < n:
            taken = self._take(self._conn, queue, min(batch, n - done))
            if not taken:
                raise Starved(queue, done, n)
            done += len(taken)
        return done

    def worker_step(self, queue: str, n: int) -> int:
        """A worker's step here is the one-job transaction of :meth:`dequeue_ack` (there is no lease)."""
        return self.dequeue_ack(queue, n, 1)

    def memory(self) -> int:
        """The jobs table's size with its indexes, for the backlog workloads."""
        return relation_bytes(self._url, f"{SCHEMA}.jobs")

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        from psycopg import sql

        def consume() -> list[float]:
            with self._connect() as listener, self._connect() as worker:
                listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(queue)))
                seen: list[float] = []
                while len(seen) < n:
                    taken = self._take(worker, queue, LATENCY_BATCH)
                    seen += ages(taken)
                    if not taken and not any(True for _ in listener.notifies(timeout=wait, stop_after=1)):
                        raise Starved(queue, len(seen), n)
                return seen

        def produce(payload: Payload) -> None:
            self._conn.execute(INSERT_NOTIFY, (queue, encode(payload), queue))

        return latency_threads(n, rate, produce, consume)

    def purge(self, queue: str) -> None:
        self._conn.execute("DELETE FROM jobs WHERE queue = %s", (queue,))

    def close(self) -> None:
        self._conn.close()
        drop_schema(self._url, SCHEMA)


class PostgresRawCopySystem(PostgresRawSystem):
    """:class:`PostgresRawSystem` with one ``COPY ... FROM STDIN`` per chunk for the bulk enqueue."""

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        for part in chunks(payloads, chunk):
            with self._conn.cursor().copy("COPY jobs (queue, payload) FROM STDIN") as copy:
                for payload in part:
                    copy.write_row((queue, encode(payload)))
