"""Cancel and get: the full state of a job through its life."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class CancelAndGetTests(SuiteBase):
    """Cancel and get: the full state of a job through its life."""
