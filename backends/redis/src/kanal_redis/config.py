"""Redis URLs: ``redis://``, ``rediss://`` (TLS), ``unix://`` and their ``+cluster`` forms.

kanal's own query parameters (``prefix``, ``cluster``) are taken out here; everything else
in the URL (database, credentials, ``socket_timeout`` …) is redis-py's to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from kanal.errors import ConfigError
from kanal.url import redact
from kanal_redis.keys import DEFAULT_PREFIX, check_prefix

SCHEMES = ("redis", "rediss", "unix")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


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
        # The query starts at the first '?' after the credentials (a password may hold '?').
        at = rest.rfind("@") + 1
        cut = rest.find("?", at)
        location, query = (rest, "") if cut < 0 else (rest[:cut], rest[cut + 1 :])
        params = parse_qsl(query, keep_blank_values=True)
        ours = {name: value for name, value in params if name in ("prefix", "cluster")}
        rest_query = urlencode([(name, value) for name, value in params if name not in ours])
        cluster = bool(plus) or _flag(ours.get("cluster", "false"), shown)
        if "prefix" in ours and "prefix" in options and ours["prefix"] != options["prefix"]:
            raise ConfigError(f"two different key prefixes given, in the URL {shown!r} and as an option")
        prefix = check_prefix(options.get("prefix", ours.get("prefix", DEFAULT_PREFIX)))
        if cluster and base == "unix":
            raise ConfigError(f"Redis Cluster is reached over TCP, not a unix socket: {shown!r}")
        client_url = f"{base}://{location}" + (f"?{rest_query}" if rest_query else "")
        return cls(client_url=client_url, shown=shown, cluster=cluster, prefix=prefix)

    def sync_client(self) -> redis.Redis | redis.cluster.RedisCluster:
        """A new blocking client (thread-safe: it has a connection pool)."""
        if self.cluster:
            return redis.cluster.RedisCluster.from_url(self.client_url)
        return redis.Redis.from_url(self.client_url)

    def async_client(self) -> redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster:
        """A new asyncio client, bound to the event loop that first uses it."""
        if self.cluster:
            return redis.asyncio.cluster.RedisCluster.from_url(self.client_url)
        return redis.asyncio.Redis.from_url(self.client_url)


def _flag(value: str, shown: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"cluster= must be true or false in {shown!r}, got {value!r}")
