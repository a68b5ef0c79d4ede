"""What only the Redis backend has to get right: scripts, connections, keys, URLs, servers.

Each test runs through ``kanal.connect`` and ``kanal.connect_async`` (``api``) where both
apply: on the shared server under a prefix of its own, or on a private ``redis-server``
when it touches server-wide state (SCRIPT FLUSH, config, command counters, DBSIZE).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio.connection
import redis.connection
from redis_servers import (
    RawClient,
    free_port,
    kill_named,
    open_queue,
    prefix_keys,
    raw_client,
    text,
    with_prefix,
)

import kanal
from kanal import JobSpec, JobState, Lease, Queue, RateLimit
from kanal.flows import run_sync
from kanal_conformance.harness import unique_name
from kanal_redis import RedisBackend, RedisConfig
from kanal_redis.scripts import LIBRARY, script

APIS = pytest.mark.parametrize("api", ["sync", "async"])
LONG = 600.0
SECRET = "s3cret"

MakeQueue = Callable[..., Queue]
SpawnRedis = Callable[..., Any]


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return redis_prefix


@pytest.fixture
def url(redis_url: str, prefix: str) -> str:
    """The shared server, under this test's own prefix."""
    return with_prefix(redis_url, prefix)


@pytest.fixture
def raw(redis_url: str) -> Iterator[RawClient]:
    """A plain redis-py client on the shared server."""
    client = raw_client(redis_url)
    yield client
    client.close()


@pytest.fixture
def qname() -> str:
    return unique_name("q")


# ---------------------------------------------------------------------- scripts


@APIS
def test_function_flush_mid_run_reloads_the_library(
    api: str, spawn_redis: SpawnRedis, make_queue: MakeQueue
) -> None:
    server = spawn_redis()
    admin = raw_client(server.url)
    queue = make_queue(api, server.url)
    first = queue.enqueue("q", {"n": 1})
    assert _libraries(admin) == [LIBRARY.name]

    admin.function_flush()
    assert _libraries(admin) == []

    [lease] = queue.dequeue("q", lease_timeout=LONG)
    assert lease.id == first.id
    assert queue.ack(lease, "ok").state is JobState.COMPLETED
    second = queue.enqueue("q", {"n": 2})
    assert queue.get("q", second.id) is not None
    assert _libraries(admin) == [LIBRARY.name]
    stats = queue.stats("q")
    assert (stats.ready, stats.leased, stats.completed) == (1, 0, 1)
    assert _script_calls(admin)["eval"] == 0
    admin.close()


@APIS
def test_without_functions_scripts_run_by_sha_and_survive_script_flush(
    api: str, spawn_redis: SpawnRedis, make_queue: MakeQueue
) -> None:
    server = spawn_redis("--rename-command", "FCALL", "")  # as Redis 6 has no FCALL
    admin = raw_client(server.url)
    queue = make_queue(api, server.url)
    first = queue.enqueue("q", {"n": 1})
    shas = [script(name).sha for name in ("dequeue", "ack", "enqueue")]
    assert admin.script_exists(shas[2]) == [True]

    admin.script_flush()
    assert admin.script_exists(*shas) == [False, False, False]

    [lease] = queue.dequeue("q", lease_timeout=LONG)
    assert lease.id == first.id
    assert queue.ack(lease, "ok").state is JobState.COMPLETED
    second = queue.enqueue("q", {"n": 2})
    assert queue.get("q", second.id) is not None
    # The fallback sent the bodies (EVAL), so the server knows these scripts again.
    assert admin.script_exists(*shas) == [True, True, True]
    stats = queue.stats("q")
    assert (stats.ready, stats.leased, stats.completed) == (1, 0, 1)
    assert _libraries(admin) == []
    assert _script_calls(admin)["evalsha"] > 0
    admin.close()


def _libraries(admin: RawClient) -> list[str]:
    """The names of the function libraries on the server (FUNCTION LIST, a RESP2 reply)."""
    return [text(info[1]) for info in admin.function_list()]


# ---------------------------------------------------------------------- connections


