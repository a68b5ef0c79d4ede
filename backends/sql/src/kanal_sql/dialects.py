"""What differs between PostgreSQL, MariaDB/MySQL and SQLite, in one place.

The one-statement forms of the hot operations, which differ the most, are in
:mod:`kanal_sql.statements`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Double, Insert, Table, literal_column, select, text, type_coerce
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

#: MySQL error codes worth retrying the whole transaction for: deadlock, lock wait timeout.
_MYSQL_RETRY = {1213, 1205}
#: PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock.
_PG_RETRY = {"40001", "40P01"}

#: The database's current time in epoch seconds, as SQL: constant within one statement, so
#: every use in a statement sees the same instant.
CLOCK = {
    "postgresql": "CAST(extract(epoch FROM statement_timestamp()) AS float8)",
    "mysql": "CAST(UNIX_TIMESTAMP(NOW(6)) AS DOUBLE)",
    "mariadb": "CAST(UNIX_TIMESTAMP(NOW(6)) AS DOUBLE)",
    # julianday has millisecond precision; 'now' is the same within one sqlite3_step
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
#: How a transaction starts. Connections run in autocommit mode, so a single statement is
#: its own transaction. Transactions run at READ COMMITTED, so each statement sees what
#: others committed before it (the locking reads rely on it); PostgreSQL says so in every
#: BEGIN, which also holds behind a pooler that moves sessions. SQLite writers take the
#: write lock at once, instead of failing half-way when a read transaction tries to become
#: a write.
BEGIN = {
    "postgresql": "BEGIN ISOLATION LEVEL READ COMMITTED",
    "mysql": "BEGIN",
    "mariadb": "BEGIN",
    "sqlite": "BEGIN IMMEDIATE",
}
#: Sets the session up once per connection: READ COMMITTED for MariaDB/MySQL's transactions
#: (their default is REPEATABLE READ) and everyone's single statements.
SESSION = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "mysql": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
}


def server_now(name: str) -> ColumnElement[float]:
    """The database's current time in epoch seconds (never the client's clock)."""
    return type_coerce(literal_column(CLOCK[name]), Double())


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


def notifies(conn: Connection) -> bool:
    """Whether waiters are woken by NOTIFY (PostgreSQL) rather than polling."""
    return conn.dialect.name == "postgresql"


def notify(conn: Connection, channel: str, payloads: Sequence[str]) -> None:
    """Wake PostgreSQL listeners of ``channel`` at commit; a no-op elsewhere (they poll)."""
    if notifies(conn) and payloads:
        conn.execute(
            text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
            {"channel": channel, "payloads": list(dict.fromkeys(payloads))},
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


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection died (SQLAlchemy has invalidated it)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def is_denied(exc: DBAPIError) -> bool:
    """Whether the database refused for lack of privileges."""
    message = str(exc.orig).lower()
    return any(w in message for w in ("permission denied", "command denied", "access denied", "readonly"))
