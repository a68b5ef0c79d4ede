"""Bad input: a clear error from one hierarchy, raised before anything is written."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class BadInputTests(SuiteBase):
    """Bad input: a clear error from one hierarchy, raised before anything is written."""
