"""At-least-once delivery: a job is delivered until acked, cancelled or dead-lettered."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class AtLeastOnceTests(SuiteBase):
    """At-least-once delivery: a job is delivered until acked, cancelled or dead-lettered."""
