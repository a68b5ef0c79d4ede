"""Tasks: functions registered on an :class:`~kanal.App`, enqueued with checked arguments.

A task's job carries the payload ``{"task": NAME, "args": [...], "kwargs": {...}}``, so any
producer (another language, ``kanal enqueue --task``) can enqueue one, and a worker that
has the task registered runs it.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from kanal import validation
from kanal.errors import InvalidArgument, JobCancelled, JobFailed, JobNotFound, SerializationError
from kanal.models import Job, JobState, Lease, RateLimit
from kanal.operations import JobSpec
from kanal.queue import States
from kanal.schedules import Schedule

if TYPE_CHECKING:
    from kanal.app import App

P = ParamSpec("P")
R = TypeVar("R")

#: Task names: what a worker looks tasks up by (and, for periodic tasks, part of job ids).
TASK_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")

#: Keyword arguments of :meth:`Task.enqueue` that set job options instead of passing through.
ENQUEUE_OPTIONS = frozenset({"delay", "run_at", "job_id", "priority", "key", "connection"})


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """How a task's jobs are enqueued and run (see ``App.task`` for each option)."""

    queue: str
    max_attempts: int | None
    backoff: Callable[[int], float]
    lease_timeout: float
    timeout: float | None
    priority: int
    rate_limit: RateLimit | None
    concurrency: int | None
    result_ttl: float | None

    @property
    def limited(self) -> bool:
        """Whether the task's jobs carry its name as key, for a per-task limit."""
        return self.rate_limit is not None or self.concurrency is not None


@dataclass(frozen=True, slots=True)
class Periodic:
    """When a periodic task runs, and with which fixed arguments."""

    schedule: Schedule
    never_skip: bool
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def task_name(fn: Callable[..., Any], name: str | None) -> str:
    """``name``, or ``module.qualname`` of ``fn`` minus ``<locals>``, checked against :data:`TASK_NAME`."""
    chosen = name if name is not None else f"{fn.__module__}.{fn.__qualname__}".replace(".<locals>", "")
    if not isinstance(chosen, str) or not TASK_NAME.fullmatch(chosen):
        hint = "" if name is not None else "; pass name=... to @app.task"
        raise InvalidArgument(f"invalid task name {chosen!r}: use 1-100 of letters, digits, _ . : -{hint}")
    return chosen


