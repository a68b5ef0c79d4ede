"""Waiting: blocking dequeue and waiting for a job to finish."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class WaitTests(SuiteBase):
    """Waiting: blocking dequeue and waiting for a job to finish."""
