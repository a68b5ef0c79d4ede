"""Delays, run_at and reschedule, all on server time."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class DelayTests(SuiteBase):
    """Delays, run_at and reschedule, all on server time."""
