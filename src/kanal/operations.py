"""The protocol, written once: validate and encode, run the backend's flow, decode.

:class:`~kanal.Queue` and :class:`~kanal.AsyncQueue` are one-line wrappers around these
functions, so sync and async share every rule and every error.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kanal import validation
from kanal.errors import (
    InvalidArgument,
    JobNotFound,
    PayloadTooLarge,
    SerializationError,
    WaitTimeout,
)
from kanal.flows import Flow
from kanal.ids import new_id
from kanal.models import FINAL_STATES, Batch, Job, JobState, Lease, QueueStats, RateLimit, Recovery
from kanal.settings import DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_ATTEMPTS, Settings
from kanal.spi import Backend, BlockingBackend, NewJob, TransactionalBackend

Seconds = float | timedelta


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job for :meth:`~kanal.Queue.enqueue_many`, with its own options."""

    payload: Any
    id: str | None = None
    delay: Seconds | None = None
    run_at: datetime | None = None
    priority: int = 0
    key: str | None = None
    max_attempts: int | None = DEFAULT_MAX_ATTEMPTS
    lease_timeout: Seconds = DEFAULT_LEASE_TIMEOUT


@dataclass(frozen=True, slots=True)
class Context:
    """What every operation needs: the backend and the connection's settings."""

    backend: Backend
    settings: Settings


def joined(ctx: Context) -> TransactionalBackend:
    """The backend, if it can join a caller's database transaction (``connection=``)."""
    if not ctx.backend.capabilities.transactional_enqueue:
        raise InvalidArgument(
            f"{type(ctx.backend).__name__} cannot join a database transaction: connection= needs "
            "a SQL backend (postgresql://, mysql://, mariadb://, sqlite://)"
        )
    return ctx.backend  # type: ignore[return-value]


def _blocking(ctx: Context) -> BlockingBackend:
    """The backend, which says it runs a blocking dequeue as one flow."""
    return ctx.backend  # type: ignore[return-value]


def enqueue_many(ctx: Context, queue: str, items: Iterable[Any]) -> Flow[list[Job]]:
    """Validate and encode every item, then store them all in one backend call."""
    queue = validation.queue_name(queue)
    specs = [
        item if isinstance(item, JobSpec) else JobSpec(item) for item in validation.bounded("jobs", items)
    ]
    if not specs:
        return []
    new = [_new_job(ctx, spec) for spec in specs]
    jobs = yield from ctx.backend.enqueue(queue, new)
    return [_decode_job(ctx, job) for job in jobs]


def enqueue(ctx: Context, queue: str, spec: JobSpec) -> Flow[Job]:
    """Store one job (see :func:`enqueue_many`)."""
    jobs = yield from enqueue_many(ctx, queue, [spec])
    return jobs[0]


def dequeue(
    ctx: Context,
    queues: str | Sequence[str],
    limit: int,
    wait: Seconds,
    lease_timeout: Seconds | None,
) -> Flow[list[Lease]]:
    """Lease up to ``limit`` jobs, trying ``queues`` in order; block up to ``wait`` seconds.

    A job whose payload cannot be decoded is dead-lettered with the reason and not returned.
    """
    names = validation.queue_names(queues)
    limit = validation.batch_limit(limit)
    budget = validation.seconds("wait", wait)
    timeout = validation.optional_seconds("lease_timeout", lease_timeout, allow_zero=False)
    deadline = time.monotonic() + budget
    blocking = budget > 0 and ctx.backend.capabilities.blocking_dequeue
    while True:
        raw: list[Lease] = []
        if blocking:
            left = max(deadline - time.monotonic(), 0.0)
            raw = yield from _blocking(ctx).dequeue_wait(names, limit, timeout, left)
        else:
            for name in names:
                if len(raw) < limit:
                    raw += yield from ctx.backend.dequeue(name, limit - len(raw), timeout)
        leases = []
        for lease in raw:
            decoded = yield from _decode_lease(ctx, lease)
            if decoded is not None:
                leases.append(decoded)
        remaining = deadline - time.monotonic()
        if leases or (not raw and remaining <= 0):
            return leases
        if not raw:
            yield from ctx.backend.wait_ready(names, remaining)


def ack(ctx: Context, lease: Lease, result: Any, result_ttl: Seconds | None) -> Flow[Job]:
    """Complete a leased job, storing ``result`` (if not None) for ``result_ttl`` seconds."""
    _check_lease(lease)
    ttl = ctx.settings.result_ttl if result_ttl is None else validation.seconds("result_ttl", result_ttl)
    encoded = None if result is None else _encode(ctx, result, "result")
    job = yield from ctx.backend.ack(lease, encoded, ttl)
    return _decode_settled(ctx, (id(lease.job.payload),), job)


