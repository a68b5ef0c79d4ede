"""Redis URLs: ``redis://``, ``rediss://`` (TLS), ``unix://`` and their ``+cluster`` forms.

kanal reads the whole URL itself and refuses what redis-py would misread, ignore or fail on
later (a bad port or database, an unknown option, a password holding ``/``, ``?`` or
``#``). Every message shows the URL with the password redacted and never quotes a part of
it. kanal's own query parameters (``prefix``, ``cluster``) are taken out; the rest,
checked, goes to redis-py as a URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from kanal.errors import ConfigError
from kanal.url import redact
from kanal_redis.keys import DEFAULT_PREFIX, check_prefix

SCHEMES = ("redis", "rediss", "unix")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
ENCODE_HINT = "percent-encode it: '/' as %2F, '?' as %3F, '#' as %23, '@' as %40, '%' as %25"


def _boolean(value: str) -> str:
    if value.lower() in _TRUE:
        return "1"
    if value.lower() in _FALSE:
        return "0"
    raise ValueError("true or false")


def _count(value: str) -> str:
    if not value.isdigit():
        raise ValueError("a whole number, 0 or more")
    return str(int(value))


def _positive(value: str) -> str:
    count = _count(value)
    if count == "0":
        raise ValueError("a whole number, 1 or more")
    return count


def _seconds(value: str) -> str:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError("a number of seconds above 0")
    return value


def _text(value: str) -> str:
    return value


def _cert_reqs(value: str) -> str:
    if value.lower() not in ("none", "optional", "required"):
        raise ValueError("none, optional or required")
    return value.lower()


Check = Callable[[str], str]
#: The redis-py query parameters kanal passes on, and the check of each value, by transport.
CLIENT_OPTIONS: dict[str, Check] = {
    "db": _count,
    "username": _text,
    "password": _text,
    "client_name": _text,
    "socket_timeout": _seconds,
    "socket_connect_timeout": _seconds,
    "health_check_interval": _count,
    "max_connections": _positive,
    "socket_read_size": _positive,
}
TCP_OPTIONS: dict[str, Check] = {"socket_keepalive": _boolean}
TLS_OPTIONS: dict[str, Check] = {
    "ssl_cert_reqs": _cert_reqs,
    "ssl_check_hostname": _boolean,
    "ssl_ca_certs": _text,
    "ssl_certfile": _text,
    "ssl_keyfile": _text,
    "ssl_password": _text,
    "ssl_ciphers": _text,
}
#: Where a query may hide a secret: never quote these values.
_SECRETS = {"password", "ssl_password"}


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """Where the server is and how kanal lays out its keys there."""

    #: The URL redis-py connects with (kanal's own parts removed). Never shown: see ``shown``.
    client_url: str
    #: The URL with any password redacted, for messages.
    shown: str
    cluster: bool
    prefix: str

    @classmethod
    def parse(cls, url: str, options: dict[str, Any]) -> RedisConfig:
        """Read ``url`` and the backend options (``prefix``); bad input is a ConfigError."""
        shown = redact(url)
        unknown = sorted(set(options) - {"prefix"})
        if unknown:
            raise ConfigError(f"unknown Redis backend option(s): {', '.join(unknown)}; allowed: prefix")
        scheme, _, rest = url.partition("://")
        base, plus, variant = scheme.lower().partition("+")
        if base not in SCHEMES or (plus and (variant != "cluster" or base == "unix")):
            raise ConfigError(
                f"not a Redis URL: {shown!r}; use redis://, rediss://, unix://, "
                "redis+cluster:// or rediss+cluster://"
            )
        userinfo, at, address = rest.rpartition("@")
        if any(char in userinfo for char in "/?#"):
            raise ConfigError(
                f"cannot read the user name and password of {shown!r}: the text before its "
                f"last '@' holds a '/', '?' or '#', which end that part of a URL. If the password "
                f"holds one, {ENCODE_HINT}"
            )
        if "#" in address:
            raise ConfigError(f"a Redis URL has no '#' part: {shown!r}; a '#' in a value is written %23")
        address, _, query = address.partition("?")
        params = _query(query, base, shown)
        if "password" in params and ":" in userinfo:
            raise ConfigError(f"two passwords in {shown!r}: one in the URL and one as ?password=")
        ours = {name: params.pop(name) for name in ("prefix", "cluster") if name in params}
        cluster = bool(plus) or _flag(ours.get("cluster", "false"), shown)
        if "prefix" in ours and "prefix" in options and ours["prefix"] != options["prefix"]:
            raise ConfigError(f"two different key prefixes given, in the URL {shown!r} and as an option")
        prefix = check_prefix(options.get("prefix", ours.get("prefix", DEFAULT_PREFIX)))
        if base == "unix":
            if cluster:
                raise ConfigError(f"Redis Cluster is reached over TCP, not a unix socket: {shown!r}")
            location = _socket_path(address, shown)
        else:
            location = _server(address, params, cluster, shown)
        credentials = f"{userinfo}@" if at else ""
        client_url = f"{base}://{credentials}{location}" + (f"?{urlencode(params)}" if params else "")
        return cls(client_url=client_url, shown=shown, cluster=cluster, prefix=prefix)

    def sync_client(self) -> redis.Redis | redis.cluster.RedisCluster:
        """A new blocking client (thread-safe: it has a connection pool)."""
        if self.cluster:
            return redis.cluster.RedisCluster.from_url(self.client_url)
        retry = redis.retry.Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        return redis.Redis.from_url(self.client_url, retry=retry)

    def async_client(self) -> redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster:
        """A new asyncio client, bound to the event loop that first uses it."""
        if self.cluster:
            return redis.asyncio.cluster.RedisCluster.from_url(self.client_url)
        retry = redis.asyncio.retry.Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        return redis.asyncio.Redis.from_url(self.client_url, retry=retry)


def _flag(value: str, shown: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"cluster= must be true or false in {shown!r}, got {value!r}")


def _query(query: str, base: str, shown: str) -> dict[str, str]:
    """The query's parameters, each known to kanal or redis-py, given once, its value checked."""
    allowed = {"prefix": _text, "cluster": _text, **CLIENT_OPTIONS}
    if base != "unix":
        allowed.update(TCP_OPTIONS)
    if base == "rediss":
        allowed.update(TLS_OPTIONS)
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in params:
            raise ConfigError(f"{name}= is given twice in {shown!r}")
        if name in TLS_OPTIONS and base != "rediss":
            raise ConfigError(f"{name}= is a TLS option: use rediss:// rather than {base}:// in {shown!r}")
        check = allowed.get(name)
        if check is None:
            raise ConfigError(
                f"unknown query parameter {name!r} in {shown!r}; allowed: {', '.join(sorted(allowed))}"
            )
        try:
            params[name] = check(value)
        except ValueError as exc:
            got = "" if name in _SECRETS else f", got {value!r}"
            raise ConfigError(f"{name}= must be {exc} in {shown!r}{got}") from None
    return params


