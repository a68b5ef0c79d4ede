"""Redis servers for the tests: the one named by $KANAL_REDIS_URL (CI), else a local one.

- ``redis_url``: $KANAL_REDIS_URL, else redis://127.0.0.1:6379/0 if it answers, else a
  Redis container (testcontainers + Docker); tests that need it fail when there is none.
- ``redis_cluster_url``: $KANAL_REDIS_CLUSTER_URL, else a 3-master Redis Cluster of
  ``redis-server`` processes on free loopback ports, for the session.
- ``spawn_redis``: private ``redis-server`` processes (own config, own socket) for one test.

The shared servers are never flushed: each test works under a key prefix of its own
(``redis_prefix``, ``redis_cluster_prefix``) whose keys are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_servers import (
    RedisServer,
    delete_prefix,
    free_port,
    open_queue,
    raw_client,
    redis_binaries,
    start_redis_server,
    text,
    unreachable,
)

from kanal import Queue
from kanal.url import redact
from kanal_conformance.harness import unique_name

LOCAL_URL = "redis://127.0.0.1:6379/0"
#: How long a new cluster may take to reach cluster_state:ok.
CLUSTER_TIMEOUT = 20.0


# ---------------------------------------------------------------------- the shared server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server every test may use (under its own prefix). Never flushed."""
    configured = os.environ.get("KANAL_REDIS_URL")
    if configured:
        why = unreachable(configured)
        if why is not None:
            pytest.fail(f"KANAL_REDIS_URL={redact(configured)} does not answer PING: {why}")
        yield configured
        return
    if unreachable(LOCAL_URL) is None:
        yield LOCAL_URL
        return
    with _redis_container() as url:
        yield url


@contextlib.contextmanager
def _redis_container() -> Iterator[str]:
    advice = "set KANAL_REDIS_URL to a Redis server, or start one on 127.0.0.1:6379"
    try:
        from testcontainers.community.redis import RedisContainer
    except ImportError:
        try:
            from testcontainers.redis import RedisContainer
        except ImportError:
            pytest.fail(f"no Redis answers at {LOCAL_URL} and testcontainers is not installed: {advice}")
    try:
        container = RedisContainer("redis:7")  # needs the Docker daemon already
        container.start()
    except Exception as exc:
        pytest.fail(f"no Redis answers at {LOCAL_URL} and Docker could not start one ({exc}): {advice}")
    try:
        yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
    finally:
        container.stop()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on ``redis_url``; its keys are deleted afterwards."""
    prefix = unique_name("kt-")
    yield prefix
    client = raw_client(redis_url)
    try:
        delete_prefix(client, prefix)
    finally:
        client.close()


# ---------------------------------------------------------------------- the cluster


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster: $KANAL_REDIS_CLUSTER_URL, else 3 masters started for the session."""
    configured = os.environ.get("KANAL_REDIS_CLUSTER_URL")
    if configured:
        why = unreachable(configured)
        if why is not None:
            pytest.fail(f"KANAL_REDIS_CLUSTER_URL={redact(configured)} does not answer PING: {why}")
        yield configured
        return
    _, cli = redis_binaries()
    directory = tmp_path_factory.mktemp("redis-cluster")
    nodes: list[RedisServer] = []
    try:
        for _ in range(3):
            port = free_port(bus=True)
            config = str(directory / f"nodes-{port}.conf")
            nodes.append(
                start_redis_server(
                    directory, "--cluster-enabled", "yes", "--cluster-config-file", config, port=port
                )
            )
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        create = subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=CLUSTER_TIMEOUT,
            check=False,
        )
        if create.returncode != 0:
            pytest.fail(
                f"redis-cli --cluster create failed ({create.returncode}):\n{create.stdout}{create.stderr}"
            )
        _wait_cluster_ok(nodes)
        yield f"redis+cluster://{addresses[0]}"
    finally:
        for node in nodes:
            node.stop()


def _wait_cluster_ok(nodes: list[RedisServer]) -> None:
    deadline = time.monotonic() + CLUSTER_TIMEOUT
    states: dict[int, str] = {}
    while time.monotonic() < deadline:
        for node in nodes:
            client = redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=2.0)
            try:
                info = text(client.execute_command("CLUSTER", "INFO"))  # type: ignore[no-untyped-call]
            except redis.RedisError as exc:
                states[node.port] = str(exc)
                continue
            finally:
                client.close()
            fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
            states[node.port] = fields.get("cluster_state", "unknown").strip()
        if states and all(state == "ok" for state in states.values()):
            return
        time.sleep(0.1)
    pytest.fail(f"the Redis Cluster did not reach cluster_state:ok within {CLUSTER_TIMEOUT} s: {states}")


@pytest.fixture
def redis_cluster_prefix(redis_cluster_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the cluster; its keys are deleted afterwards."""
    prefix = unique_name("kt-")
    yield prefix
    client = raw_client(redis_cluster_url)
    try:
        delete_prefix(client, prefix)
    finally:
        client.close()


# ---------------------------------------------------------------------- clients


@pytest.fixture
def make_queue() -> Iterator[Callable[..., Queue]]:
    """``make_queue(api, url, **options)``: a client, closed at the end of the test."""
    opened: list[Queue] = []

    def make(api: str, url: str, **options: Any) -> Queue:
        opened.append(open_queue(api, url, **options))
        return opened[-1]

    yield make
    for client in reversed(opened):
        client.close()


# ---------------------------------------------------------------------- private servers

SpawnRedis = Callable[..., RedisServer]


@pytest.fixture
def spawn_redis() -> Iterator[SpawnRedis]:
    """Start private ``redis-server`` processes: ``spawn_redis(*args, unixsocket=None)``.

    Their directory has a short path (a unix socket path must fit in ~100 bytes); all are
    stopped and removed at the end of the test.
    """
    started: list[RedisServer] = []
    directory = Path(tempfile.mkdtemp(prefix="kt-redis-"))

    def spawn(*extra: str, unixsocket: bool = False) -> RedisServer:
        sock = directory / f"r{len(started)}.sock" if unixsocket else None
        server = start_redis_server(directory, *extra, unixsocket=sock)
        started.append(server)
        return server

    yield spawn
    for server in started:
        server.stop()
    shutil.rmtree(directory, ignore_errors=True)
