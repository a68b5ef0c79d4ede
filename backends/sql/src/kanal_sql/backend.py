"""The SQL backend: each operation is one transaction (see :mod:`kanal_sql.store`).

The flows here yield :class:`~kanal_sql.transport.Transaction` and
:class:`~kanal_sql.transport.Wait` calls; the schema is checked (and, unless
``migrate=false``, created or upgraded) before the first one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection

from kanal.errors import ConfigError
from kanal.flows import Flow
from kanal.models import Batch, Job, JobState, Lease, QueueStats, RateLimit, Recovery
from kanal.spi import Capabilities, NewJob
from kanal_sql import schema
from kanal_sql.config import SQLConfig
from kanal_sql.store import Store
from kanal_sql.transport import (
    JoinedAsyncTransport,
    JoinedSyncTransport,
    SQLAsyncTransport,
    SQLSyncTransport,
    Transaction,
    Wait,
)

T = TypeVar("T")

#: Databases and prefixes whose schema this process has found current: checked once per
#: process, not once per client (a worker opens many).
_current_schemas: set[tuple[str, str | None, str]] = set()

#: Jobs a purge deletes per transaction, so no transaction holds locks for long.
PURGE_CHUNK = 1000
#: Polling backends (MariaDB/MySQL, SQLite) look again after this long, doubling up to
#: POLL_MAX while nothing changes.
POLL_START = 0.01
POLL_MAX = 0.5
#: PostgreSQL waiters look again at least this often, even if a NOTIFY was lost.
LISTEN_MAX = 1.0


class SQLBackend:
    """Jobs in PostgreSQL, MariaDB/MySQL or SQLite, one transaction per operation.

    Build it with :meth:`from_url`; ``kanal.connect("postgresql://…")`` does.
    """

    def __init__(self, config: SQLConfig) -> None:
        self.config = config
        self.tables = schema.tables(config.prefix, config.schema)
        channel = f"{config.schema or 'public'}.{config.prefix}"[:63]
        self.store = Store(self.tables, channel)
        self.capabilities = Capabilities(
            push_wakeups=config.dialect == "postgresql", transactional_enqueue=True
        )
        self._schema_key = (
            config.sync_url.render_as_string(hide_password=False),
            config.schema,
            config.prefix,
        )
        self._queues: set[str] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLBackend:
        """``postgresql://user:password@host/db``, ``mysql://…``, ``mariadb://…``, ``sqlite:///path``.

        Options (also as query parameters): ``prefix`` (default ``kanal``) names the tables
        (``kanal_jobs`` …); ``schema`` puts them in a PostgreSQL schema; ``migrate=false``
        leaves creating and upgrading them to you (see :func:`kanal_sql.ddl`).
        """
        return cls(SQLConfig.parse(url, options))

    def __repr__(self) -> str:
        return f"<SQLBackend {self.config.shown} prefix={self.config.prefix!r}>"

    def sync_transport(self) -> SQLSyncTransport:
        return SQLSyncTransport(self.config, self.store.channel)

    def async_transport(self) -> SQLAsyncTransport:
        return SQLAsyncTransport(self.config, self.store.channel)

    def joined_sync_transport(self, connection: Any) -> JoinedSyncTransport:
        return JoinedSyncTransport(connection)

    def joined_async_transport(self, connection: Any) -> JoinedAsyncTransport:
        return JoinedAsyncTransport(connection)

    def ddl(self) -> str:
        """The SQL that creates kanal's tables on this database's dialect."""
        return schema.ddl(self.config.dialect, self.tables)

    # ------------------------------------------------------------------ plumbing

    def _run(
        self,
        body: Callable[[Connection], T],
        done: Callable[[], None] | None = None,
        fast: Callable[[Connection], T | None] | None = None,
    ) -> Flow[T]:
        """One transaction, after making sure the schema is in place; ``done`` runs once
        it has committed (never when it joined a caller's transaction); ``fast``: the
        common case in one statement, tried first (see :class:`Transaction`)."""
        if self._schema_key not in _current_schemas:
            yield Transaction(self._check_schema, self._schema_ready, own=True)
        result: T = yield Transaction(body, done, fast=fast)
        return result

    def _schema_ready(self) -> None:
        _current_schemas.add(self._schema_key)

    def _check_schema(self, conn: Connection) -> None:
        if self.config.migrate:
            schema.migrate(conn, self.tables)
            return
        found = schema.version(conn, self.tables)
        if found < schema.LATEST:
            raise ConfigError(
                f"kanal's tables in {self.config.shown} are at version {found}, this kanal needs "
                f"{schema.LATEST}: apply the DDL that kanal_sql.ddl() prints, or connect with migrate=true"
            )

    def _wait(
        self, check: Callable[[Connection], float | None], channels: tuple[str, ...], timeout: float
    ) -> Flow[bool]:
        """Block until ``check`` returns 0 (True) or ``timeout`` seconds pass (False)."""
        if self._schema_key not in _current_schemas:
            yield from self._run(lambda conn: None)
        deadline = time.monotonic() + timeout
        step = LISTEN_MAX if self.capabilities.push_wakeups else POLL_START
        while True:
            remaining = deadline - time.monotonic()
            due = yield Wait(check, channels, max(min(remaining, step), 0.0))
            if due == 0:
                return True
            if deadline - time.monotonic() <= 0:
                return False
            step = min(step * 2, POLL_MAX) if not self.capabilities.push_wakeups else step

    # ------------------------------------------------------------------ protocol

    def enqueue(self, queue: str, jobs: Sequence[NewJob]) -> Flow[list[Job]]:
        if queue not in self._queues:  # registers the queue first, in the transaction
            return (
                yield from self._run(
                    lambda conn: self.store.enqueue(conn, queue, jobs, True), lambda: self._queues.add(queue)
                )
            )
        return (
            yield from self._run(
                lambda conn: self.store.enqueue(conn, queue, jobs, False),
                fast=lambda conn: self.store.enqueue_fast(conn, queue, jobs),
            )
        )

    def dequeue(self, queue: str, limit: int, lease_timeout: float | None) -> Flow[list[Lease]]:
        return (
            yield from self._run(
                lambda conn: self.store.dequeue(conn, queue, limit, lease_timeout),
                fast=lambda conn: self.store.dequeue_fast(conn, queue, limit, lease_timeout),
            )
        )

    def wait_ready(self, queues: Sequence[str], timeout: float) -> Flow[None]:
        channels = tuple(f"q:{queue}" for queue in queues)
        yield from self._wait(lambda conn: self.store.ready_in(conn, queues), channels, timeout)

    def ack(self, lease: Lease, result: bytes | None, result_ttl: float) -> Flow[Job]:
        return (
            yield from self._run(
                lambda conn: self.store.ack(conn, lease, result, result_ttl),
                fast=lambda conn: self.store.ack_fast(conn, lease, result, result_ttl),
            )
        )

    def ack_and_dequeue(
        self, lease: Lease, result: bytes | None, result_ttl: float, limit: int, lease_timeout: float | None
    ) -> Flow[tuple[Job, list[Lease]]]:
        store = self.store
        job, leases = yield from self._run(
            lambda conn: store.ack_and_dequeue(conn, lease, result, result_ttl, limit, lease_timeout),
            fast=lambda conn: store.ack_and_dequeue_fast(
                conn, lease, result, result_ttl, limit, lease_timeout
            ),
        )
        if leases is None:  # acked; the queue has limits or due timers: the dequeue in full
            leases = yield from self.dequeue(lease.queue, limit, lease_timeout)
        return job, leases

    def ack_many(self, leases: Sequence[Lease], result_ttl: float) -> Flow[Batch[Job]]:
        done = yield from self._run(
            lambda conn: self.store.ack_many(conn, leases, result_ttl),
            fast=lambda conn: self.store.ack_many_fast(conn, leases, result_ttl),
        )
        return _batch(leases, done)

    def requeue(self, lease: Lease, delay: float, error: str | None) -> Flow[Job]:
        return (yield from self._run(lambda conn: self.store.requeue(conn, lease, delay, error)))

    def fail(self, lease: Lease, error: str) -> Flow[Job]:
        return (
            yield from self._run(
                lambda conn: self.store.fail(conn, lease, error),
                fast=lambda conn: self.store.fail_fast(conn, lease, error),
            )
        )

    def extend(self, lease: Lease, timeout: float | None) -> Flow[Lease]:
        return (
            yield from self._run(
                lambda conn: self.store.extend(conn, lease, timeout),
                fast=lambda conn: self.store.extend_fast(conn, lease, timeout),
            )
        )

    def extend_many(self, leases: Sequence[Lease], timeout: float | None) -> Flow[Batch[Lease]]:
        done = yield from self._run(
            lambda conn: self.store.extend_many(conn, leases, timeout),
            fast=lambda conn: self.store.extend_many_fast(conn, leases, timeout),
        )
        return _batch(leases, done)

    def reschedule(self, queue: str, job_id: str, delay: float, run_at: float | None) -> Flow[Job]:
        return (yield from self._run(lambda conn: self.store.reschedule(conn, queue, job_id, delay, run_at)))

    def cancel(self, queue: str, job_id: str, ttl: float, force: bool) -> Flow[Job]:
        return (yield from self._run(lambda conn: self.store.cancel(conn, queue, job_id, ttl, force)))

    def get(self, queue: str, job_id: str) -> Flow[Job | None]:
        return (yield from self._run(lambda conn: self.store.get(conn, queue, job_id)))

    def wait_job(self, queue: str, job_id: str, until: Sequence[JobState], timeout: float) -> Flow[None]:
        check = partial(self.store.watch, queue=queue, job_id=job_id, until=until)
        yield from self._wait(check, (f"j:{queue}:{job_id}",), timeout)

    def list_jobs(
        self, queue: str, states: Sequence[JobState], key: str | None, limit: int, offset: int
    ) -> Flow[list[Job]]:
        return (
            yield from self._run(lambda conn: self.store.list_jobs(conn, queue, states, key, limit, offset))
        )

    def redrive(self, queue: str, job_ids: Sequence[str] | None, limit: int) -> Flow[int]:
        if job_ids is not None and not job_ids:
            return 0
        return (yield from self._run(lambda conn: self.store.redrive(conn, queue, job_ids, limit)))

    def purge(self, queue: str, states: Sequence[JobState], key: str | None) -> Flow[int]:
        total, more = 0, True
        while more:
            deleted, more = yield from self._run(
                lambda conn: self.store.purge(conn, queue, states, key, PURGE_CHUNK)
            )
            total += deleted
        return total

    def set_rate_limit(self, queue: str, key: str | None, limit: RateLimit | None) -> Flow[None]:
        yield from self._run(lambda conn: self.store.set_limit(conn, queue, key, limit, None, "rate"))
        self._queues.add(queue)

    def get_rate_limit(self, queue: str, key: str | None) -> Flow[RateLimit | None]:
        row = yield from self._run(lambda conn: self.store.get_limit(conn, queue, key))
        return None if row is None or row.rate is None else RateLimit(rate=row.rate, burst=row.burst)

    def set_concurrency_limit(self, queue: str, key: str | None, limit: int | None) -> Flow[None]:
        yield from self._run(lambda conn: self.store.set_limit(conn, queue, key, None, limit, "concurrency"))
        self._queues.add(queue)

    def get_concurrency_limit(self, queue: str, key: str | None) -> Flow[int | None]:
        row = yield from self._run(lambda conn: self.store.get_limit(conn, queue, key))
        return None if row is None else row.concurrency

    def pause(self, queue: str) -> Flow[None]:
        yield from self._run(lambda conn: self.store.pause(conn, queue, True))
        self._queues.add(queue)

    def resume(self, queue: str) -> Flow[None]:
        yield from self._run(lambda conn: self.store.pause(conn, queue, False))
        self._queues.add(queue)

    def stats(self, queue: str | None) -> Flow[list[QueueStats]]:
        return (yield from self._run(lambda conn: self.store.stats(conn, queue)))

    def recover(self, queue: str | None) -> Flow[Recovery]:
        names = [queue] if queue is not None else (yield from self._run(self.store.queues))
        totals = [0, 0, 0]
        for name in names:
            done = yield from self._run(partial(self.store.recover, queue=name))
            totals = [totals[0] + done.promoted, totals[1] + done.reclaimed, totals[2] + done.dead]
        return Recovery(*totals)


def _batch(leases: Sequence[Lease], done: Sequence[T | None]) -> Batch[T]:
    succeeded = [item for item in done if item is not None]
    stale = [lease for lease, item in zip(leases, done, strict=True) if item is None]
    return Batch(succeeded, stale)
