"""Helpers of the Redis tests: plain clients, key listings, and redis-server processes."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.cluster

import kanal
from kanal import Queue
from kanal_conformance.harness import SyncOverAsync
from kanal_redis import RedisConfig

#: How long a server we start may take to answer PING.
START_TIMEOUT = 10.0
#: Redis Cluster's bus listens on port + 10000, so a node's port must leave room for it.
CLUSTER_BUS_OFFSET = 10000

RawClient = redis.Redis | redis.cluster.RedisCluster


def raw_client(url: str) -> RawClient:
    """A plain redis-py client for a kanal URL (kanal's own query parameters removed)."""
    config = RedisConfig.parse(url, {})
    options: dict[str, Any] = {"socket_connect_timeout": 3.0, "socket_timeout": 10.0}
    if config.cluster:
        return redis.cluster.RedisCluster.from_url(config.client_url, **options)
    return redis.Redis.from_url(config.client_url, **options)


def unreachable(url: str) -> str | None:
    """None if ``url`` answers PING, else why not."""
    try:
        client = raw_client(url)
    except Exception as exc:  # a cluster client connects as it is built
        return f"{type(exc).__name__}: {exc}"
    try:
        client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def open_queue(api: str, url: str, **options: Any) -> Queue:
    """A client through ``kanal.connect`` (sync) or ``kanal.connect_async`` (async)."""
    if api == "sync":
        return kanal.connect(url, **options)
    return SyncOverAsync(kanal.connect_async(url, **options))  # type: ignore[return-value]


def kill_named(admin: RawClient, name: str) -> int:
    """CLIENT KILL this test's own connections (those named ``name``); how many."""
    killed = 0
    for client in admin.client_list():
        if client.get("name") == name:
            with contextlib.suppress(redis.ResponseError):  # it closed meanwhile
                killed += int(admin.client_kill_filter(_id=client["id"]))
    return killed


def with_prefix(url: str, prefix: str) -> str:
    """``url`` with kanal's ``prefix`` query parameter added."""
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def prefix_keys(client: RawClient, prefix: str) -> list[str]:
    """Every key kanal keeps under ``prefix``: ``{prefix:queue}…`` and ``{prefix}:…``."""
    found: set[str] = set()
    for pattern in (f"{{{prefix}:*", f"{{{prefix}}}:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            found.add(text(key))
    return sorted(found)


def delete_prefix(client: RawClient, prefix: str) -> None:
    """Delete every key under ``prefix`` (one key per command: they may be in many slots)."""
    for key in prefix_keys(client, prefix):
        client.unlink(key)


def free_port(*, bus: bool = False) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (nor on port + 10000 if ``bus``)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port == 6379:
            continue
        if not bus:
            return port
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port
    raise RuntimeError("found no free port on 127.0.0.1")


@dataclass
class RedisServer:
    """A ``redis-server`` process started for the tests (TCP on ``port``, or a unix socket)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    unixsocket: Path | None = None

    @property
    def url(self) -> str:
        if self.unixsocket is not None:
            return f"unix://{self.unixsocket}?db=0"
        return f"redis://127.0.0.1:{self.port}/0"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def redis_binaries() -> tuple[str, str]:
    """The paths of ``redis-server`` and ``redis-cli``; a test failure when they are missing."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.fail(
            "redis-server and redis-cli must be on PATH to start test servers "
            "(for the cluster tests, or set KANAL_REDIS_CLUSTER_URL)"
        )
    return server, cli


def start_redis_server(
    directory: Path, *extra: str, port: int | None = None, unixsocket: Path | None = None
) -> RedisServer:
    """Start ``redis-server`` (no persistence) in ``directory``; return once it answers PING.

    With ``unixsocket`` it listens there and on no TCP port.
    """
    server, _ = redis_binaries()
    if unixsocket is not None:
        port = 0
        extra = ("--unixsocket", str(unixsocket), *extra)
    elif port is None:
        port = free_port()
    log = directory / f"redis-{port if unixsocket is None else unixsocket.stem}.log"
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no", *extra]
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    started = RedisServer(process, port, log, unixsocket)
    deadline = time.monotonic() + START_TIMEOUT
    why: str | None = "no socket yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{' '.join(args)} exited with {process.returncode}:\n{started.log_tail()}")
        if unixsocket is None or unixsocket.exists():
            why = unreachable(started.url)
            if why is None:
                return started
        time.sleep(0.02)
    started.stop()
    pytest.fail(f"{' '.join(args)} did not answer PING within {START_TIMEOUT} s: {why}")
