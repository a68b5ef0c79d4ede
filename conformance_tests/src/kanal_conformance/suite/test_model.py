"""A stateful property test: random operation sequences checked against a reference model."""

from __future__ import annotations

from kanal_conformance.suite.base import SuiteBase


class ModelTests(SuiteBase):
    """A stateful property test: random operation sequences checked against a reference model."""
