"""Concurrency limits per queue, per key and for each key, with fairness across keys."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class ConcurrencyLimitTests(SuiteBase):
    """Concurrency limits per queue, per key and for each key, with fairness across keys."""