def ack_and_dequeue(
    ctx: Context,
    lease: Lease,
    result: Any,
    result_ttl: Seconds | None,
    limit: int,
    lease_timeout: Seconds | None,
) -> Flow[tuple[Job, list[Lease]]]:
    """Complete ``lease``, then lease up to ``limit`` more jobs of its queue (never waiting).

    A backend that can does both in one round trip. A stale lease raises and leases nothing.
    """
    _check_lease(lease)
    ttl = ctx.settings.result_ttl if result_ttl is None else validation.seconds("result_ttl", result_ttl)
    limit = validation.batch_limit(limit)
    timeout = validation.optional_seconds("lease_timeout", lease_timeout, allow_zero=False)
    encoded = None if result is None else _encode(ctx, result, "result")
    job, raw = yield from ctx.backend.ack_and_dequeue(lease, encoded, ttl, limit, timeout)
    leases = []
    for new in raw:
        decoded = yield from _decode_lease(ctx, new)
        if decoded is not None:
            leases.append(decoded)
    return _decode_settled(ctx, (id(lease.job.payload),), job), leases


def ack_many(ctx: Context, leases: Iterable[Lease], result_ttl: Seconds | None) -> Flow[Batch[Job]]:
    """Complete many leased jobs at once; leases no longer held come back in ``stale``."""
    batch = _leases(leases)
    ttl = ctx.settings.result_ttl if result_ttl is None else validation.seconds("result_ttl", result_ttl)
    if not batch:
        return Batch([], [])
    done = yield from ctx.backend.ack_many(batch, ttl)
    own = {id(lease.job.payload) for lease in batch}
    return Batch([_decode_settled(ctx, own, job) for job in done.succeeded], done.stale)


def extend_many(ctx: Context, leases: Iterable[Lease], timeout: Seconds | None) -> Flow[Batch[Lease]]:
    """Renew many leases at once; leases no longer held come back in ``stale``."""
    batch = _leases(leases)
    seconds = validation.optional_seconds("timeout", timeout, allow_zero=False)
    if not batch:
        return Batch([], [])
    renewed = yield from ctx.backend.extend_many(batch, seconds)
    jobs = {(lease.queue, lease.id, lease.token): lease.job for lease in batch}
    return Batch(
        [dataclasses.replace(r, job=jobs[r.queue, r.id, r.token]) for r in renewed.succeeded],
        renewed.stale,
    )


def requeue(ctx: Context, lease: Lease, delay: Seconds | None, error: str | None) -> Flow[Job]:
    """Give a leased job back (after ``delay``); past ``max_attempts`` it goes dead."""
    _check_lease(lease)
    pause = validation.seconds("delay", 0 if delay is None else delay)
    job = yield from ctx.backend.requeue(lease, pause, _error_text(error, required=False))
    return _decode_job(ctx, job)


def fail(ctx: Context, lease: Lease, error: str) -> Flow[Job]:
    """Dead-letter a leased job now with ``error``."""
    _check_lease(lease)
    job = yield from ctx.backend.fail(lease, _error_text(error, required=True) or "")
    return _decode_job(ctx, job)


def extend(ctx: Context, lease: Lease, timeout: Seconds | None) -> Flow[Lease]:
    """Renew a lease for ``timeout`` seconds from now (server time)."""
    _check_lease(lease)
    seconds = validation.optional_seconds("timeout", timeout, allow_zero=False)
    renewed = yield from ctx.backend.extend(lease, seconds)
    return dataclasses.replace(renewed, job=lease.job)


def reschedule(
    ctx: Context, queue: str, job_id: str, delay: Seconds | None, run_at: datetime | None
) -> Flow[Job]:
    """Move a scheduled or ready job to run after ``delay`` or at ``run_at``."""
    queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
    if delay is None and run_at is None:
        raise InvalidArgument("reschedule needs delay or run_at")
    pause, when = validation.schedule(delay, run_at)
    job = yield from ctx.backend.reschedule(queue, job_id, pause, when)
    return _decode_job(ctx, job)


def cancel(ctx: Context, queue: str, job_id: str, force: bool) -> Flow[Job]:
    """Cancel a job that is scheduled or ready, or with ``force`` a leased one too
    (cancelling twice is a no-op)."""
    queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
    force = validation.flag("force", force)
    job = yield from ctx.backend.cancel(queue, job_id, ctx.settings.result_ttl, force)
    return _decode_job(ctx, job)


def get(ctx: Context, queue: str, job_id: str) -> Flow[Job | None]:
    """The job's full state, or None if there is no such job (any more)."""
    queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
    job = yield from ctx.backend.get(queue, job_id)
    return None if job is None else _decode_job(ctx, job)


