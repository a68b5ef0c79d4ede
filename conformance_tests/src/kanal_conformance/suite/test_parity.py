"""Sync/async parity: Queue and AsyncQueue have the same methods and signatures."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class ParityTests(SuiteBase):
    """Sync/async parity: Queue and AsyncQueue have the same methods and signatures."""
