"""Idempotent enqueue: a known job id returns the stored job and writes nothing."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class IdempotentEnqueueTests(SuiteBase):
    """Idempotent enqueue: a known job id returns the stored job and writes nothing."""
