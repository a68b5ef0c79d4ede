"""The conformance suite: one mixin per guarantee, combined in :class:`QueueSuite`."""

from kanal_conformance.suite.base import LONG, MARGIN, SHORT, SuiteBase
from kanal_conformance.suite.test_at_least_once import AtLeastOnceTests
from kanal_conformance.suite.test_atomicity import AtomicityTests
from kanal_conformance.suite.test_bad_input import BadInputTests
from kanal_conformance.suite.test_bulk import BulkTests
from kanal_conformance.suite.test_cancel_get import CancelAndGetTests
from kanal_conformance.suite.test_concurrency_limits import ConcurrencyLimitTests
from kanal_conformance.suite.test_delays import DelayTests
from kanal_conformance.suite.test_enqueue_dequeue import EnqueueDequeueTests
from kanal_conformance.suite.test_fencing import FencingTests
from kanal_conformance.suite.test_idempotent_enqueue import IdempotentEnqueueTests
from kanal_conformance.suite.test_model import ModelTests
from kanal_conformance.suite.test_no_daemon import NoDaemonTests
from kanal_conformance.suite.test_parity import ParityTests
from kanal_conformance.suite.test_pause_stats_purge import PauseStatsPurgeTests
from kanal_conformance.suite.test_rate_limits import RateLimitTests
from kanal_conformance.suite.test_retries import RetryAndDeadLetterTests
from kanal_conformance.suite.test_wait import WaitTests
from kanal_conformance.suite.test_worker_step import WorkerStepTests


class QueueSuite(
    EnqueueDequeueTests,
    AtLeastOnceTests,
    AtomicityTests,
    FencingTests,
    RetryAndDeadLetterTests,
    NoDaemonTests,
    DelayTests,
    IdempotentEnqueueTests,
    CancelAndGetTests,
    WaitTests,
    RateLimitTests,
    ConcurrencyLimitTests,
    PauseStatsPurgeTests,
    BadInputTests,
    BulkTests,
    WorkerStepTests,
    ParityTests,
    ModelTests,
):
    """Every core guarantee. Subclass it as ``TestMyBackend`` and provide ``queue_url``."""


__all__ = ["LONG", "MARGIN", "SHORT", "QueueSuite", "SuiteBase"]
