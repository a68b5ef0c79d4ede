"""The whole suite against the backend named by ``--kanal-url`` (or ``$KANAL_URL``).

``pytest --pyargs kanal_conformance.url_suite --kanal-url URL``. For ``memory://`` use a
named store (``memory://conformance``) so that the suite's second clients share it.
"""

from __future__ import annotations

import pytest

from kanal_conformance.suite import QueueSuite


class TestBackendAtUrl(QueueSuite):
    @pytest.fixture
    def queue_url(self, request: pytest.FixtureRequest) -> str:
        url = request.config.getoption("--kanal-url")
        if not url:
            pytest.fail("give the backend to test with --kanal-url URL or $KANAL_URL")
        return str(url)
