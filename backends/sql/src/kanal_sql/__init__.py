"""The SQL backend of kanal: PostgreSQL, MariaDB/MySQL and SQLite on SQLAlchemy 2."""

from __future__ import annotations

from typing import Any

from kanal_sql.backend import SQLBackend


def ddl(url: str, **options: Any) -> str:
    """The SQL that creates kanal's tables for ``url``'s database (nothing is connected to).

    For those who manage their schema themselves (Alembic, a DBA): apply it, then connect
    with ``migrate=false``.
    """
    return SQLBackend.from_url(url, **options).ddl()


__all__ = ["SQLBackend", "ddl"]
