"""Helpers shared by the PostgreSQL systems: the raw psycopg baselines and the peer libraries.

Each of them keeps its tables in a PostgreSQL schema of its own, ``kbench_<system>``, made when
the system is built and dropped with everything in it on close; its connections put that schema
first on their ``search_path``. kanal's tables (``<prefix>_jobs`` ..., in ``public``) cannot
collide with them. Nothing here imports a driver at import time.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

#: Every benchmark schema starts with this (kanal runs with ``?prefix=kbench`` beside them).
SCHEMA_PREFIX = "kbench_"


def libpq_url(url: str) -> str:
    """``url`` as a plain ``postgresql://`` URI that libpq, psycopg and asyncpg accept.

    A SQLAlchemy driver suffix (``postgresql+psycopg://``) and the ``postgres://`` spelling are
    dropped, so every system can take the URL kanal takes.
    """
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return urlunsplit(parts._replace(scheme="postgresql"))


def search_path(schema: str) -> str:
    """The libpq ``options`` value that makes ``schema`` a connection's search path."""
    return f"-c search_path={schema}"


def url_in_schema(url: str, schema: str) -> str:
    """:func:`libpq_url` with ``schema`` as the search path of every connection made from it."""
    parts = urlsplit(libpq_url(url))
    option = f"options={quote(search_path(schema))}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{option}" if parts.query else option))


def create_schema(url: str, schema: str) -> None:
    """(Re)create the empty schema ``schema``: a left-over one from a killed run is dropped first."""
    _ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}")


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    _ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _ddl(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def relation_bytes(url: str, table: str) -> int:
    """The size of ``table`` with its indexes and TOAST (``pg_total_relation_size``), in bytes."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()
    return int(row[0]) if row else 0
