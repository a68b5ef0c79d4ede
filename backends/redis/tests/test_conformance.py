"""The whole conformance suite on Redis: a single server, and a Redis Cluster."""

from __future__ import annotations

import pytest

from kanal_conformance import QueueSuite


def _with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


class TestRedis(QueueSuite):
    @pytest.fixture
    def queue_url(self, redis_url: str, redis_prefix: str) -> str:
        return _with_prefix(redis_url, redis_prefix)


class TestRedisCluster(QueueSuite):
    @pytest.fixture
    def queue_url(self, redis_cluster_url: str, redis_cluster_prefix: str) -> str:
        return _with_prefix(redis_cluster_url, redis_cluster_prefix)
