# Generated from queue.py by scripts/unasync.py: edit queue.py, then run the script.
"""The asyncio :class:`AsyncQueue`: every method of :class:`kanal.Queue`, as a coroutine."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from kanal import operations as ops
from kanal.facade import QueueBase
from kanal.flows import AsyncTransport, Flow, run_async
from kanal.models import Batch, Job, JobState, Lease, QueueStats, RateLimit, Recovery
from kanal.operations import JobSpec, Seconds
from kanal.settings import DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_ATTEMPTS, Settings
from kanal.spi import Backend

T = TypeVar("T")
States = JobState | str | Iterable[JobState | str] | None


class AsyncQueue(QueueBase):
    """An asyncio client for every queue on one backend. Get one from ``kanal.connect_async(url)``.

    Every method validates its arguments before any I/O: bad input raises a
    :class:`~kanal.errors.InvalidArgument` and writes nothing.
    """

    def __init__(self, backend: Backend, *, settings: Settings | None = None, url: str | None = None) -> None:
        super().__init__(backend, settings=settings, url=url)
        self._transport: AsyncTransport = backend.async_transport()

    async def _run(self, flow: Flow[T], connection: Any = None) -> T:
        if connection is None:
            return await run_async(flow, self._transport)
        return await run_async(flow, ops.joined(self._ctx).joined_async_transport(connection))

    async def close(self) -> None:
        """Release the connection (a closed queue must not be used again)."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncQueue:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def enqueue(
        self,
        queue: str,
        payload: Any,
        *,
        id: str | None = None,
        delay: Seconds | None = None,
        run_at: datetime | None = None,
        priority: int = 0,
        key: str | None = None,
        max_attempts: int | None = DEFAULT_MAX_ATTEMPTS,
        lease_timeout: Seconds = DEFAULT_LEASE_TIMEOUT,
        connection: Any = None,
    ) -> Job:
        """Add a job to ``queue`` (created on first use) and return it.

        ``delay`` (seconds) or ``run_at`` (an aware datetime) hold the job back; lower
        ``priority`` runs first; ``key`` names a sub-queue for per-key limits. With the ``id``
        of a stored job (not final; dead until redriven or purged; completed or cancelled
        within ``result_ttl``) the stored job is returned and nothing is written.
        ``max_attempts=None`` retries forever.

        ``connection`` (SQL backends): a SQLAlchemy ``Connection`` or ``Session`` (async:
        ``AsyncConnection``, ``AsyncSession``) whose open transaction the job joins, so that
        the job exists if and only if that transaction commits.
        """
        spec = JobSpec(payload, id, delay, run_at, priority, key, max_attempts, lease_timeout)
        return await self._run(ops.enqueue(self._ctx, queue, spec), connection)

    async def enqueue_many(
        self, queue: str, items: Iterable[Any | JobSpec], *, connection: Any = None
    ) -> list[Job]:
        """Add many jobs in one round trip: plain payloads, or :class:`JobSpec` for options.

        ``connection``: as for :meth:`enqueue`.
        """
        return await self._run(ops.enqueue_many(self._ctx, queue, items), connection)

    async def dequeue(
        self,
        queues: str | Sequence[str],
        *,
        limit: int = 1,
        wait: Seconds = 0,
        lease_timeout: Seconds | None = None,
    ) -> list[Lease]:
        """Lease up to ``limit`` jobs, from ``queues`` in the order given.

        Blocks up to ``wait`` seconds for a first job. Due delayed jobs and expired leases
        become visible here, with no background process. ``lease_timeout`` overrides the
        jobs' own. Each delivery counts an attempt and gets a fresh lease token.
        """
        return await self._run(ops.dequeue(self._ctx, queues, limit, wait, lease_timeout))

    async def ack(self, lease: Lease, result: Any = None, *, result_ttl: Seconds | None = None) -> Job:
        """Complete a leased job, keeping ``result`` for ``result_ttl`` seconds.

        Raises :class:`~kanal.errors.StaleLease` if the lease is not current or has expired.
        Repeating an ack that was applied (the reply was lost) returns the completed job.
        """
        return await self._run(ops.ack(self._ctx, lease, result, result_ttl))

    async def ack_and_dequeue(
        self,
        lease: Lease,
        result: Any = None,
        *,
        result_ttl: Seconds | None = None,
        limit: int = 1,
        lease_timeout: Seconds | None = None,
    ) -> tuple[Job, list[Lease]]:
        """Complete a leased job and lease up to ``limit`` more of its queue: a worker's step.

        Redis does both in one round trip. Never waits: an empty list means nothing was ready.
        Raises :class:`~kanal.errors.StaleLease` like :meth:`ack`, and then leases nothing.
        """
        return await self._run(
            ops.ack_and_dequeue(self._ctx, lease, result, result_ttl, limit, lease_timeout)
        )

    async def ack_many(self, leases: Iterable[Lease], *, result_ttl: Seconds | None = None) -> Batch[Job]:
        """Complete many leased jobs in one call (no results).

        Leases no longer held are returned in ``Batch.stale`` instead of raising; the others
        are completed. At most 1000 leases per call.
        """
        return await self._run(ops.ack_many(self._ctx, leases, result_ttl))

    async def requeue(self, lease: Lease, *, delay: Seconds | None = None, error: str | None = None) -> Job:
        """Give a leased job back, visible again after ``delay``; past ``max_attempts`` it is dead."""
        return await self._run(ops.requeue(self._ctx, lease, delay, error))

    async def fail(self, lease: Lease, error: str) -> Job:
        """Dead-letter a leased job now, recording ``error``; it is not retried."""
        return await self._run(ops.fail(self._ctx, lease, error))

    async def extend(self, lease: Lease, timeout: Seconds | None = None) -> Lease:
        """Renew a lease (a heartbeat): it now expires ``timeout`` seconds from now.

        The default is the job's own ``lease_timeout`` (not one given to ``dequeue``).
        Raises :class:`~kanal.errors.StaleLease` if the lease is no longer held.
        """
        return await self._run(ops.extend(self._ctx, lease, timeout))

    async def extend_many(self, leases: Iterable[Lease], timeout: Seconds | None = None) -> Batch[Lease]:
        """Renew many leases in one call; leases no longer held are returned in ``Batch.stale``."""
        return await self._run(ops.extend_many(self._ctx, leases, timeout))

    async def reschedule(
        self,
        queue: str,
        job_id: str,
        *,
        delay: Seconds | None = None,
        run_at: datetime | None = None,
    ) -> Job:
        """Move a scheduled or ready job to run after ``delay`` or at ``run_at``."""
        return await self._run(ops.reschedule(self._ctx, queue, job_id, delay, run_at))

    async def cancel(self, queue: str, job_id: str, *, force: bool = False) -> Job:
        """Cancel a scheduled or ready job; it is kept, cancelled, for ``result_ttl``.

        ``force=True`` also cancels a leased (running) job at once: its lease goes stale (the
        holder's ack, extend, requeue and fail raise :class:`~kanal.errors.StaleLease`) and its
        concurrency slot is freed. Cancelling a cancelled job returns it. A completed or dead
        job, or a leased one without ``force``, raises :class:`~kanal.errors.InvalidTransition`.
        """
        return await self._run(ops.cancel(self._ctx, queue, job_id, force))

    async def get(self, queue: str, job_id: str) -> Job | None:
        """The job's full state, or None."""
        return await self._run(ops.get(self._ctx, queue, job_id))

    async def wait(
        self, queue: str, job_id: str, *, timeout: Seconds | None = None, until: States = None
    ) -> Job:
        """Block until the job is completed, dead or cancelled, and return it.

        ``until`` waits for other states too, e.g. ``until="leased"`` returns once a consumer
        has started the job; a final state always ends the wait. Raises
        :class:`~kanal.errors.WaitTimeout` after ``timeout`` seconds (None: no limit) and
        :class:`~kanal.errors.JobNotFound` if there is no such job.
        """
        return await self._run(ops.wait(self._ctx, queue, job_id, timeout, until))

    async def list_jobs(
        self,
        queue: str,
        *,
        states: States = None,
        key: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        """A page of the queue's jobs in ``states`` (default: all), of one ``key`` if given,
        in the order they were enqueued. Listing ready jobs is how to peek without leasing."""
        return await self._run(ops.list_jobs(self._ctx, queue, states, key, limit, offset))

    async def dead_letters(self, queue: str, *, limit: int = 100, offset: int = 0) -> list[Job]:
        """A page of the queue's dead jobs, in the order they were enqueued."""
        return await self._run(ops.list_jobs(self._ctx, queue, JobState.DEAD, None, limit, offset))

    async def redrive(self, queue: str, job_ids: Iterable[str] | None = None, *, limit: int = 100) -> int:
        """Move dead jobs (these ids, or up to ``limit`` of them) back to ready with fresh attempts."""
        return await self._run(ops.redrive(self._ctx, queue, job_ids, limit))

    async def purge(self, queue: str, *, states: States = None, key: str | None = None) -> int:
        """Delete the queue's jobs in ``states`` (default: every state), of one ``key`` if
        given; return how many. Limits and the paused flag are kept."""
        return await self._run(ops.purge(self._ctx, queue, states, key))

    async def set_rate_limit(self, queue: str, limit: RateLimit | None, *, key: str | None = None) -> None:
        """Limit how fast jobs are handed out: for the queue, one ``key``, or each key (``"*"``).

        None removes the limit. The change applies to the very next dequeue.
        """
        return await self._run(ops.set_rate_limit(self._ctx, queue, limit, key))

    async def get_rate_limit(self, queue: str, *, key: str | None = None) -> RateLimit | None:
        """The rate limit set for exactly that scope, or None."""
        return await self._run(ops.get_rate_limit(self._ctx, queue, key))

    async def set_concurrency_limit(self, queue: str, limit: int | None, *, key: str | None = None) -> None:
        """Allow at most ``limit`` leased jobs at once for the queue, one key, or each key."""
        return await self._run(ops.set_concurrency_limit(self._ctx, queue, limit, key))

    async def get_concurrency_limit(self, queue: str, *, key: str | None = None) -> int | None:
        """The concurrency limit set for exactly that scope, or None."""
        return await self._run(ops.get_concurrency_limit(self._ctx, queue, key))

    async def pause(self, queue: str) -> None:
        """Hand out nothing from ``queue`` until :meth:`resume`; enqueue keeps working."""
        return await self._run(ops.pause(self._ctx, queue))

    async def resume(self, queue: str) -> None:
        """Hand out the queue's jobs again."""
        return await self._run(ops.resume(self._ctx, queue))

    async def stats(self, queue: str) -> QueueStats:
        """Counts per state (and per limited key) for one queue."""
        found = await self._run(ops.stats(self._ctx, queue))
        return found[0]

    async def queues(self) -> list[QueueStats]:
        """Every known queue with its counts, sorted by name."""
        return await self._run(ops.stats(self._ctx, None))

    async def recover(self, queue: str | None = None) -> Recovery:
        """Promote due jobs and reclaim expired leases now (every dequeue does this too)."""
        return await self._run(ops.recover(self._ctx, queue))
