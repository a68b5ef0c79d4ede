"""The backend service-provider interface: what a backend implements, kanal's own included.

Every operation returns a :data:`~kanal.flows.Flow`: pure protocol logic that yields calls
and reads replies. Arguments arrive validated and encoded: payloads and results are
``bytes``, times are seconds. Jobs go back with ``payload``/``result`` still as bytes;
the core decodes them. A job that settles a lease (``ack``, ``ack_many``,
``ack_and_dequeue``) may instead carry the lease's own payload object, which the core keeps
as it is, so a backend need not send the payload back. A backend reports errors with
:mod:`kanal.errors` classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kanal.errors import InvalidTransition, StaleLease
from kanal.flows import AsyncTransport, Flow, SyncTransport
from kanal.models import Batch, Job, JobState, Lease, QueueStats, RateLimit, Recovery

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to store. ``run_at`` (epoch seconds) wins over ``delay`` when set."""

    id: str
    payload: bytes
    priority: int
    key: str | None
    delay: float
    run_at: float | None
    max_attempts: int | None
    lease_timeout: float


@dataclass(frozen=True, slots=True)
class Capabilities:
    """*How* a backend works; never *whether* a guarantee holds (every one always does).

    The conformance suite runs tests marked with a capability only where it is present.
    """

    #: Blocked consumers and ``wait`` are woken by a push (pub/sub, NOTIFY), not only polling.
    push_wakeups: bool = False
    #: Enqueue can join the caller's own database transaction.
    transactional_enqueue: bool = False
    #: Server time can be moved by tests (the memory backend's ``FakeClock``).
    controllable_clock: bool = False
    #: A blocking dequeue runs as one flow (:class:`BlockingBackend`), so the wait and the
    #: lease after it can share round trips.
    blocking_dequeue: bool = False


class Backend(Protocol):
    """A storage backend. Each method builds one operation's flow and performs no I/O."""

    capabilities: Capabilities

    def sync_transport(self) -> SyncTransport:
        """A transport that runs this backend's calls blocking."""
        ...

    def async_transport(self) -> AsyncTransport:
        """A transport that runs this backend's calls on the running event loop."""
        ...

    def enqueue(self, queue: str, jobs: Sequence[NewJob]) -> Flow[list[Job]]:
        """Store new jobs in one round trip; an id that exists returns the stored job."""
        ...

    def dequeue(self, queue: str, limit: int, lease_timeout: float | None) -> Flow[list[Lease]]:
        """Lease up to ``limit`` visible jobs, honouring pause and limits; never blocks."""
        ...

    def wait_ready(self, queues: Sequence[str], timeout: float) -> Flow[None]:
        """Block up to ``timeout`` seconds or until a dequeue on ``queues`` may succeed."""
        ...

    def ack(self, lease: Lease, result: bytes | None, result_ttl: float) -> Flow[Job]:
        """Complete a leased job; a replay with the same token returns the completed job."""
        ...

    def requeue(self, lease: Lease, delay: float, error: str | None) -> Flow[Job]:
        """Return a leased job to the queue, or dead-letter it past ``max_attempts``."""
        ...

    def ack_many(self, leases: Sequence[Lease], result_ttl: float) -> Flow[Batch[Job]]:
        """Complete many leased jobs (without results); stale leases are reported, not raised."""
        ...

    def ack_and_dequeue(
        self, lease: Lease, result: bytes | None, result_ttl: float, limit: int, lease_timeout: float | None
    ) -> Flow[tuple[Job, list[Lease]]]:
        """Complete ``lease``, then lease up to ``limit`` jobs of its queue; stale: raise, lease none."""
        ...

    def fail(self, lease: Lease, error: str) -> Flow[Job]:
        """Dead-letter a leased job now; a replay with the same token returns the dead job."""
        ...

    def extend(self, lease: Lease, timeout: float | None) -> Flow[Lease]:
        """Push the lease's expiry to now + ``timeout`` (default: the job's lease timeout)."""
        ...

    def extend_many(self, leases: Sequence[Lease], timeout: float | None) -> Flow[Batch[Lease]]:
        """Renew many leases; stale leases are reported, not raised."""
        ...

    def reschedule(self, queue: str, job_id: str, delay: float, run_at: float | None) -> Flow[Job]:
        """Move a scheduled or ready job to a new run time."""
        ...

    def cancel(self, queue: str, job_id: str, ttl: float, force: bool) -> Flow[Job]:
        """Cancel a scheduled or ready job (with ``force``, a leased one too: its lease goes
        stale and its concurrency slots are freed), keeping a tombstone for ``ttl`` seconds.

        A cancelled job is returned unchanged; any other state raises :func:`cancel_refused`.
        """
        ...

    def get(self, queue: str, job_id: str) -> Flow[Job | None]:
        """The job's current state, or None."""
        ...

    def wait_job(self, queue: str, job_id: str, until: Sequence[JobState], timeout: float) -> Flow[None]:
        """Block up to ``timeout`` seconds or until the job may be in ``until`` or final."""
        ...

    def list_jobs(
        self, queue: str, states: Sequence[JobState], key: str | None, limit: int, offset: int
    ) -> Flow[list[Job]]:
        """Jobs of a queue in the given states (and with that key, unless None), oldest first."""
        ...

    def redrive(self, queue: str, job_ids: Sequence[str] | None, limit: int) -> Flow[int]:
        """Move dead jobs (all, or those ids) back to ready with fresh attempts."""
        ...

    def purge(self, queue: str, states: Sequence[JobState], key: str | None) -> Flow[int]:
        """Delete a queue's jobs in the given states (and with that key, unless None)."""
        ...

    def set_rate_limit(self, queue: str, key: str | None, limit: RateLimit | None) -> Flow[None]:
        """Set or clear (None) the rate limit of a queue, one key, or each key (``"*"``)."""
        ...

    def get_rate_limit(self, queue: str, key: str | None) -> Flow[RateLimit | None]:
        """The rate limit set for exactly that scope, or None."""
        ...

    def set_concurrency_limit(self, queue: str, key: str | None, limit: int | None) -> Flow[None]:
        """Set or clear (None) the concurrency limit of a queue, one key, or each key."""
        ...

    def get_concurrency_limit(self, queue: str, key: str | None) -> Flow[int | None]:
        """The concurrency limit set for exactly that scope, or None."""
        ...

    def pause(self, queue: str) -> Flow[None]:
        """Stop handing out the queue's jobs."""
        ...

    def resume(self, queue: str) -> Flow[None]:
        """Hand out the queue's jobs again."""
        ...

    def stats(self, queue: str | None) -> Flow[list[QueueStats]]:
        """Counts for one queue, or for every known queue."""
        ...

    def recover(self, queue: str | None) -> Flow[Recovery]:
        """Promote due jobs and reclaim expired leases now (dequeue does it anyway)."""
        ...


