"""What differs between PostgreSQL, MariaDB/MySQL and SQLite, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Double, Insert, Table, func, literal_column, select, type_coerce
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

#: MySQL error codes worth retrying the whole transaction for: deadlock, lock wait timeout.
_MYSQL_RETRY = {1213, 1205}
#: PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock.
_PG_RETRY = {"40001", "40P01"}


def server_now(name: str) -> ColumnElement[float]:
    """The database's current time in epoch seconds (never the client's clock)."""
    if name == "postgresql":
        expr: ColumnElement[Any] = func.extract("epoch", func.clock_timestamp())
    elif name in ("mysql", "mariadb"):
        expr = func.unix_timestamp(func.now(6))
    else:  # SQLite: julianday has millisecond precision
        expr = (func.julianday("now") - 2440587.5) * 86400.0
    return type_coerce(expr, Double())


def now(conn: Connection) -> float:
    """Read the database's clock."""
    return float(conn.execute(select(server_now(conn.dialect.name))).scalar_one())


def insert_ignoring_duplicates(conn: Connection, table: Table) -> Insert:
    """An INSERT that skips rows whose unique key exists (and writes nothing for them)."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    # ON DUPLICATE KEY UPDATE key = key: a no-op that, unlike INSERT IGNORE, hides no other error
    return mysql.insert(table).on_duplicate_key_update({c.name: c for c in table.primary_key.columns})


def update_returning(conn: Connection) -> bool:
    """Whether ``UPDATE … RETURNING`` exists (PostgreSQL, SQLite; not MariaDB/MySQL)."""
    return bool(conn.dialect.update_returning)


def notify(conn: Connection, channel: str, payloads: Sequence[str]) -> None:
    """Wake PostgreSQL listeners of ``channel`` at commit; a no-op elsewhere (they poll)."""
    if conn.dialect.name == "postgresql" and payloads:
        conn.execute(
            select(func.pg_notify(channel, literal_column("p"))).select_from(
                func.unnest(postgresql.array(list(dict.fromkeys(payloads)))).alias("p")
            )
        )


def retryable(exc: BaseException) -> bool:
    """Whether a failed transaction may simply be run again (deadlock, lock timeout, busy)."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    orig: Any = exc.orig
    if getattr(orig, "sqlstate", None) in _PG_RETRY:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_RETRY:
        return True
    return "database is locked" in str(orig).lower()


def is_denied(exc: DBAPIError) -> bool:
    """Whether the database refused for lack of privileges."""
    message = str(exc.orig).lower()
    return any(w in message for w in ("permission denied", "command denied", "access denied", "readonly"))
