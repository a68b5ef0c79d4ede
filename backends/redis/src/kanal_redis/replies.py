"""Script replies turned into kanal's models, and script errors into kanal's errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kanal.errors import InvalidTransition, JobNotFound, KanalError, StaleLease
from kanal.models import Job, JobState, Lease, timestamp
from kanal.spi import NewJob, cancel_refused

#: Error replies of kanal's scripts start with this word, then a code and a detail.
ERROR_PREFIX = "KANAL "


_STATES = {state.value.encode(): state for state in JobState}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _time(value: bytes | None) -> Any:
    return None if value is None else timestamp(int(value) / 1e6)


class Times(dict[bytes, datetime]):
    """The times of one reply, each converted once: the jobs of a batch share most of them
    (the call's time, a lease expiry, the enqueue time of a bulk enqueue)."""

    def __missing__(self, value: bytes) -> datetime:
        converted = self[value] = datetime.fromtimestamp(int(value) / 1e6, UTC)
        return converted


def job(queue: str, row: Sequence[Any]) -> Job:
    """A job from its reply: the id, then ``scripts.FIELDS`` in order."""
    (
        job_id,
        payload,
        state,
        priority,
        key,
        attempts,
        max_attempts,
        lease_timeout,
        run_at,
        enqueued_at,
        first_dequeued,
        last_dequeued,
        finished,
        last_error,
        result,
    ) = row
    return Job(
        id=job_id.decode(),
        queue=queue,
        payload=payload,
        state=_STATES[state],
        priority=int(priority),
        key=_text(key),
        attempts=int(attempts),
        max_attempts=None if max_attempts is None else int(max_attempts),
        lease_timeout=int(lease_timeout) / 1e6,
        run_at=_time(run_at),
        enqueued_at=_time(enqueued_at),
        first_dequeued_at=_time(first_dequeued),
        last_dequeued_at=_time(last_dequeued),
        finished_at=_time(finished),
        last_error=_text(last_error),
        result=result,
    )


def stored(queue: str, new: NewJob, row: Sequence[Any]) -> Job:
    """The job ``enqueue`` returns: ``{state, run at, enqueued at}`` for a job it stored
    (the rest is what was sent), else the job reply of the job that already had the id."""
    if len(row) != 3:
        return job(queue, row)
    state, run_at, enqueued_at = row
    ran = _time(run_at)
    return Job(
        id=new.id,
        queue=queue,
        payload=new.payload,
        state=_STATES[state],
        priority=new.priority,
        key=new.key,
        attempts=0,
        max_attempts=new.max_attempts,
        lease_timeout=round(new.lease_timeout * 1_000_000) / 1e6,
        run_at=ran,
        enqueued_at=ran if enqueued_at == run_at else _time(enqueued_at),
    )


def lease(queue: str, row: Sequence[Any], times: Times) -> Lease:
    """A lease from its reply: the id, then the leased job's payload, priority, key, attempts,
    max attempts, lease timeout, run at, enqueued at, first and last dequeued, last error,
    token and expiry (``LEASE_REPLY`` in ``_lib.lua``)."""
    (
        job_id,
        payload,
        priority,
        key,
        attempts,
        max_attempts,
        lease_timeout,
        run_at,
        enqueued_at,
        first_dequeued,
        last_dequeued,
        last_error,
        token,
        expires,
    ) = row
    job = Job(
        id=job_id.decode(),
        queue=queue,
        payload=payload,
        state=JobState.LEASED,
        priority=int(priority),
        key=None if key is None else key.decode(),
        attempts=int(attempts),
        max_attempts=None if max_attempts is None else int(max_attempts),
        lease_timeout=int(lease_timeout) / 1e6,
        run_at=times[run_at],
        enqueued_at=times[enqueued_at],
        first_dequeued_at=times[first_dequeued],
        last_dequeued_at=times[last_dequeued],
        last_error=None if last_error is None else last_error.decode(),
    )
    return Lease(job, token.decode(), times[expires])


def completed(lease: Lease, row: Sequence[Any], result: bytes | None, times: Times) -> Job:
    """The job an ack completed: its lease's job, finished at ``row[1]``, with ``result``
    (or, when the ack was a replay, the result stored by the first one, ``row[2]``).

    The payload is the lease's own object, which the core keeps as is (see ``kanal.spi``).
    """
    leased = lease.job
    return Job(
        id=leased.id,
        queue=leased.queue,
        payload=leased.payload,
        state=JobState.COMPLETED,
        priority=leased.priority,
        key=leased.key,
        attempts=leased.attempts,
        max_attempts=leased.max_attempts,
        lease_timeout=leased.lease_timeout,
        run_at=leased.run_at,
        enqueued_at=leased.enqueued_at,
        first_dequeued_at=leased.first_dequeued_at,
        last_dequeued_at=leased.last_dequeued_at,
        finished_at=times[row[1]],
        last_error=leased.last_error,
        result=row[2] if len(row) > 2 else result,
    )


def renewed(lease: Lease, row: Sequence[Any]) -> Lease:
    """The lease an extend renewed, expiring at ``row[1]``."""
    return Lease(lease.job, lease.token, _time(row[1]))


def error(text: str, queue: str, job_id: str) -> KanalError | None:
    """The kanal error a script's error reply names, or None if it is not one of kanal's."""
    if not text.startswith(ERROR_PREFIX):
        return None
    # Redis may append where the error was raised ("script: …"): only the first words count.
    code, *words = text[len(ERROR_PREFIX) :].split()
    detail = words[0] if words else ""
    if code == "GONE":
        return StaleLease(f"job {job_id!r} in queue {queue!r} no longer exists")
    if code == "REDELIVERED":
        return StaleLease(f"stale lease on job {job_id!r}: it has been delivered again since")
    if code == "NOTHELD":
        return StaleLease(
            f"the lease on job {job_id!r} is no longer held (it expired or was already settled); "
            f"the job is {detail}"
        )
    if code == "NOTFOUND":
        return JobNotFound(f"no job {job_id!r} in queue {queue!r}")
    if code == "CANCEL":
        return cancel_refused(job_id, detail)
    if code == "TRANSITION":
        verb = words[1] if len(words) > 1 else "changed"
        return InvalidTransition(f"job {job_id!r} is {detail}; only scheduled or ready jobs can be {verb}")
    return None
