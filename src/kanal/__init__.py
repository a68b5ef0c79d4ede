"""kanal: one job-queue protocol, many backends (memory, Redis, PostgreSQL, MySQL, SQLite)."""

from kanal.app import App
from kanal.async_queue import AsyncQueue
from kanal.backoff import Backoff
from kanal.clock import Clock, FakeClock, SystemClock
from kanal.connect import connect, connect_async
from kanal.errors import (
    BackendUnavailable,
    ConfigError,
    InvalidArgument,
    InvalidName,
    InvalidTransition,
    JobCancelled,
    JobFailed,
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
from kanal.schedules import Cron, Every
from kanal.serializers import JSONSerializer, Serializer
from kanal.tasks import Fail, JobContext, JobHandle, Retry, Task, job_context
from kanal.worker import Worker, WorkerStats

__version__ = "0.1.0"

__all__ = [
    "EACH_KEY",
    "App",
    "AsyncQueue",
    "BackendUnavailable",
    "Backoff",
    "Batch",
    "Clock",
    "ConfigError",
    "Cron",
    "Every",
    "Fail",
    "FakeClock",
    "InvalidArgument",
    "InvalidName",
    "InvalidTransition",
    "JSONSerializer",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobHandle",
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
    "Retry",
    "SerializationError",
    "Serializer",
    "StaleLease",
    "StateCounts",
    "SystemClock",
    "Task",
    "UnknownScheme",
    "WaitTimeout",
    "Worker",
    "WorkerStats",
    "__version__",
    "connect",
    "connect_async",
    "installed_schemes",
    "job_context",
    "register_backend",
    "unregister_backend",
]
