"""The memory backend runs the whole conformance suite, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from kanal import FakeClock
from kanal_conformance import QueueSuite
from kanal_conformance.harness import unique_name


class TestMemoryBackend(QueueSuite):
    @pytest.fixture
    def queue_url(self) -> str:
        return f"memory://{unique_name('conformance-')}"

    @pytest.fixture
    def connect_options(self) -> dict[str, Any]:
        return {"clock": FakeClock()}
