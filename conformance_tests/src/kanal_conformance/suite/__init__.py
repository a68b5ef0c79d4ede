"""The conformance suite: one mixin per guarantee, combined in :class:`QueueSuite`."""

from kanal_conformance.suite.base import LONG, MARGIN, SHORT, SuiteBase
from kanal_conformance.suite.test_enqueue_dequeue import EnqueueDequeueTests


class QueueSuite(
    EnqueueDequeueTests,
):
    """Every core guarantee. Subclass it as ``TestMyBackend`` and provide ``queue_url``."""


__all__ = ["LONG", "MARGIN", "SHORT", "QueueSuite", "SuiteBase"]
