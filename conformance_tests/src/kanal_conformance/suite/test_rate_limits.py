"""Rate limits per queue, per key and for each key: token buckets that change live."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class RateLimitTests(SuiteBase):
    """Rate limits per queue, per key and for each key: token buckets that change live."""
