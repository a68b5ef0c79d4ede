"""No required daemon: dequeue alone promotes due jobs and reclaims expired leases."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class NoDaemonTests(SuiteBase):
    """No required daemon: dequeue alone promotes due jobs and reclaims expired leases."""
