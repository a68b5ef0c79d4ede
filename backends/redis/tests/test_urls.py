"""Redis URLs and connections: bad URLs are ConfigErrors that never quote a password, an
encoded password works end to end, and a killed connection is replaced transparently.

Everything runs against the shared server under this test's own prefix (and ACL user,
and client name), so it never touches what other tests or people do there.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
import redis
import redis.asyncio.connection
import redis.asyncio.retry
import redis.connection
import redis.retry
from redis.backoff import NoBackoff
from redis_servers import RawClient, kill_named, open_queue, raw_client, with_prefix

import kanal
from kanal import JobState, Queue
from kanal.url import redact
from kanal_conformance.harness import unique_name
from kanal_redis import RedisConfig

APIS = pytest.mark.parametrize("api", ["sync", "async"])
#: Two halves of a password; a message may quote neither.
HEAD, TAIL = "Kq7vZ", "Wm3pX"
SECRET = f"{HEAD}{TAIL}"
LONG = 600.0


@pytest.fixture
def raw(redis_url: str) -> Iterator[RawClient]:
    client = raw_client(redis_url)
    yield client
    client.close()


def everything_said(exc: BaseException) -> str:
    """The error's message, its chain and its traceback: all a user may see or log."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


def assert_no_secret(text: str) -> None:
    assert HEAD not in text
    assert TAIL not in text


def host_port(redis_url: str) -> str:
    """``host:port`` of the shared server."""
    return redis_url.split("://", 1)[1].split("@")[-1].split("/")[0].split("?")[0]


# ---------------------------------------------------------------------- passwords


@APIS
@pytest.mark.parametrize(("char", "encoded"), [("?", "%3F"), ("/", "%2F"), ("#", "%23")])
@pytest.mark.parametrize("user", ["user", ""])
def test_a_password_holding_url_delimiters_is_a_config_error_that_never_quotes_it(
    api: str, char: str, encoded: str, user: str, redis_url: str
) -> None:
    for password in (f"{HEAD}{char}{TAIL}", f"{HEAD}{char}x=1&{TAIL}", f"{char}{SECRET}", f"{SECRET}{char}"):
        url = f"redis://{user}:{password}@{host_port(redis_url)}/0"
        with pytest.raises(kanal.ConfigError) as caught:
            open_queue(api, url)
        message = str(caught.value)
        assert "percent-encode" in message
        assert encoded in message
        assert redact(url) in message
        assert_no_secret(everything_said(caught.value))


