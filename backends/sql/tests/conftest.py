"""Databases for the SQL tests: the ones named by environment variables (CI), else local ones.

- ``postgres_url``: $KANAL_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test
  if it answers, else a PostgreSQL container (testcontainers + Docker).
- ``mysql_url``: $KANAL_MYSQL_URL, else mysql://root@127.0.0.1:3306/test, else a MariaDB
  container.
- ``sqlite_url``: a file in a temporary directory.

Each session works under a table prefix of its own (``sql_prefix``), whose tables are
dropped at the end; tests use queue names of their own, so they never see each other.
Tests that need a database fail, never skip, when it cannot be reached.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kanal.url import redact
from kanal_conformance.harness import unique_name
from kanal_sql import schema
from kanal_sql.config import SQLConfig

LOCAL = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
ENV = {"postgresql": "KANAL_POSTGRES_URL", "mysql": "KANAL_MYSQL_URL"}


def unreachable(url: str) -> str | None:
    """None if the database at ``url`` answers, else why not."""
    engine = create_engine(SQLConfig.parse(url, {}).sync_url, connect_args=_timeout(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def _timeout(url: str) -> dict[str, int]:
    return {"connect_timeout": 3}


@contextlib.contextmanager
def _container(dialect: str) -> Iterator[str]:
    advice = f"set {ENV[dialect]} to a database URL, or start the server at {LOCAL[dialect]}"
    try:
        if dialect == "postgresql":
            from testcontainers.postgres import PostgresContainer as Container

            image = "postgres:16"
        else:
            from testcontainers.mysql import MySqlContainer as Container  # type: ignore[assignment]

            image = "mariadb:11"
    except ImportError:
        pytest.fail(f"nothing answers at {LOCAL[dialect]} and testcontainers is not installed: {advice}")
    try:
        container = Container(image)
        container.start()
    except Exception as exc:
        pytest.fail(f"nothing answers at {LOCAL[dialect]} and Docker could not start one ({exc}): {advice}")
    try:
        url = container.get_connection_url()
        yield url.replace("postgresql+psycopg2://", "postgresql://").replace("mysql+pymysql://", "mysql://")
    finally:
        container.stop()


def _server_url(dialect: str) -> Iterator[str]:
    configured = os.environ.get(ENV[dialect])
    if configured:
        why = unreachable(configured)
        if why is not None:
            pytest.fail(f"{ENV[dialect]}={redact(configured)} does not answer: {why}")
        yield configured
        return
    if unreachable(LOCAL[dialect]) is None:
        yield LOCAL[dialect]
        return
    with _container(dialect) as url:
        yield url


@pytest.fixture(scope="session")
def sql_prefix() -> str:
    """A table prefix of this session's own."""
    return unique_name("kt_")[:20]


def drop_tables(url: str, prefix: str) -> None:
    """Drop the tables kanal made under ``prefix`` at ``url``."""
    config = SQLConfig.parse(url, {"prefix": prefix})
    engine = create_engine(config.sync_url)
    try:
        with engine.begin() as conn:
            schema.tables(prefix, config.schema).metadata.drop_all(conn)
    finally:
        engine.dispose()


def with_prefix(url: str, prefix: str) -> str:
    """``url`` with kanal's ``prefix`` query parameter added."""
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


@pytest.fixture(scope="session")
def postgres_url(sql_prefix: str) -> Iterator[str]:
    """A PostgreSQL database; kanal's tables there are under ``sql_prefix``."""
    for url in _server_url("postgresql"):
        yield with_prefix(url, sql_prefix)
        drop_tables(url, sql_prefix)


@pytest.fixture(scope="session")
def mysql_url(sql_prefix: str) -> Iterator[str]:
    """A MariaDB/MySQL database; kanal's tables there are under ``sql_prefix``."""
    for url in _server_url("mysql"):
        yield with_prefix(url, sql_prefix)
        drop_tables(url, sql_prefix)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file of this session's own."""
    path: Path = tmp_path_factory.mktemp("sqlite") / "jobs.db"
    return f"sqlite:///{path}"