def _socket_path(address: str, shown: str) -> str:
    """The socket path of a ``unix://`` URL: it must be absolute (``unix:///run/redis.sock``)."""
    if not address.startswith("/") or address.rstrip("/") == "":
        raise ConfigError(f"{shown!r} names no socket path: write unix:///path/to/redis.sock?db=0")
    return address


def _server(address: str, params: dict[str, str], cluster: bool, shown: str) -> str:
    """``host[:port][/db]`` of a TCP URL, checked; the database moves into ``params``."""
    hostport, _, path = address.partition("/")
    try:
        parts = urlsplit(f"//{hostport}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ConfigError(f"bad host or port in {shown!r}: the port is a number from 1 to 65535") from None
    if not host:
        raise ConfigError(f"no host in {shown!r}: write redis://host[:port][/db]")
    if port == 0:
        raise ConfigError(f"bad port in {shown!r}: the port is a number from 1 to 65535")
    if path:
        if not path.isdigit():
            raise ConfigError(
                f"the database in {shown!r} must be a number (/0, /1 …); kanal's options go in "
                "the query: /0?prefix=app"
            )
        if "db" in params:
            raise ConfigError(f"two databases in {shown!r}: in the path and as ?db=")
        params["db"] = str(int(path))
    if cluster and params.pop("db", "0") != "0":
        raise ConfigError(f"Redis Cluster has only database 0: {shown!r}")
    return hostport
