"""Test-run settings for the whole repository."""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep the collected tests out of the garbage collector's full passes.

    A full collection over everything pytest has collected (some 380,000 objects) takes
    about 0.2 s, and more on a loaded machine; the conformance suite's real-time tests
    wait 0.3 s for a lease to run out, so such a pause between two calls could expire a
    lease early. Freezing what exists after collection makes those passes short.
    """
    gc.collect()
    gc.freeze()
