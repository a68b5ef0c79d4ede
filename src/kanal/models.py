"""The data kanal hands out: jobs, leases, limits and statistics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from kanal.errors import InvalidArgument

T = TypeVar("T")

#: Scope a limit to *each* key of a queue that has no limit of its own.
EACH_KEY = "*"


class JobState(StrEnum):
    """Where a job is in its life: ``scheduled → ready → leased → completed | dead | cancelled``."""

    SCHEDULED = "scheduled"
    READY = "ready"
    LEASED = "leased"
    COMPLETED = "completed"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the job will never run again (unless a dead job is redriven)."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED})


def timestamp(seconds: float | None) -> datetime | None:
    """Turn epoch seconds (server time) into an aware UTC datetime."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job's full state.

    ``payload`` and ``result`` are decoded with the queue's serializer. Timestamps come
    from the backend's clock, never the client's.
    """

    id: str
    queue: str
    payload: Any
    state: JobState
    priority: int
    key: str | None
    attempts: int
    max_attempts: int | None
    lease_timeout: float
    run_at: datetime
    enqueued_at: datetime
    first_dequeued_at: datetime | None = None
    last_dequeued_at: datetime | None = None
    finished_at: datetime | None = None
    last_error: str | None = None
    result: Any = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A job handed to one consumer, fenced by ``token`` until ``expires_at``.

    Pass the lease back to ``ack``, ``requeue``, ``fail`` or ``extend``.
    """

    job: Job
    token: str
    expires_at: datetime

    @property
    def id(self) -> str:
        """The leased job's id."""
        return self.job.id

    @property
    def queue(self) -> str:
        """The leased job's queue."""
        return self.job.queue

    @property
    def payload(self) -> Any:
        """The leased job's payload."""
        return self.job.payload


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """The outcome of a bulk lease operation (``ack_many``, ``extend_many``).

    ``succeeded`` holds what was applied; ``stale`` the leases refused because they were no
    longer held (the bulk form of :class:`~kanal.errors.StaleLease`: check it, a stale lease
    means another consumer may run or have run the job).
    """

    succeeded: list[T]
    stale: list[Lease]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``rate`` jobs per second on average, at most ``burst`` at once.

    ``burst=1`` is a leaky bucket (Tailback's interval): one job every ``1/rate`` seconds.
    """

    rate: float
    burst: float = 1.0

    def __post_init__(self) -> None:
        if not _positive_finite(self.rate):
            raise InvalidArgument(f"rate must be a positive finite number, got {self.rate!r}")
        if not _positive_finite(self.burst) or self.burst < 1:
            raise InvalidArgument(f"burst must be a finite number >= 1, got {self.burst!r}")

    @classmethod
    def every(cls, seconds: float, *, burst: float = 1.0) -> RateLimit:
        """One job every ``seconds`` (plus up to ``burst - 1`` more saved up)."""
        if not _positive_finite(seconds):
            raise InvalidArgument(f"interval must be a positive finite number, got {seconds!r}")
        return cls(rate=1.0 / seconds, burst=burst)


def _positive_finite(value: object) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


@dataclass(frozen=True, slots=True)
class StateCounts:
    """How many jobs are in each state."""

    scheduled: int = 0
    ready: int = 0
    leased: int = 0
    completed: int = 0
    dead: int = 0
    cancelled: int = 0

    def __getitem__(self, state: JobState | str) -> int:
        return int(getattr(self, JobState(state).value))

    @property
    def total(self) -> int:
        """All jobs counted, final ones included."""
        return sum(self[state] for state in JobState)

    @classmethod
    def from_mapping(cls, counts: Mapping[str, int]) -> StateCounts:
        """Build from ``{state: count}``; missing states count zero."""
        return cls(**{JobState(s).value: n for s, n in counts.items()})


@dataclass(frozen=True, slots=True)
class QueueStats(StateCounts):
    """Counts for one queue, whether it is paused, and counts per limited key."""

    queue: str = ""
    paused: bool = False
    keys: Mapping[str, StateCounts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What ``recover`` did: due jobs made ready, expired leases returned or dead-lettered."""

    promoted: int = 0
    reclaimed: int = 0
    dead: int = 0