@pytest.fixture
def acl_user(raw: RawClient, redis_prefix: str) -> Iterator[tuple[str, str]]:
    """An ACL user of this test's own, allowed the prefix's keys only; deleted afterwards.

    Its password holds every character a URL gives meaning to.
    """
    name, password = unique_name("kt-urls-"), f"{HEAD}?/#@%: &={TAIL}"
    raw.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", name, "reset", "on", f">{password}", f"~{{{redis_prefix}*", "+@all"
    )
    try:
        yield name, password
    finally:
        raw.execute_command("ACL", "DELUSER", name)  # type: ignore[no-untyped-call]


@APIS
def test_a_percent_encoded_password_works_end_to_end(
    api: str,
    redis_url: str,
    redis_prefix: str,
    acl_user: tuple[str, str],
    make_queue: Callable[..., Queue],
) -> None:
    name, password = acl_user
    url = f"redis://{name}:{quote(password, safe='')}@{host_port(redis_url)}/0?prefix={redis_prefix}"
    queue = make_queue(api, url)
    job = queue.enqueue("q", {"n": 1})
    [lease] = queue.dequeue("q", lease_timeout=LONG)
    assert lease.id == job.id
    assert queue.ack(lease, "ok").state is JobState.COMPLETED
    assert quote(password, safe="") not in repr(queue)
    assert quote(password, safe="") not in repr(queue.backend)


@APIS
def test_a_wrong_password_is_backend_unavailable_without_the_password(
    api: str,
    redis_url: str,
    redis_prefix: str,
    acl_user: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, _ = acl_user
    url = f"redis://{name}:{SECRET}@{host_port(redis_url)}/0?prefix={redis_prefix}"
    caplog.set_level(logging.DEBUG)
    queue = open_queue(api, url)
    try:
        with pytest.raises(kanal.BackendUnavailable) as caught:
            queue.enqueue("q", 1)
        assert_no_secret(repr(queue) + repr(queue.backend))
    finally:
        with contextlib.suppress(Exception):
            queue.close()
    assert host_port(redis_url) in str(caught.value)
    assert_no_secret(everything_said(caught.value))
    assert_no_secret(caplog.text)


def test_a_password_in_the_query_is_redacted() -> None:
    url = f"rediss://cache.example:6380/0?password={SECRET}&ssl_password={SECRET}&prefix=p"
    config = RedisConfig.parse(url, {})
    assert config.shown == "rediss://cache.example:6380/0?password=***&ssl_password=***&prefix=p"
    kwargs = config.sync_client().connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert (kwargs["password"], kwargs["ssl_password"], kwargs["db"]) == (SECRET, SECRET, 0)


# ---------------------------------------------------------------------- bad URL forms


BAD_URLS = {
    "prefix-after-db-without-?": ("redis://u:{secret}@{server}/0&prefix=x", "?prefix="),
    "db-not-a-number": ("redis://u:{secret}@{server}/zero", "must be a number"),
    "port-not-a-number": ("redis://u:{secret}@{host}:63x9/0", "port"),
    "port-too-big": ("redis://u:{secret}@{host}:99999/0", "port"),
    "port-zero": ("redis://u:{secret}@{host}:0/0", "port"),
    "empty-host": ("redis://u:{secret}@:6379/0", "no host"),
    "no-host-at-all": ("redis:///0", "no host"),
    "unknown-parameter": ("redis://u:{secret}@{server}/0?foo=1", "unknown query parameter 'foo'"),
    "retry-on-error": ("redis://u:{secret}@{server}/0?retry_on_error=x", "unknown query parameter"),
    "twice": ("redis://u:{secret}@{server}/0?prefix=a&prefix=b", "given twice"),
    "two-databases": ("redis://u:{secret}@{server}/0?db=1", "two databases"),
    "two-passwords": ("redis://u:{secret}@{server}/0?password={secret}", "two passwords"),
    "bad-timeout": ("redis://u:{secret}@{server}/0?socket_timeout=soon", "socket_timeout"),
    "bad-keepalive": ("redis://u:{secret}@{server}/0?socket_keepalive=maybe", "true or false"),
    "fragment": ("redis://u:{secret}@{server}/0#x", "'#'"),
    "unix-without-path": ("unix://u:{secret}@", "socket path"),
    "unix-empty": ("unix://", "socket path"),
    "unix-with-host": ("unix://localhost/tmp/redis.sock", "socket path"),
    "unix-keepalive": ("unix:///tmp/redis.sock?socket_keepalive=1", "unknown query parameter"),
    "tls-option-without-tls": ("redis://u:{secret}@{server}/0?ssl_cert_reqs=none", "rediss://"),
    "tls-password-without-tls": ("redis://{server}/0?ssl_password={secret}", "rediss://"),
    "bad-cert-reqs": ("rediss://u:{secret}@{server}/0?ssl_cert_reqs=sometimes", "none, optional"),
    "bad-check-hostname": ("rediss://u:{secret}@{server}/0?ssl_check_hostname=perhaps", "true or false"),
    "cluster-db": ("redis+cluster://u:{secret}@{server}/1", "only database 0"),
}


@APIS
@pytest.mark.parametrize(("template", "says"), list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_bad_urls_are_config_errors_naming_the_redacted_url(
    api: str, template: str, says: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = host_port(redis_url)
    url = template.format(secret=SECRET, server=server, host=server.rsplit(":", 1)[0])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(kanal.ConfigError) as caught:
        open_queue(api, url)
    message = str(caught.value)
    assert says in message
    assert repr(redact(url)) in message
    assert_no_secret(everything_said(caught.value))
    assert_no_secret(caplog.text)


@APIS
def test_redis_py_options_in_the_query_reach_the_client(
    api: str, redis_url: str, redis_prefix: str, make_queue: Callable[..., Queue]
) -> None:
    options = "socket_timeout=5&socket_connect_timeout=2.5&health_check_interval=1&socket_keepalive=yes"
    name = unique_name("kt-urls-")
    url = with_prefix(f"redis://{host_port(redis_url)}?db=0&client_name={name}&{options}", redis_prefix)
    queue = make_queue(api, url)
    job = queue.enqueue("q", 1)
    assert queue.get("q", job.id) is not None
    client = queue.backend.config.sync_client()  # type: ignore[attr-defined]
    kwargs = client.connection_pool.connection_kwargs
    client.close()
    assert kwargs["socket_timeout"] == 5.0
    assert kwargs["socket_connect_timeout"] == 2.5
    assert kwargs["health_check_interval"] == 1
    assert kwargs["socket_keepalive"] is True
    assert (kwargs["db"], kwargs["client_name"]) == (0, name)


def test_rediss_options_reach_both_clients() -> None:
    config = RedisConfig.parse(
        "rediss://u:pw@redis.example:6380/2?ssl_cert_reqs=NONE&ssl_check_hostname=false&prefix=t", {}
    )
    sync_client = config.sync_client()
    async_client = config.async_client()
    assert isinstance(sync_client, redis.Redis)
    assert isinstance(async_client, redis.asyncio.Redis)
    assert sync_client.connection_pool.connection_class is redis.connection.SSLConnection
    assert async_client.connection_pool.connection_class is redis.asyncio.connection.SSLConnection
    for kwargs in (
        sync_client.connection_pool.connection_kwargs,
        async_client.connection_pool.connection_kwargs,
    ):
        assert (kwargs["ssl_cert_reqs"], kwargs["ssl_check_hostname"], kwargs["db"]) == ("none", False, 2)
    sync_client.close()


# ---------------------------------------------------------------------- reconnects


@APIS
def test_a_killed_connection_is_replaced_on_the_next_call(
    api: str, redis_url: str, redis_prefix: str, raw: RawClient, make_queue: Callable[..., Queue]
) -> None:
    name = unique_name("kt-urls-")
    queue = make_queue(api, with_prefix(f"{redis_url}?client_name={name}", redis_prefix))
    job = queue.enqueue("q", 1)
    for _ in range(3):
        assert kill_named(raw, name) >= 1
        assert queue.get("q", job.id) is not None
    assert kill_named(raw, name) >= 1
    [lease] = queue.dequeue("q", lease_timeout=LONG)
    assert kill_named(raw, name) >= 1
    assert queue.ack(lease).state is JobState.COMPLETED
    assert queue.stats("q").completed == 1


@APIS
def test_a_killed_cluster_connection_is_replaced_on_the_next_call(
    api: str, redis_cluster_url: str, redis_cluster_prefix: str, make_queue: Callable[..., Queue]
) -> None:
    name = unique_name("kt-urls-")
    url = with_prefix(f"{redis_cluster_url}?client_name={name}", redis_cluster_prefix)
    queue = make_queue(api, url)
    job = queue.enqueue("q", 1)
    admin = raw_client(redis_cluster_url)
    try:
        nodes = admin.get_nodes()  # type: ignore[union-attr]
        for _ in range(3):
            killed = 0
            for node in nodes:
                killed += kill_named(node.redis_connection, name)
            assert killed >= 1
            assert queue.get("q", job.id) is not None
    finally:
        admin.close()


def test_only_dropped_connections_are_retried_and_only_once() -> None:
    """A timeout may mean the script is still running: it is not retried."""
    config = RedisConfig.parse("redis://127.0.0.1:6379/0", {})
    sync_client, async_client = config.sync_client(), config.async_client()
    expected = (
        redis.retry.Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        redis.asyncio.retry.Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )
    for client, retry in zip((sync_client, async_client), expected, strict=True):
        assert client.connection_pool.connection_kwargs["retry"] == retry  # type: ignore[union-attr]
    sync_client.close()
