"""Fenced leases: a stale or expired token changes nothing and raises StaleLease."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class FencingTests(SuiteBase):
    """Fenced leases: a stale or expired token changes nothing and raises StaleLease."""