@APIS
def test_killed_connections_never_half_apply_a_change(
    api: str, url: str, raw: RawClient, qname: str, make_queue: MakeQueue
) -> None:
    """Connections killed between and during calls: every job ends completed exactly once."""
    name = unique_name("kt-conn-")
    queue = make_queue(api, f"{url}&client_name={name}")
    ids = {job.id for job in queue.enqueue_many(qname, range(50))}
    stop = threading.Event()
    kills: collections.Counter[str] = collections.Counter()

    def killer() -> None:  # kills while calls are in flight, then lets the loop finish
        admin = raw_client(url)
        try:
            while kills["during"] < 10 and not stop.wait(random.uniform(0.005, 0.03)):
                kills["during"] += kill_named(admin, name)
        finally:
            admin.close()

    acked: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    try:
        step = 0
        while time.monotonic() < deadline:
            step += 1
            if step % 5 == 0 and kills["between"] < 5:
                kills["between"] += kill_named(raw, name)
            try:
                leases = queue.dequeue(
                    qname, limit=2, wait=0 if thread.is_alive() else 0.5, lease_timeout=0.4
                )
                if not leases and not thread.is_alive() and queue.stats(qname).completed == len(ids):
                    break
            except kanal.BackendUnavailable:
                errors["dequeue"] += 1  # a job it leased comes back when the lease expires
                continue
            for lease in leases:
                try:
                    job = queue.ack(lease)
                except kanal.BackendUnavailable:
                    errors["ack"] += 1  # applied, or the lease expires and the job comes back
                except kanal.StaleLease:
                    errors["stale"] += 1  # retries outlasted the lease: it is delivered again
                else:
                    assert job.state is JobState.COMPLETED
                    acked[job.id] += 1
    finally:
        stop.set()
        thread.join(5)
    print(f"kills: {dict(kills)}, errors: {dict(errors)}, steps: {step}")
    assert kills["between"] > 0, kills
    assert kills["during"] > 0, kills
    completed = {job.id for job in queue.list_jobs(qname, states="completed", limit=100)}
    stats = queue.stats(qname)
    assert completed == ids, (len(completed), stats, errors, kills)
    assert set(acked) <= ids
    assert [n for n in acked.values() if n != 1] == [], acked
    assert (stats.completed, stats.ready, stats.leased, stats.scheduled, stats.dead) == (50, 0, 0, 0, 0)


