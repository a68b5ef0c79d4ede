"""SQLAlchemy engines set up for a job queue, one function per API (sync, async).

Connections run in autocommit mode: an operation that is one statement is sent alone (one
round trip), and the transport brackets the others with ``BEGIN`` / ``COMMIT`` itself
(see :mod:`kanal_sql.transport`), so nothing else is sent per call: no ping on checkout,
no rollback on return.

- PostgreSQL and MariaDB/MySQL run their transactions at READ COMMITTED, so each statement
  sees what others committed before it (the locking reads rely on it).
- SQLite runs in WAL mode with a busy timeout; its transactions start with
  ``BEGIN IMMEDIATE``: writers queue up for the one write lock at the start, instead of
  failing half-way when a read transaction tries to become a write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kanal_sql.config import SQLConfig
from kanal_sql.dialects import SESSION

#: How long a SQLite writer waits for the write lock before the transaction is retried.
SQLITE_BUSY_MS = 10_000
_OPTIONS: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}


def sync_engine(config: SQLConfig) -> Engine:
    """A blocking engine (thread-safe: it has a connection pool)."""
    engine = create_sync_engine(config.sync_url, **_OPTIONS)
    _setup(engine, config)
    return engine


def async_engine(config: SQLConfig) -> AsyncEngine:
    """An asyncio engine; kanal's SQL runs on it through ``AsyncConnection.run_sync``."""
    engine = create_async_engine(config.async_url, **_OPTIONS)
    _setup(engine.sync_engine, config)
    return engine


def _setup(engine: Engine, config: SQLConfig) -> None:
    if config.dialect == "sqlite":
        statements = [
            "PRAGMA journal_mode=WAL",
            f"PRAGMA busy_timeout={SQLITE_BUSY_MS}",
            "PRAGMA synchronous=NORMAL",
        ]
    else:
        statements = [SESSION[config.dialect]]

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        if config.dialect == "sqlite":
            dbapi_connection.isolation_level = None  # the transport issues BEGIN itself
        cursor = dbapi_connection.cursor()  # SQLAlchemy has set autocommit mode already
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