def wait(
    ctx: Context,
    queue: str,
    job_id: str,
    timeout: Seconds | None,
    until: JobState | str | Iterable[JobState | str] | None,
) -> Flow[Job]:
    """Block until the job is in one of ``until`` (default: completed, dead or cancelled).

    A final state always ends the wait: a finished job never reaches another state.
    """
    queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
    budget = validation.optional_seconds("timeout", timeout)
    targets = tuple(FINAL_STATES) if until is None else validation.states(until, "until")
    deadline = None if budget is None else time.monotonic() + budget
    while True:
        job = yield from ctx.backend.get(queue, job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
        if job.state in targets or job.state.is_final:
            return _decode_job(ctx, job)
        remaining = 3600.0 if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(
                f"job {job_id!r} in queue {queue!r} is still {job.state.value} after {budget} s"
            )
        yield from ctx.backend.wait_job(queue, job_id, targets, remaining)


def list_jobs(
    ctx: Context,
    queue: str,
    states: JobState | str | Iterable[JobState | str] | None,
    key: str | None,
    limit: int,
    offset: int,
) -> Flow[list[Job]]:
    """A page of a queue's jobs in ``states`` (all when None), of one ``key`` if given, oldest first."""
    queue = validation.queue_name(queue)
    wanted = validation.states(states)
    key = validation.key(key)
    limit = validation.batch_limit(limit)
    offset = validation.integer("offset", offset, low=0, high=2**31)
    jobs = yield from ctx.backend.list_jobs(queue, wanted, key, limit, offset)
    return [_decode_job(ctx, job) for job in jobs]


def redrive(ctx: Context, queue: str, job_ids: Iterable[str] | None, limit: int) -> Flow[int]:
    """Move dead jobs (these ids, or up to ``limit`` oldest) back to ready; return the count."""
    queue = validation.queue_name(queue)
    ids = None if job_ids is None else [validation.job_id(i) for i in validation.bounded("job_ids", job_ids)]
    limit = validation.batch_limit(limit)
    return (yield from ctx.backend.redrive(queue, ids, limit))


def purge(
    ctx: Context, queue: str, states: JobState | str | Iterable[JobState | str] | None, key: str | None
) -> Flow[int]:
    """Delete a queue's jobs in ``states`` (every state when None), of one ``key`` if given."""
    queue = validation.queue_name(queue)
    wanted, key = validation.states(states), validation.key(key)
    return (yield from ctx.backend.purge(queue, wanted, key))


def set_rate_limit(ctx: Context, queue: str, limit: RateLimit | None, key: str | None) -> Flow[None]:
    """Set (or clear, with None) the token bucket of a queue, a key, or each key."""
    queue, scope = validation.queue_name(queue), validation.key(key, allow_each=True)
    if limit is not None and not isinstance(limit, RateLimit):
        raise InvalidArgument(f"limit must be a RateLimit or None, got {type(limit).__name__}")
    yield from ctx.backend.set_rate_limit(queue, scope, limit)


def get_rate_limit(ctx: Context, queue: str, key: str | None) -> Flow[RateLimit | None]:
    """The rate limit set for exactly this scope, or None."""
    queue, scope = validation.queue_name(queue), validation.key(key, allow_each=True)
    return (yield from ctx.backend.get_rate_limit(queue, scope))


def set_concurrency_limit(ctx: Context, queue: str, limit: int | None, key: str | None) -> Flow[None]:
    """Set (or clear) how many jobs of a queue, a key, or each key may be leased at once."""
    queue, scope = validation.queue_name(queue), validation.key(key, allow_each=True)
    if limit is not None:
        limit = validation.integer("limit", limit, low=1, high=validation.INT32[1])
    yield from ctx.backend.set_concurrency_limit(queue, scope, limit)


def get_concurrency_limit(ctx: Context, queue: str, key: str | None) -> Flow[int | None]:
    """The concurrency limit set for exactly this scope, or None."""
    queue, scope = validation.queue_name(queue), validation.key(key, allow_each=True)
    return (yield from ctx.backend.get_concurrency_limit(queue, scope))


def pause(ctx: Context, queue: str) -> Flow[None]:
    """Stop handing out the queue's jobs (enqueue still works)."""
    yield from ctx.backend.pause(validation.queue_name(queue))


def resume(ctx: Context, queue: str) -> Flow[None]:
    """Hand out the queue's jobs again."""
    yield from ctx.backend.resume(validation.queue_name(queue))


def stats(ctx: Context, queue: str | None) -> Flow[list[QueueStats]]:
    """Counts per state for one queue, or every known queue."""
    name = None if queue is None else validation.queue_name(queue)
    return (yield from ctx.backend.stats(name))


def recover(ctx: Context, queue: str | None) -> Flow[Recovery]:
    """Promote due jobs and reclaim expired leases now, for one queue or all."""
    name = None if queue is None else validation.queue_name(queue)
    return (yield from ctx.backend.recover(name))


def _new_job(ctx: Context, spec: JobSpec) -> NewJob:
    delay, run_at = validation.schedule(spec.delay, spec.run_at)
    return NewJob(
        id=new_id() if spec.id is None else validation.job_id(spec.id),
        payload=_encode(ctx, spec.payload, "payload"),
        priority=validation.priority(spec.priority),
        key=validation.key(spec.key),
        delay=delay,
        run_at=run_at,
        max_attempts=validation.max_attempts(spec.max_attempts),
        lease_timeout=validation.seconds("lease_timeout", spec.lease_timeout, allow_zero=False),
    )


def _encode(ctx: Context, value: Any, what: str) -> bytes:
    try:
        data = ctx.settings.serializer.dumps(value)
    except SerializationError as exc:
        raise SerializationError(f"cannot encode the {what}: {exc}") from exc
    except Exception as exc:
        raise SerializationError(f"cannot encode the {what} of type {type(value).__name__}: {exc}") from exc
    if not isinstance(data, bytes):
        raise SerializationError(f"serializer returned {type(data).__name__}, not bytes")
    if len(data) > ctx.settings.max_payload_bytes:
        raise PayloadTooLarge(
            f"the encoded {what} is {len(data)} bytes, over the limit of "
            f"{ctx.settings.max_payload_bytes} (connect option max_payload_bytes)"
        )
    return data


def _decode(ctx: Context, data: Any) -> Any:
    """Decode stored bytes; bytes that cannot be decoded come back unchanged."""
    if not isinstance(data, bytes):
        return data
    try:
        return ctx.settings.serializer.loads(data)
    except Exception:
        return data


def _decode_job(ctx: Context, job: Job) -> Job:
    return _with_data(job, _decode(ctx, job.payload), _decode(ctx, job.result))


def _decode_settled(ctx: Context, own: Container[int], job: Job) -> Job:
    """A job that settled a lease, decoded. Its payload may be the lease's own, already
    decoded object (see :mod:`kanal.spi`), kept as is: ``own`` holds the ``id()`` of each
    settled lease's payload (the leases are alive, so no other object has one of them)."""
    payload = job.payload if id(job.payload) in own else _decode(ctx, job.payload)
    return _with_data(job, payload, _decode(ctx, job.result))


def _with_data(job: Job, payload: Any, result: Any) -> Job:
    """``job`` with another payload and result (what ``dataclasses.replace`` does, faster)."""
    return Job(
        id=job.id,
        queue=job.queue,
        payload=payload,
        state=job.state,
        priority=job.priority,
        key=job.key,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        lease_timeout=job.lease_timeout,
        run_at=job.run_at,
        enqueued_at=job.enqueued_at,
        first_dequeued_at=job.first_dequeued_at,
        last_dequeued_at=job.last_dequeued_at,
        finished_at=job.finished_at,
        last_error=job.last_error,
        result=result,
    )


def _decode_lease(ctx: Context, lease: Lease) -> Flow[Lease | None]:
    """The lease with its payload decoded; an undecodable job is dead-lettered instead."""
    try:
        payload = ctx.settings.serializer.loads(lease.job.payload)
    except Exception as exc:
        reason = f"payload cannot be decoded by {type(ctx.settings.serializer).__name__}: {exc}"
        yield from ctx.backend.fail(lease, reason[:1000])
        return None
    return Lease(_with_data(lease.job, payload, lease.job.result), lease.token, lease.expires_at)


def _check_lease(lease: object) -> None:
    if not isinstance(lease, Lease):
        raise InvalidArgument(f"expected a Lease from dequeue, got {type(lease).__name__}")
    validation.queue_name(lease.queue)
    validation.job_id(lease.id)
    if not isinstance(lease.token, str) or not lease.token:
        raise InvalidArgument(f"the lease's token must be a non-empty string, got {lease.token!r}")


def _leases(leases: Iterable[Lease]) -> list[Lease]:
    batch = validation.bounded("leases", leases)
    for lease in batch:
        _check_lease(lease)
    return batch


def _error_text(error: object, *, required: bool) -> str | None:
    if error is None and not required:
        return None
    if not isinstance(error, str) or not error:
        raise InvalidArgument(f"error must be a non-empty string, got {error!r}")
    return error[:10_000]
