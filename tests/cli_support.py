"""Fixtures and checks for the tests of the ``kanal`` command line (``tests/test_cli*.py``).

Loaded by those modules with ``pytest_plugins = ["cli_support"]``.

- ``cli``: a :class:`Cli`, which runs ``kanal`` in-process (click's ``CliRunner``) or as a
  process of its own, on a SQLite file of the test's own; ``any_cli`` does the same on
  SQLite, Redis and PostgreSQL in turn. Each command connects anew, so the backend must keep
  jobs between connections: never ``memory://``.
- Redis and PostgreSQL are $KANAL_REDIS_URL and $KANAL_POSTGRES_URL (default: the local
  servers); the tests fail, never skip, when they do not answer. Each session works under
  a key or table prefix of its own, removed at the end.

The test modules import :class:`Cli` for type checking only, so that pytest rewrites the
asserts here (it rewrites a plugin only if the plugin is not imported first).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, make_url

import kanal
from kanal.cli import main
from kanal_sql import schema
from kanal_sql.config import SQLConfig

REDIS_URL = os.environ.get("KANAL_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("KANAL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: Fails a test, rather than hanging it, if a ``kanal`` process does not finish.
PROCESS_TIMEOUT = 60


def unique(prefix: str) -> str:
    """A name no other test or session uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters added."""
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


@dataclass(frozen=True)
class Cli:
    """``kanal`` bound to one backend URL (through ``$KANAL_URL``)."""

    url: str

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        """Run ``kanal ARGS`` in-process."""
        environment = {"KANAL_URL": self.url, **(env or {})}
        return CliRunner().invoke(main, list(args), input=input, env=environment, catch_exceptions=False)

    def json(self, *args: str, input: str | None = None) -> Any:
        """The parsed ``--json`` output of a command that must succeed."""
        result = self(*args, "--json", input=input)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def error(self, *args: str, input: str | None = None) -> str:
        """The message of a command that must fail with exit status 1, one ``Error: ...`` line on
        stderr and nothing on stdout."""
        result = self(*args, input=input)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert result.stderr.startswith("Error: "), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        return result.stderr.removeprefix("Error: ").rstrip("\n")

    def usage_error(self, *args: str, input: str | None = None) -> str:
        """The output of a command that must be refused as misuse: exit status 2, with the usage."""
        result = self(*args, input=input)
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
        assert result.stderr.startswith("Usage: kanal ")
        assert "Traceback" not in result.output
        return result.stderr

    def process(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m kanal ARGS`` as a process of its own."""
        return subprocess.run(
            [sys.executable, "-m", "kanal", *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, "KANAL_URL": self.url},
            timeout=PROCESS_TIMEOUT,
            check=False,
        )

    def queue(self) -> kanal.Queue:
        """A client on the same backend, to set up and check what the commands did."""
        return kanal.connect(self.url)


@pytest.fixture(scope="session")
def cli_redis_url() -> Iterator[str]:
    """Redis, under a key prefix of this session's own."""
    prefix = unique("kcli-")
    yield with_query(REDIS_URL, prefix=prefix)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{{{prefix}*"):
            client.unlink(key)
    finally:
        client.close()


@contextmanager
def postgres_tables() -> Iterator[str]:
    """A PostgreSQL URL with a table prefix of its own, whose tables are dropped afterwards."""
    prefix = unique("kcli_")
    yield with_query(POSTGRES_URL, prefix=prefix)
    engine = create_engine(SQLConfig.parse(POSTGRES_URL, {}).sync_url)
    try:
        with engine.begin() as conn:
            schema.tables(prefix).metadata.drop_all(conn)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def cli_postgres_url() -> Iterator[str]:
    """PostgreSQL, under a table prefix of this session's own."""
    with postgres_tables() as url:
        yield url


@pytest.fixture
def cli_sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of the test's own."""
    return f"sqlite:///{tmp_path}/k.db"


@pytest.fixture
def cli(cli_sqlite_url: str) -> Cli:
    """``kanal`` on a SQLite file of the test's own."""
    return Cli(cli_sqlite_url)


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def any_cli(request: pytest.FixtureRequest, cli_sqlite_url: str) -> Cli:
    """``kanal`` on each backend in turn."""
    if request.param == "sqlite":
        return Cli(cli_sqlite_url)
    return Cli(str(request.getfixturevalue(f"cli_{request.param}_url")))


@pytest.fixture
def redis_cli(cli_redis_url: str) -> Cli:
    """``kanal`` on Redis: the quickest backend to start a process on (SQLAlchemy is slow to import)."""
    return Cli(cli_redis_url)


@pytest.fixture
def cli_queue() -> str:
    """A queue name of the test's own (Redis and PostgreSQL are shared by the session)."""
    return unique("q-")


#: The password in the URLs of ``secret_cli`` and ``fresh_secret_cli``: no output may show it.
SECRET = "s3cret"


def _with_secret(url: str) -> str:
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


@pytest.fixture
def secret_cli(cli_postgres_url: str) -> Cli:
    """``kanal`` on PostgreSQL with the password ``s3cret`` in the URL (the server trusts anyone)."""
    return Cli(_with_secret(cli_postgres_url))


@pytest.fixture
def fresh_secret_cli() -> Iterator[Cli]:
    """Like ``secret_cli``, under a table prefix of the test's own (no tables yet)."""
    with postgres_tables() as url:
        yield Cli(_with_secret(url))
