"""One error hierarchy for every backend: catch :class:`KanalError` to catch them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kanal.models import Job


class KanalError(Exception):
    """Base class of every error kanal raises."""


class InvalidArgument(KanalError, ValueError):
    """An argument was rejected before any I/O; nothing was written."""


class InvalidName(InvalidArgument):
    """A queue name, job id or key does not match the allowed pattern."""


class SerializationError(InvalidArgument):
    """A payload or result could not be encoded; the message names the type and path."""


class PayloadTooLarge(InvalidArgument):
    """An encoded payload or result is larger than the configured limit."""


class StaleLease(KanalError):
    """The lease token is not the job's current one, or the lease has expired.

    Raised by ack, requeue, fail and extend; the job is left unchanged.
    """


class JobNotFound(KanalError, LookupError):
    """No job with that id exists in that queue."""


class InvalidTransition(KanalError):
    """The job's state does not allow the operation (e.g. cancelling a leased job)."""


class WaitTimeout(KanalError, TimeoutError):
    """A job did not reach a final state within the time given to ``wait``."""


class UnknownScheme(KanalError, ValueError):
    """No installed backend handles the URL's scheme."""


class BackendUnavailable(KanalError, ConnectionError):
    """The backend could not be reached; the message carries the redacted URL."""


class ConfigError(KanalError, ValueError):
    """A connection option or backend setting is invalid."""


class JobFailed(KanalError):
    """A job whose result was asked for is dead; ``job.last_error`` says why."""

    def __init__(self, job: Job) -> None:
        error = (job.last_error or "no error recorded").strip().splitlines()
        super().__init__(f"job {job.id!r} in queue {job.queue!r} is dead: {error[-1] if error else ''}")
        self.job = job


class JobCancelled(KanalError):
    """A job whose result was asked for was cancelled."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id!r} in queue {job.queue!r} was cancelled")
        self.job = job
