"""Backends for the task and worker tests: memory, SQLite, and the servers CI provides.

The Redis, PostgreSQL and MariaDB URLs come from $KANAL_REDIS_URL, $KANAL_POSTGRES_URL and
$KANAL_MYSQL_URL (default: the local servers); a server that cannot be reached fails the
tests that need it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kanal

SERVERS = {
    "redis": ("KANAL_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "postgres": ("KANAL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": ("KANAL_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}

#: Backends a worker can share across processes.
SHARED_BACKENDS = ["sqlite", "redis", "postgres", "mysql"]


def server_url(name: str, tmp_path: Path) -> str:
    """The URL of backend ``name``; SQLite is a file in ``tmp_path``."""
    if name == "memory":
        return "memory://"
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'kanal.db'}"
    variable, default = SERVERS[name]
    return os.environ.get(variable, default)


@pytest.fixture(params=["memory", *SHARED_BACKENDS])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every backend, in-process."""
    return server_url(request.param, tmp_path)


@pytest.fixture(params=SHARED_BACKENDS)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every backend that several processes can share."""
    return server_url(request.param, tmp_path)


@pytest.fixture
def queue_name() -> str:
    """A queue no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def app(url: str, queue_name: str) -> Iterator[kanal.App]:
    """An app on each backend, its queue purged afterwards."""
    application = kanal.App(url, queue=queue_name)
    yield application
    application.queue.purge(queue_name)
    application.close()
