"""kanal: one job-queue protocol, many backends (memory, Redis, PostgreSQL, MySQL, SQLite)."""

from kanal.async_queue import AsyncQueue
from kanal.clock import Clock, FakeClock, SystemClock
from kanal.connect import connect, connect_async
from kanal.errors import (
    BackendUnavailable,
    ConfigError,
    InvalidArgument,
    InvalidName,
    InvalidTransition,
    JobNotFound,
    KanalError,
    PayloadTooLarge,
    SerializationError,
    StaleLease,
    UnknownScheme,
    WaitTimeout,
)
from kanal.models import (
    EACH_KEY,
    Batch,
    Job,
    JobState,
    Lease,
    QueueStats,
    RateLimit,
    Recovery,
    StateCounts,
)
from kanal.operations import JobSpec
from kanal.queue import Queue
from kanal.registry import installed_schemes, register_backend, unregister_backend
from kanal.serializers import JSONSerializer, Serializer

__version__ = "0.1.0"

__all__ = [
    "EACH_KEY",
    "AsyncQueue",
    "BackendUnavailable",
    "Batch",
    "Clock",
    "ConfigError",
    "FakeClock",
    "InvalidArgument",
    "InvalidName",
    "InvalidTransition",
    "JSONSerializer",
    "Job",
    "JobNotFound",
    "JobSpec",
    "JobState",
    "KanalError",
    "Lease",
    "PayloadTooLarge",
    "Queue",
    "QueueStats",
    "RateLimit",
    "Recovery",
    "SerializationError",
    "Serializer",
    "StaleLease",
    "StateCounts",
    "SystemClock",
    "UnknownScheme",
    "WaitTimeout",
    "__version__",
    "connect",
    "connect_async",
    "installed_schemes",
    "register_backend",
    "unregister_backend",
]
