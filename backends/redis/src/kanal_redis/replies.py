"""Script replies turned into kanal's models, and script errors into kanal's errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kanal.errors import InvalidTransition, JobNotFound, KanalError, StaleLease
from kanal.models import Job, JobState, Lease, timestamp
from kanal.spi import NewJob

#: Error replies of kanal's scripts start with this word, then a code and a detail.
ERROR_PREFIX = "KANAL "


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _time(value: bytes | None) -> Any:
    return None if value is None else timestamp(int(value) / 1e6)


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
        _token,
        _expires,
    ) = row
    return Job(
        id=job_id.decode(),
        queue=queue,
        payload=payload,
        state=JobState(state.decode()),
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
    return Job(
        id=new.id,
        queue=queue,
        payload=new.payload,
        state=JobState(state.decode()),
        priority=new.priority,
        key=new.key,
        attempts=0,
        max_attempts=new.max_attempts,
        lease_timeout=round(new.lease_timeout * 1_000_000) / 1e6,
        run_at=_time(run_at),
        enqueued_at=_time(enqueued_at),
    )


def lease(queue: str, row: Sequence[Any]) -> Lease:
    """A lease from a leased job's reply (its token and expiry are the last two fields)."""
    return Lease(job(queue, row), row[-2].decode(), _time(row[-1]))


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
    if code == "TRANSITION":
        verb = words[1] if len(words) > 1 else "changed"
        return InvalidTransition(f"job {job_id!r} is {detail}; only scheduled or ready jobs can be {verb}")
    return None