def task_payload(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The job payload that asks a worker to run task ``name``."""
    return {"task": name, "args": list(args), "kwargs": dict(kwargs)}


def parse_payload(payload: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """``(name, args, kwargs)`` of a task payload; ValueError says what is wrong with it."""
    if not isinstance(payload, dict) or not isinstance(payload.get("task"), str):
        raise ValueError('not a task payload: expected {"task": NAME, "args": [...], "kwargs": {...}}')
    args, kwargs = payload.get("args", []), payload.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("not a task payload: args must be a list and kwargs an object")
    return payload["task"], args, kwargs


class Retry(Exception):
    """Raise in a task to run it again after ``delay`` seconds (default: the task's backoff).

    The attempt counts: past ``max_attempts`` the job is dead.
    """

    def __init__(self, delay: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay = validation.optional_seconds("delay", delay)
        self.reason = reason


class Fail(Exception):
    """Raise in a task to dead-letter its job now with ``reason``, without more attempts."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class JobContext:
    """The job a task is running for; ``kanal.job_context()`` returns it inside a task.

    ``cancelled`` is set when the job was cancelled, its lease was lost, it ran past its
    timeout, or the worker is shutting down past its grace period. An async task gets a
    ``CancelledError`` instead; a sync task should check ``cancelled.is_set()`` in long loops.
    """

    lease: Lease
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def job(self) -> Job:
        """The job being run."""
        return self.lease.job

    @property
    def attempt(self) -> int:
        """Which delivery of the job this is (1 for the first)."""
        return self.lease.job.attempts


CURRENT_JOB: ContextVar[JobContext] = ContextVar("kanal_job")


def job_context() -> JobContext:
    """The :class:`JobContext` of the task running in this thread or asyncio task."""
    try:
        return CURRENT_JOB.get()
    except LookupError:
        raise RuntimeError("kanal.job_context() is only available inside a task run by a worker") from None


class Task(Generic[P, R]):
    """A function registered with ``@app.task``: call it directly, or enqueue it for a worker.

    ``send.enqueue(to, delay=30)`` checks the arguments against the function's signature and
    the serializer, then returns a :class:`JobHandle`. The job options ``delay``, ``run_at``,
    ``job_id``, ``priority``, ``key`` and ``connection`` are taken from the keyword arguments;
    use :meth:`enqueue_call` for a function that has parameters of those names.
    """

    def __init__(
        self,
        app: App,
        fn: Callable[P, R],
        name: str,
        options: TaskOptions,
        periodic: Periodic | None = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.options = options
        self.periodic = periodic
        self.is_async = inspect.iscoroutinefunction(fn)
        self._app = app
        self._signature = inspect.signature(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here and now, as a plain call."""
        return self.fn(*args, **kwargs)

    def enqueue(self, *args: Any, **kwargs: Any) -> JobHandle:
        """Enqueue a run with these arguments; job options come from the keyword arguments."""
        kwargs, options = self._split(kwargs)
        return self.enqueue_call(args, kwargs, **options)

    async def enqueue_async(self, *args: Any, **kwargs: Any) -> JobHandle:
        """:meth:`enqueue` on the app's asyncio client."""
        kwargs, options = self._split(kwargs)
        return await self.enqueue_call_async(args, kwargs, **options)

    def enqueue_call(
        self,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        delay: float | None = None,
        run_at: datetime | None = None,
        job_id: str | None = None,
        priority: int | None = None,
        key: str | None = None,
        connection: Any = None,
    ) -> JobHandle:
        """Enqueue with ``args`` and ``kwargs`` given as such, and the job options by name.

        ``delay`` or ``run_at`` hold the job back; ``job_id`` makes the enqueue idempotent;
        ``priority`` overrides the task's; ``key`` sets the job's key (not for limited tasks);
        ``connection`` joins a SQL transaction (see :meth:`kanal.Queue.enqueue`).
        """
        spec = self._spec(args, kwargs or {}, delay, run_at, job_id, priority, key)
        with self._naming_errors():
            job = self._app.queue.enqueue_many(self.options.queue, [spec], connection=connection)[0]
        return JobHandle(self._app, job)

    async def enqueue_call_async(
        self,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        delay: float | None = None,
        run_at: datetime | None = None,
        job_id: str | None = None,
        priority: int | None = None,
        key: str | None = None,
        connection: Any = None,
    ) -> JobHandle:
        """:meth:`enqueue_call` on the app's asyncio client."""
        spec = self._spec(args, kwargs or {}, delay, run_at, job_id, priority, key)
        with self._naming_errors():
            jobs = await self._app.async_queue.enqueue_many(self.options.queue, [spec], connection=connection)
        return JobHandle(self._app, jobs[0])

    def check_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Raise InvalidArgument unless the function accepts ``args`` and ``kwargs``."""
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgument(f"task {self.name}: {exc}") from None

    def _split(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        options = {name: kwargs.pop(name) for name in ENQUEUE_OPTIONS & kwargs.keys()}
        clash = sorted(options.keys() & self._signature.parameters.keys())
        if clash:
            raise InvalidArgument(
                f"{', '.join(clash)} of task {self.name} is both a parameter and a job option; "
                f"use {self.name}.enqueue_call(args, kwargs, {clash[0]}=...)"
            )
        return kwargs, options

    def _spec(
        self,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        delay: float | None,
        run_at: datetime | None,
        job_id: str | None,
        priority: int | None,
        key: str | None,
    ) -> JobSpec:
        self.check_arguments(args, kwargs)
        if self.options.limited:
            if key is not None:
                raise InvalidArgument(
                    f"task {self.name} has a rate or concurrency limit, applied through its name as "
                    "the job key; it takes no key= of its own"
                )
            key = self.name
        return JobSpec(
            task_payload(self.name, args, kwargs),
            id=job_id,
            delay=delay,
            run_at=run_at,
            priority=self.options.priority if priority is None else priority,
            key=key,
            max_attempts=self.options.max_attempts,
            lease_timeout=self.options.lease_timeout,
        )

    @contextlib.contextmanager
    def _naming_errors(self) -> Iterator[None]:
        try:
            yield
        except SerializationError as exc:
            raise SerializationError(f"arguments of task {self.name}: {exc}") from None


class JobHandle:
    """A job enqueued through a task: ask its state, wait for its result, or cancel it."""

    __slots__ = ("_app", "job")

    def __init__(self, app: App, job: Job) -> None:
        self._app = app
        #: The job as it was when enqueued (``get()`` fetches its current state).
        self.job = job

    @property
    def id(self) -> str:
        """The job's id."""
        return self.job.id

    @property
    def queue(self) -> str:
        """The job's queue."""
        return self.job.queue

    def __repr__(self) -> str:
        return f"<JobHandle {self.queue}/{self.id}>"

    def get(self) -> Job:
        """The job's current state; JobNotFound once it has expired."""
        return _found(self.job, self._app.queue.get(self.queue, self.id))

    def status(self) -> JobState:
        """The job's current state: scheduled, ready, leased, completed, dead or cancelled."""
        return self.get().state

    def result(self, timeout: float | None = None) -> Any:
        """Wait up to ``timeout`` seconds (None: no limit) for the task and return its result.

        Raises :class:`~kanal.errors.JobFailed` if the job is dead,
        :class:`~kanal.errors.JobCancelled` if it was cancelled and
        :class:`~kanal.errors.WaitTimeout` if it is not finished in time.
        """
        return outcome(self._app.queue.wait(self.queue, self.id, timeout=timeout))

    def wait(self, timeout: float | None = None, until: States = None) -> Job:
        """Block until the job is finished (or in one of ``until``, e.g. ``"leased"``: started)."""
        return self._app.queue.wait(self.queue, self.id, timeout=timeout, until=until)

    def cancel(self) -> Job:
        """Cancel the job; if a worker is running it, the task is stopped (see the guide)."""
        return self._app.queue.cancel(self.queue, self.id, force=True)

    async def get_async(self) -> Job:
        """:meth:`get` on the app's asyncio client."""
        return _found(self.job, await self._app.async_queue.get(self.queue, self.id))

    async def status_async(self) -> JobState:
        """:meth:`status` on the app's asyncio client."""
        return (await self.get_async()).state

    async def result_async(self, timeout: float | None = None) -> Any:
        """:meth:`result` on the app's asyncio client."""
        return outcome(await self._app.async_queue.wait(self.queue, self.id, timeout=timeout))

    async def wait_async(self, timeout: float | None = None, until: States = None) -> Job:
        """:meth:`wait` on the app's asyncio client."""
        return await self._app.async_queue.wait(self.queue, self.id, timeout=timeout, until=until)

    async def cancel_async(self) -> Job:
        """:meth:`cancel` on the app's asyncio client."""
        return await self._app.async_queue.cancel(self.queue, self.id, force=True)


def _found(job: Job, current: Job | None) -> Job:
    if current is None:
        raise JobNotFound(
            f"job {job.id!r} is not in queue {job.queue!r}: its result expired, it was purged, "
            "or the transaction that enqueued it did not commit"
        )
    return current


def outcome(job: Job) -> Any:
    """A finished job's result, or the error saying why there is none."""
    if job.state is JobState.DEAD:
        raise JobFailed(job)
    if job.state is JobState.CANCELLED:
        raise JobCancelled(job)
    return job.result
