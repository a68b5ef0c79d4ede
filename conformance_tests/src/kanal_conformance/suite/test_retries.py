"""Requeue, fail, max_attempts, the dead-letter set and redrive."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class RetryAndDeadLetterTests(SuiteBase):
    """Requeue, fail, max_attempts, the dead-letter set and redrive."""
