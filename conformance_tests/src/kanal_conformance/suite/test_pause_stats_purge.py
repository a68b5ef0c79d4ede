"""Pause and resume, stats and queue listing, purge."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class PauseStatsPurgeTests(SuiteBase):
    """Pause and resume, stats and queue listing, purge."""
