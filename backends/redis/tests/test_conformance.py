"""The whole conformance suite on Redis."""

from __future__ import annotations

import os

import pytest

from kanal_conformance import QueueSuite
from kanal_conformance.harness import unique_name

REDIS_URL = os.environ.get("KANAL_REDIS_URL", "redis://127.0.0.1:6379/0")


class TestRedis(QueueSuite):
    @pytest.fixture
    def queue_url(self) -> str:
        return f"{REDIS_URL}?prefix={unique_name('kt-')}"