class TransactionalBackend(Backend, Protocol):
    """A backend whose operations can join the caller's own database transaction
    (``Capabilities.transactional_enqueue``): ``q.enqueue(..., connection=conn)``."""

    def joined_sync_transport(self, connection: Any) -> SyncTransport:
        """A transport that runs calls inside the transaction of ``connection``."""
        ...

    def joined_async_transport(self, connection: Any) -> AsyncTransport:
        """A transport that runs calls inside the transaction of an async ``connection``."""
        ...


class BlockingBackend(Backend, Protocol):
    """A backend that runs a blocking dequeue as one flow (``Capabilities.blocking_dequeue``),
    instead of kanal's loop of :meth:`~Backend.dequeue` and :meth:`~Backend.wait_ready`."""

    def dequeue_wait(
        self, queues: Sequence[str], limit: int, lease_timeout: float | None, wait: float
    ) -> Flow[list[Lease]]:
        """Lease up to ``limit`` jobs from ``queues`` in order, blocking up to ``wait`` seconds
        for the first; an empty list only once ``wait`` has passed."""
        ...


def cancel_refused(job_id: str, state: str) -> InvalidTransition:
    """The error ``cancel`` raises for a job in ``state`` (leased without force, or finished)."""
    if state == JobState.LEASED:
        return InvalidTransition(
            f"job {job_id!r} is leased; cancel it with force=True to stop it (its lease then goes stale)"
        )
    return InvalidTransition(
        f"job {job_id!r} is {state}; a finished job cannot be cancelled, even with force=True"
    )


class BulkDefaults:
    """Bulk operations written once on top of the single ones (one call per lease).

    A backend inherits these and overrides them where it can do the batch in one round trip.
    """

    def ack(self, lease: Lease, result: bytes | None, result_ttl: float) -> Flow[Job]:
        """The backend's single ack (the class using these defaults provides it)."""
        raise NotImplementedError

    def extend(self, lease: Lease, timeout: float | None) -> Flow[Lease]:
        """The backend's single extend (the class using these defaults provides it)."""
        raise NotImplementedError

    def dequeue(self, queue: str, limit: int, lease_timeout: float | None) -> Flow[list[Lease]]:
        """The backend's dequeue (the class using these defaults provides it)."""
        raise NotImplementedError

    def ack_and_dequeue(
        self, lease: Lease, result: bytes | None, result_ttl: float, limit: int, lease_timeout: float | None
    ) -> Flow[tuple[Job, list[Lease]]]:
        job = yield from self.ack(lease, result, result_ttl)
        leases = yield from self.dequeue(lease.queue, limit, lease_timeout)
        return job, leases

    def ack_many(self, leases: Sequence[Lease], result_ttl: float) -> Flow[Batch[Job]]:
        return _each_lease(leases, lambda lease: self.ack(lease, None, result_ttl))

    def extend_many(self, leases: Sequence[Lease], timeout: float | None) -> Flow[Batch[Lease]]:
        return _each_lease(leases, lambda lease: self.extend(lease, timeout))


def _each_lease(leases: Sequence[Lease], step: Callable[[Lease], Flow[T]]) -> Flow[Batch[T]]:
    """Run ``step`` for every lease in turn; a lease it finds stale goes to ``Batch.stale``."""
    succeeded: list[T] = []
    stale: list[Lease] = []
    for lease in leases:
        try:
            succeeded.append((yield from step(lease)))
        except StaleLease:
            stale.append(lease)
    return Batch(succeeded, stale)