@APIS
def test_consumer_killed_while_holding_leases(api: str, url: str, qname: str, make_queue: MakeQueue) -> None:
    queue = make_queue(api, url)
    ids = {job.id for job in queue.enqueue_many(qname, range(5))}
    code = textwrap.dedent(
        """
        import os, time, kanal
        queue = kanal.connect(os.environ["KT_URL"])
        leases = queue.dequeue(os.environ["KT_QUEUE"], limit=5, lease_timeout=0.5)
        print("leased", len(leases), flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "KT_URL": url, "KT_QUEUE": qname}  # not on the command line: it may hold a password
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stderr is not None
        line = child.stdout.readline().decode().strip()
        if line != "leased 5":
            child.kill()
            pytest.fail(f"the consumer printed {line!r}: {child.stderr.read().decode()}")
        assert queue.stats(qname).leased == 5
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    again: list[Lease] = []
    deadline = time.monotonic() + 3
    while len(again) < 5 and time.monotonic() < deadline:
        again += queue.dequeue(qname, limit=5 - len(again), wait=max(deadline - time.monotonic(), 0))
    assert {lease.id for lease in again} == ids
    assert [lease.job.attempts for lease in again] == [2] * 5
    assert {lease.job.last_error for lease in again} == {"lease expired"}


# ---------------------------------------------------------------------- keys


def _key_sizes(admin: RawClient, prefix: str) -> tuple[dict[str, tuple[str, int]], dict[str, int]]:
    """The prefix's keys without a TTL, as {key: (type, size)}, and those with one {key: ms}."""
    sizes = {"hash": admin.hlen, "zset": admin.zcard, "set": admin.scard, "list": admin.llen}
    persistent: dict[str, tuple[str, int]] = {}
    volatile: dict[str, int] = {}
    for key in prefix_keys(admin, prefix):
        ttl = int(admin.pttl(key))
        kind = text(admin.type(key))
        if ttl == -2 or kind == "none":  # gone since the scan
            continue
        if ttl >= 0:
            volatile[key] = ttl
        else:
            persistent[key] = (kind, int(sizes[kind](key)) if kind in sizes else 1)
    return persistent, volatile


def _one_cycle(queue: Queue, qname: str) -> None:
    queue.enqueue(qname, "baseline")
    [lease] = queue.dequeue(qname, lease_timeout=LONG)
    queue.ack(lease, result_ttl=0)


def _churn(queue: Queue, qname: str, cycles: int) -> None:
    """``cycles`` rounds of every kind of change, with per-key limits, leaving no job behind."""
    queue.set_concurrency_limit(qname, 2, key="*")
    queue.set_rate_limit(qname, RateLimit(rate=100_000, burst=50), key="*")
    queue.set_rate_limit(qname, RateLimit(rate=1_000_000, burst=1_000))
    for i in range(cycles):
        kind = i % 5
        if kind == 0:  # bulk
            queue.enqueue_many(qname, range(100))
            leases = queue.dequeue(qname, limit=100, lease_timeout=LONG)
            assert len(leases) == 100
            assert len(queue.ack_many(leases).succeeded) == 100
        elif kind == 1:  # keyed, 3 jobs on each of 2 fresh keys: the third waits parked
            queue.enqueue_many(qname, [JobSpec(n, key=f"k{i}-{n % 2}", priority=n) for n in range(6)])
            leases = queue.dequeue(qname, limit=10, lease_timeout=LONG)
            assert len(leases) == 4
            assert len(queue.ack_many(leases).succeeded) == 4
            leases = queue.dequeue(qname, limit=10, lease_timeout=LONG)
            assert len(leases) == 2
            for lease in leases:
                queue.ack(lease, {"r": i})
        elif kind == 2:  # cancel, ready and scheduled, keyed and not
            jobs = queue.enqueue_many(
                qname, [JobSpec(1), JobSpec(2, delay=LONG), JobSpec(3, key=f"c{i}"), JobSpec(4, key=f"c{i}")]
            )
            for job in jobs:
                assert queue.cancel(qname, job.id).state is JobState.CANCELLED
        elif kind == 3:  # fail, then purge the dead
            queue.enqueue_many(qname, [JobSpec(1), JobSpec(2, key=f"f{i}")])
            leases = queue.dequeue(qname, limit=2, lease_timeout=LONG)
            for lease in leases:
                queue.fail(lease, "boom")
            assert queue.purge(qname, states="dead") == 2
        else:  # requeue, extend, dequeue again, ack; a redriven dead job
            queue.enqueue(qname, "again", key=f"r{i}", max_attempts=2)
            [lease] = queue.dequeue(qname, lease_timeout=LONG)
            queue.requeue(lease, error="retry")
            [lease] = queue.dequeue(qname, lease_timeout=LONG)
            lease = queue.extend(lease, LONG)
            assert queue.requeue(lease).state is JobState.DEAD
            assert queue.redrive(qname) == 1
            [lease] = queue.dequeue(qname, lease_timeout=LONG)
            queue.ack(lease)


@APIS
def test_keys_return_to_baseline_after_churn(
    api: str, url: str, prefix: str, raw: RawClient, qname: str, make_queue: MakeQueue
) -> None:
    queue = make_queue(api, url, result_ttl=0)
    _one_cycle(queue, qname)
    baseline, _ = _key_sizes(raw, prefix)
    assert baseline, "the cycle wrote no key under the prefix: is SCAN looking in the right place?"

    _churn(queue, qname, 500)
    stats = queue.stats(qname)
    assert stats.total == 0, stats
    queue.set_concurrency_limit(qname, None, key="*")
    queue.set_rate_limit(qname, None, key="*")
    queue.set_rate_limit(qname, None)

    after, volatile = _key_sizes(raw, prefix)
    assert after == baseline
    assert all(ttl <= 10_000 for ttl in volatile.values()), volatile


@APIS
def test_payloads_of_any_length_come_back_whole(
    api: str, url: str, qname: str, make_queue: MakeQueue
) -> None:
    # Encoded (JSON) lengths at the edges of the 64-byte pieces a payload is stored in, and
    # of the 1,024 bytes beyond which it is one field.
    lengths = [2, 3, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 100_000]
    payloads = ["".join(random.choice("ab") for _ in range(n - 2)) for n in lengths]
    queue = make_queue(api, url)
    jobs = queue.enqueue_many(qname, payloads)
    assert [job.payload for job in jobs] == payloads
    assert [queue.get(qname, job.id).payload for job in jobs] == payloads  # type: ignore[union-attr]
    assert [job.payload for job in queue.list_jobs(qname, limit=100)] == payloads
    assert [
        job.payload for job in queue.enqueue_many(qname, [JobSpec("x", id=j.id) for j in jobs])
    ] == payloads
    leases = queue.dequeue(qname, limit=100, lease_timeout=LONG)
    assert [lease.payload for lease in leases] == payloads
    assert [job.payload for job in queue.ack_many(leases).succeeded] == payloads


def test_a_waiting_job_is_a_compact_hash(url: str, prefix: str, raw: RawClient, qname: str) -> None:
    """A payload up to 1,024 bytes is stored in 64-byte pieces, so that the job's hash keeps
    Redis's listpack encoding (hash-max-listpack-value is 64 by default)."""
    with kanal.connect(url) as queue:
        small, large = queue.enqueue_many(qname, ["x" * 900, "x" * 1100])
    encoding = {
        job.id: text(raw.object("encoding", f"{{{prefix}:{qname}}}:j:{job.id}")) for job in (small, large)
    }
    assert encoding == {small.id: "listpack", large.id: "hashtable"}


@APIS
def test_token_buckets_of_idle_keys_are_not_kept(
    api: str, url: str, prefix: str, raw: RawClient, qname: str, make_queue: MakeQueue
) -> None:
    """A bucket that has refilled is the same as none: keys used once must not pile up."""
    queue = make_queue(api, url, result_ttl=0)
    queue.set_rate_limit(qname, RateLimit(rate=100_000, burst=50), key="*")
    for i in range(100):
        queue.enqueue(qname, i, key=f"user-{i}")
        [lease] = queue.dequeue(qname, lease_timeout=LONG)
        queue.ack(lease)
    time.sleep(0.01)  # 100 000 tokens a second: every bucket is full again
    queue.enqueue(qname, "last", key="user-last")
    [lease] = queue.dequeue(qname, lease_timeout=LONG)
    queue.ack(lease)
    kept = raw.hkeys(f"{{{prefix}:{qname}}}:buckets")
    assert len(kept) <= 1, f"{len(kept)} full token buckets kept, e.g. {sorted(kept)[:3]}"


@APIS
def test_tombstones_are_removed_by_recover(
    api: str, url: str, prefix: str, raw: RawClient, qname: str, make_queue: MakeQueue
) -> None:
    queue = make_queue(api, url, result_ttl=0.5)
    _one_cycle(queue, qname)
    baseline, _ = _key_sizes(raw, prefix)

    jobs = queue.enqueue_many(qname, [JobSpec(n, key=f"k{n % 7}" if n % 2 else None) for n in range(300)])
    for job in jobs[:20]:
        queue.cancel(qname, job.id)
    done = 20
    while done < len(jobs):
        leases = queue.dequeue(qname, limit=100, lease_timeout=LONG)
        assert leases
        for lease in leases[:5]:
            queue.ack(lease, {"result": lease.payload})
        assert not queue.ack_many(leases[5:]).stale
        done += len(leases)
    stats = queue.stats(qname)
    assert (stats.completed, stats.cancelled, stats.total) == (280, 20, 300)
    assert _key_sizes(raw, prefix)[0] != baseline

    time.sleep(0.7)
    queue.recover()
    assert queue.stats(qname).total == 0
    after, volatile = _key_sizes(raw, prefix)
    assert after == baseline
    assert all(ttl <= 10_000 for ttl in volatile.values()), volatile


# ---------------------------------------------------------------------- server checks


@APIS
@pytest.mark.parametrize(("policy", "warns"), [("allkeys-lru", True), ("noeviction", False)])
def test_warns_when_the_server_may_evict_jobs(
    api: str,
    policy: str,
    warns: bool,
    spawn_redis: SpawnRedis,
    make_queue: MakeQueue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = spawn_redis("--maxmemory-policy", policy)
    queue = make_queue(api, server.url)
    with caplog.at_level(logging.WARNING, logger="kanal.redis"):
        queue.enqueue("q", 1)
        queue.dequeue("q")
    warnings = [r for r in caplog.records if r.name == "kanal.redis" and r.levelno >= logging.WARNING]
    if warns:
        assert len(warnings) == 1, warnings
        assert policy in warnings[0].getMessage()
        assert "noeviction" in warnings[0].getMessage()
    else:
        assert warnings == []


# ---------------------------------------------------------------------- bad input


BAD_PREFIXES = ["a{b", "a}b", "a:b", "a b", "", "x" * 65, "ü"]


@APIS
@pytest.mark.parametrize(
    "bad", BAD_PREFIXES, ids=["open-brace", "close-brace", "colon", "space", "empty", "65", "ü"]
)
def test_bad_prefix_is_a_config_error_and_writes_nothing(
    api: str, bad: str, spawn_redis: SpawnRedis, make_queue: MakeQueue
) -> None:
    server = spawn_redis()
    admin = raw_client(server.url)
    with pytest.raises(kanal.ConfigError, match="prefix"):
        open_queue(api, server.url, prefix=bad)
    encoded = bad.replace(" ", "%20").replace("{", "%7B").replace("}", "%7D")
    with pytest.raises(kanal.ConfigError, match="prefix"):
        open_queue(api, with_prefix(server.url, encoded))
    assert admin.dbsize() == 0
    # 64 characters is the longest allowed prefix.
    queue = make_queue(api, server.url, prefix="x" * 64)
    queue.enqueue("q", 1)
    assert admin.dbsize() > 0
    admin.close()


@APIS
def test_bad_options_and_schemes_are_config_errors(api: str, redis_url: str) -> None:
    with pytest.raises(kanal.ConfigError, match="bogus"):
        open_queue(api, redis_url, bogus=1)
    for bad in ("redis+foo://127.0.0.1:6379/0", "unix+cluster:///tmp/r.sock", "rediss+sentinel://h:1"):
        with pytest.raises(kanal.ConfigError, match="not a Redis URL"):
            open_queue(api, bad)
    with pytest.raises(kanal.ConfigError, match="cluster"):
        open_queue(api, f"{redis_url}?cluster=maybe")
    with pytest.raises(kanal.ConfigError, match="two different key prefixes"):
        open_queue(api, f"{redis_url}?prefix=a", prefix="b")


@APIS
def test_payload_over_the_limit_writes_nothing(
    api: str, spawn_redis: SpawnRedis, make_queue: MakeQueue
) -> None:
    server = spawn_redis()
    admin = raw_client(server.url)
    queue = make_queue(api, server.url, max_payload_bytes=100, prefix="p")
    with pytest.raises(kanal.PayloadTooLarge):
        queue.enqueue("big", "x" * 200)
    with pytest.raises(kanal.PayloadTooLarge):
        queue.enqueue_many("big", ["small", "x" * 200])
    assert prefix_keys(admin, "p") == []
    assert admin.sismember("{p}:queues", "big") == 0
    assert admin.dbsize() == 0
    queue.enqueue("big", "x" * 90)  # the limit is on the encoded payload: 92 bytes
    assert admin.smembers("{p}:queues") == {b"big"}
    admin.close()


# ---------------------------------------------------------------------- wrong servers, secrets


@contextlib.contextmanager
def _http_server() -> Iterator[int]:
    """A TCP server that answers every connection as a web server would, and closes it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.5)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    conn.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _everything_said(exc: BaseException) -> str:
    """The error's message, its chain, and its traceback: all a user may see or log."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


@APIS
@pytest.mark.parametrize("auth", ["", f"user:{SECRET}@"])
def test_a_server_that_is_not_redis_is_backend_unavailable(api: str, auth: str) -> None:
    with _http_server() as port:
        queue = open_queue(api, f"redis://{auth}127.0.0.1:{port}/0")
        try:
            started = time.monotonic()
            with pytest.raises(kanal.BackendUnavailable) as caught:
                queue.enqueue("q", 1)
            elapsed = time.monotonic() - started
        finally:
            with contextlib.suppress(Exception):
                queue.close()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "did not answer as Redis does" in message
    assert SECRET not in _everything_said(caught.value)
    assert elapsed < 15


@APIS
def test_credentials_never_appear(api: str) -> None:
    port = free_port()  # nothing listens there
    url = f"redis://user:{SECRET}@127.0.0.1:{port}/0?prefix=p"
    queue = open_queue(api, url)
    try:
        assert SECRET not in repr(queue)
        assert SECRET not in repr(queue.backend)
        assert SECRET not in str(queue.url)
        with pytest.raises(kanal.BackendUnavailable) as caught:
            queue.enqueue("q", 1)
    finally:
        with contextlib.suppress(Exception):
            queue.close()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert SECRET not in _everything_said(caught.value)


# ---------------------------------------------------------------------- URL forms


@APIS
def test_unix_socket_url(api: str, spawn_redis: SpawnRedis, make_queue: MakeQueue) -> None:
    server = spawn_redis(unixsocket=True)
    assert server.unixsocket is not None
    queue = make_queue(api, f"unix://{server.unixsocket}?db=0&prefix=kt-unix")
    job = queue.enqueue("q", {"via": "unix"})
    [lease] = queue.dequeue("q", lease_timeout=LONG)
    assert lease.id == job.id
    assert lease.payload == {"via": "unix"}
    assert queue.ack(lease, 42).result == 42
    admin = raw_client(server.url)
    assert admin.exists(f"{{kt-unix:q}}:j:{job.id}") == 1
    admin.close()


@APIS
def test_cluster_false_query_parameter(api: str, redis_url: str, prefix: str, make_queue: MakeQueue) -> None:
    queue = make_queue(
        api, with_prefix(f"{redis_url}{'&' if '?' in redis_url else '?'}cluster=false", prefix)
    )
    assert not queue.backend.config.cluster  # type: ignore[attr-defined]
    job = queue.enqueue("q", 1)
    [lease] = queue.dequeue("q", lease_timeout=LONG)
    assert lease.id == job.id
    queue.ack(lease)


def test_rediss_urls_use_tls_connections() -> None:
    config = RedisConfig.parse("rediss://user:pw@redis.example:6380/2?prefix=t", {})
    assert config.prefix == "t"
    assert not config.cluster
    sync_client = config.sync_client()
    assert isinstance(sync_client, redis.Redis)
    assert sync_client.connection_pool.connection_class is redis.connection.SSLConnection
    assert sync_client.connection_pool.connection_kwargs["db"] == 2
    async_client = config.async_client()
    assert isinstance(async_client, redis.asyncio.Redis)
    assert async_client.connection_pool.connection_class is redis.asyncio.connection.SSLConnection
    plain = RedisConfig.parse("redis://redis.example:6380/2", {}).sync_client()
    assert isinstance(plain, redis.Redis)
    assert plain.connection_pool.connection_class is redis.connection.Connection
    assert RedisConfig.parse("rediss+cluster://redis.example:6380", {}).cluster


# ---------------------------------------------------------------------- blocking


def _script_calls(admin: RawClient) -> dict[str, int]:
    stats = admin.info("commandstats")
    return {
        name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
        for name in ("fcall", "evalsha", "eval", "blpop")
    }


@APIS
def test_blocking_dequeue_wakes_on_enqueue_without_polling(
    api: str, spawn_redis: SpawnRedis, make_queue: MakeQueue
) -> None:
    server = spawn_redis()
    admin = raw_client(server.url)
    producer = make_queue(api, server.url)
    producer.stats("q")  # scripts loaded, server checked: the counters below are the consumer's
    got: list[Lease] = []
    returned_at: list[float] = []

    def consume() -> None:
        consumer = open_queue(api, server.url)
        try:
            got.extend(consumer.dequeue("q", wait=5, lease_timeout=LONG))
            returned_at.append(time.monotonic())
        finally:
            consumer.close()

    before = _script_calls(admin)
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    time.sleep(1.0)
    during = _script_calls(admin)
    assert not got, "dequeue returned before anything was enqueued"
    enqueued_at = time.monotonic()
    job = producer.enqueue("q", "wake up")
    thread.join(5)
    assert [lease.id for lease in got] == [job.id]
    assert returned_at[0] - enqueued_at < 0.5
    scripts = sum(during[name] - before[name] for name in ("fcall", "evalsha", "eval"))
    assert scripts < 20, f"{scripts} script calls while blocked for 1 s: that is polling"
    assert during["blpop"] - before["blpop"] >= 1, "the consumer never blocked"
    admin.close()


@APIS
def test_a_woken_dequeue_leases_in_the_round_trip_of_its_wait(
    api: str, spawn_redis: SpawnRedis, make_queue: MakeQueue
) -> None:
    server = spawn_redis()
    admin = raw_client(server.url)
    producer = make_queue("sync", server.url)
    consumer = make_queue(api, server.url)
    producer.stats("q")
    consumer.stats("q")  # scripts loaded, server checked: the counters below are the dequeue's
    got: list[Lease] = []

    def consume() -> None:
        got.extend(consumer.dequeue("q", wait=5, lease_timeout=LONG))

    before = _script_calls(admin)
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    time.sleep(0.5)
    job = producer.enqueue("q", "wake up")
    thread.join(5)
    assert [lease.id for lease in got] == [job.id]
    after = _script_calls(admin)
    # The consumer's empty dequeue (which also registered it as blocking), then its BLPOP sent
    # with the dequeue that leased the job; and the producer's enqueue.
    assert sum(after[name] - before[name] for name in ("fcall", "evalsha", "eval")) == 3
    assert after["blpop"] - before["blpop"] == 1
    admin.close()


def test_wait_ready_returns_once_a_dequeue_may_succeed(url: str, qname: str) -> None:
    """The SPI's wait_ready, which kanal's own dequeue does not use on Redis (it calls
    dequeue_wait): it waits out its timeout on an empty queue and returns at once on a
    queue with a ready job."""
    backend = RedisBackend.from_url(url)
    transport = backend.sync_transport()
    try:
        clock = time.monotonic()
        run_sync(backend.wait_ready([qname], 0.3), transport)
        assert 0.25 < time.monotonic() - clock < 3
        with kanal.connect(url) as queue:
            queue.enqueue(qname, "ready")
        clock = time.monotonic()
        run_sync(backend.wait_ready([qname], 5), transport)
        assert time.monotonic() - clock < 1
    finally:
        transport.close()


@APIS
def test_wait_wakes_when_another_client_acks(api: str, url: str, qname: str, make_queue: MakeQueue) -> None:
    waiter = make_queue(api, url)
    worker = make_queue("sync", url)
    job = waiter.enqueue(qname, "x")
    [lease] = worker.dequeue(qname, lease_timeout=LONG)

    def ack_later() -> None:
        time.sleep(0.2)
        worker.ack(lease, "done")

    thread = threading.Thread(target=ack_later, daemon=True)
    started = time.monotonic()
    thread.start()
    finished = waiter.wait(qname, job.id, timeout=5)
    elapsed = time.monotonic() - started
    thread.join(5)
    assert finished.state is JobState.COMPLETED
    assert finished.result == "done"
    assert 0.15 < elapsed < 1.0
