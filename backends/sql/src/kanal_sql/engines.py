"""SQLAlchemy engines set up for a job queue, one function per API (sync, async).

- PostgreSQL and MariaDB/MySQL run at READ COMMITTED, so each statement sees what others
  committed before it (the locking reads rely on it).
- SQLite runs in WAL mode with a busy timeout, and every transaction starts with
  ``BEGIN IMMEDIATE``: writers queue up for the one write lock at the start, instead of
  failing half-way when a read transaction tries to become a write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kanal_sql.config import SQLConfig

#: How long a SQLite writer waits for the write lock before the transaction is retried.
SQLITE_BUSY_MS = 10_000


def sync_engine(config: SQLConfig) -> Engine:
    """A blocking engine (thread-safe: it has a connection pool)."""
    engine = create_sync_engine(config.sync_url, **_options(config))
    _setup(engine, config)
    return engine


def async_engine(config: SQLConfig) -> AsyncEngine:
    """An asyncio engine; kanal's SQL runs on it through ``AsyncConnection.run_sync``."""
    engine = create_async_engine(config.async_url, **_options(config))
    _setup(engine.sync_engine, config)
    return engine


def _options(config: SQLConfig) -> dict[str, Any]:
    if config.dialect == "sqlite":
        return {}
    return {"pool_pre_ping": True, "isolation_level": "READ COMMITTED"}


def _setup(engine: Engine, config: SQLConfig) -> None:
    if config.dialect != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # kanal issues BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={SQLITE_BUSY_MS}", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
