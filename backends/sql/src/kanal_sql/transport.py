"""Run a SQL flow's calls: on a SQLAlchemy ``Engine``, or an ``AsyncEngine``.

A :class:`Transaction` is a function of a blocking ``Connection``; the async transport
runs the same function through ``AsyncConnection.run_sync``, so the SQL logic exists
once and only the drivers differ. Connections are in autocommit mode (see
:mod:`kanal_sql.engines`): a transaction's ``fast`` form, when it has one, runs first as
statements that each commit on their own, and only if it cannot settle the call alone does
``body`` run between ``BEGIN`` and ``COMMIT``. A transaction that lost a race (deadlock,
lock timeout, a busy SQLite file, a duplicate id inserted meanwhile) or whose connection
died before its ``COMMIT`` was sent is run again whole.

A :class:`Wait` runs a check and, unless it says "now", blocks: on PostgreSQL until a
``NOTIFY`` names one of the awaited channels (see :mod:`kanal_sql.listen`), elsewhere
for the given time (the flow polls with backoff).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from kanal.errors import BackendUnavailable, ConfigError, InvalidArgument, KanalError
from kanal_sql import dialects
from kanal_sql.config import SQLConfig
from kanal_sql.engines import async_engine, sync_engine
from kanal_sql.store import Retry

#: How many times a transaction that lost a race is run in all.
ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Transaction:
    """Run ``body(connection)`` in one transaction; its return value is the reply."""

    body: Callable[[Connection], Any]
    #: Runs once the transaction has committed.
    done: Callable[[], None] | None = None
    #: Schema changes: when joining a caller's transaction on MariaDB/MySQL, whose DDL
    #: commits whatever transaction is open, run in a transaction of its own instead.
    own: bool = False
    #: The common case in one writing statement, run without BEGIN/COMMIT (never inside a
    #: caller's transaction); None (having written nothing) when ``body`` must run instead.
    #: It must be safe to run again if its connection dies on the way (the operations that
    #: have one are: their replays are no-ops, or a lost lease expires).
    fast: Callable[[Connection], Any] | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Run ``check`` in a transaction; unless it returned 0, block up to ``timeout`` seconds
    (less if ``check`` says time changes things sooner), or until a notification on one
    of ``channels`` (PostgreSQL). Replies what ``check`` returned."""

    check: Callable[[Connection], float | None]
    channels: tuple[str, ...]
    timeout: float

    def blocking_time(self, due: float | None) -> float:
        """How long to block after the check returned ``due``."""
        return self.timeout if due is None else min(self.timeout, due)


class _Attempt:
    """One run of a :class:`Transaction` on a connection, remembering how far it got."""

    __slots__ = ("committing",)

    def __init__(self) -> None:
        #: Whether COMMIT was sent: the transaction may have been applied.
        self.committing = False

    def __call__(self, conn: Connection, call: Transaction) -> Any:
        if call.fast is not None:
            result = call.fast(conn)
            if result is not None:
                return result
        conn.exec_driver_sql(dialects.BEGIN[conn.dialect.name])
        try:
            result = call.body(conn)
            self.committing = True
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            try:
                conn.exec_driver_sql("ROLLBACK")
            except Exception:
                conn.invalidate()  # never hand back a connection whose transaction may be open
            raise
        return result

    def again(self, exc: Exception, attempt: int) -> bool:
        """Whether the call may run again after failing with ``exc``."""
        if attempt >= ATTEMPTS:
            return False
        if dialects.lost_connection(exc):
            return not self.committing
        return isinstance(exc, Retry | IntegrityError) or dialects.retryable(exc)


def _error(exc: Exception, config: SQLConfig) -> Exception:
    """The error to raise for a failed call: kanal's own errors unchanged, database errors
    explained (never with the password)."""
    if isinstance(exc, KanalError) or not isinstance(exc, DBAPIError | Retry):
        return exc
    if isinstance(exc, Retry):
        return BackendUnavailable(f"{config.shown}: the operation kept meeting concurrent changes; try again")
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    lowered = reason.lower()
    if any(m in lowered for m in ("does not exist", "no such table", "doesn't exist")):
        return ConfigError(
            f"kanal's tables are missing in {config.shown} ({reason}); connect once with migrate=true "
            "(the default), or apply the DDL that kanal_sql.ddl() prints"
        )
    if exc.connection_invalidated or isinstance(exc, OperationalError):
        return BackendUnavailable(f"the database at {config.shown} failed: {reason}")
    return exc


