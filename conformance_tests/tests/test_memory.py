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

    @pytest.fixture
    def model_settings(self) -> dict[str, int]:
        """The memory backend is fast enough to search far more, and longer, sequences."""
        return {"max_examples": 250, "stateful_step_count": 60}