class SQLSyncTransport:
    """Runs calls on a blocking SQLAlchemy engine (thread-safe: it has a connection pool)."""

    def __init__(self, config: SQLConfig, channel: str) -> None:
        self._config = config
        self._engine = sync_engine(config)
        self._listeners = None
        if config.dialect == "postgresql":
            from kanal_sql.listen import SyncListeners

            self._listeners = SyncListeners(config, channel)

    def run(self, call: Transaction | Wait) -> Any:
        if isinstance(call, Transaction):
            return self._transaction(call)
        if self._listeners is None:
            due = self._transaction(Transaction(call.check))
            if due != 0:
                time.sleep(call.blocking_time(due))
            return due
        listener, broken = self._listeners.acquire(), True
        try:
            due = self._transaction(Transaction(call.check))
            if due != 0:
                self._listeners.wait(listener, call.channels, call.blocking_time(due))
            broken = False
        finally:
            self._listeners.release(listener, broken)
        return due

    def _transaction(self, call: Transaction) -> Any:
        attempt = 1
        while True:
            run = _Attempt()
            try:
                with self._engine.connect() as conn:
                    result = run(conn, call)
                if call.done is not None:
                    call.done()
                return result
            except Exception as exc:
                if not run.again(exc, attempt):
                    raise _error(exc, self._config) from exc
            attempt += 1

    def close(self) -> None:
        if self._listeners is not None:
            self._listeners.close()
        self._engine.dispose()


class SQLAsyncTransport:
    """Runs calls on a SQLAlchemy ``AsyncEngine``, bound to the event loop that uses it."""

    def __init__(self, config: SQLConfig, channel: str) -> None:
        self._config = config
        self._engine = async_engine(config)
        self._listeners = None
        if config.dialect == "postgresql":
            from kanal_sql.listen import AsyncListeners

            self._listeners = AsyncListeners(config, channel)

    async def run(self, call: Transaction | Wait) -> Any:
        if isinstance(call, Transaction):
            return await self._transaction(call)
        if self._listeners is None:
            due = await self._transaction(Transaction(call.check))
            if due != 0:
                await asyncio.sleep(call.blocking_time(due))
            return due
        listener, broken = await self._listeners.acquire(), True
        try:
            due = await self._transaction(Transaction(call.check))
            if due != 0:
                await self._listeners.wait(listener, call.channels, call.blocking_time(due))
            broken = False
        finally:
            await self._listeners.release(listener, broken)
        return due

    async def _transaction(self, call: Transaction) -> Any:
        attempt = 1
        while True:
            run = _Attempt()
            try:
                async with self._engine.connect() as conn:
                    result = await conn.run_sync(run, call)
                if call.done is not None:
                    call.done()
                return result
            except Exception as exc:
                if not run.again(exc, attempt):
                    raise _error(exc, self._config) from exc
            attempt += 1

    async def close(self) -> None:
        if self._listeners is not None:
            await self._listeners.close()
        await self._engine.dispose()


class JoinedSyncTransport:
    """Runs calls inside the caller's transaction on a ``Connection`` or ``Session``, each in
    a SAVEPOINT, so that a failed call leaves the caller's transaction usable (on SQLite,
    whose Python driver commits when a SAVEPOINT is released, directly in the transaction)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def run(self, call: Transaction | Wait) -> Any:
        if isinstance(call, Wait):
            raise InvalidArgument("an operation that waits cannot join a caller's transaction")
        conn = self._connection
        conn = conn.connection() if isinstance(conn, Session) else conn
        if not isinstance(conn, Connection):
            raise InvalidArgument(
                f"connection= takes a SQLAlchemy Connection or Session, not {type(conn).__name__}"
            )
        if call.own and conn.dialect.name in ("mysql", "mariadb"):
            with conn.engine.begin() as own:
                return call.body(own)
        if conn.dialect.name == "sqlite":  # pysqlite's SAVEPOINTs commit on release (see docs)
            return call.body(conn)
        with conn.begin_nested():
            return call.body(conn)

    def close(self) -> None:
        """Nothing to release: the connection is the caller's."""


class JoinedAsyncTransport:
    """Runs calls inside the caller's transaction on an ``AsyncConnection`` or ``AsyncSession``."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def run(self, call: Transaction | Wait) -> Any:
        if isinstance(call, Wait):
            raise InvalidArgument("an operation that waits cannot join a caller's transaction")
        conn = self._connection
        conn = await conn.connection() if isinstance(conn, AsyncSession) else conn
        if not isinstance(conn, AsyncConnection):
            raise InvalidArgument(
                f"connection= takes a SQLAlchemy AsyncConnection or AsyncSession, not {type(conn).__name__}"
            )
        if call.own and conn.dialect.name in ("mysql", "mariadb"):
            async with conn.engine.begin() as own:
                return await own.run_sync(call.body)
        if conn.dialect.name == "sqlite":
            return await conn.run_sync(call.body)
        async with conn.begin_nested():
            return await conn.run_sync(call.body)

    async def close(self) -> None:
        """Nothing to release: the connection is the caller's."""
