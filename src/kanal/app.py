"""The :class:`App`: tasks and periodic tasks bound to one backend URL."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from kanal import validation
from kanal.async_queue import AsyncQueue
from kanal.backoff import Backoff, BackoffLike, as_backoff
from kanal.connect import open_backend
from kanal.errors import ConfigError, InvalidArgument
from kanal.models import RateLimit
from kanal.queue import Queue
from kanal.schedules import schedule_of
from kanal.serializers import JSONSerializer, Serializer
from kanal.settings import (
    DEFAULT_LEASE_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_RESULT_TTL,
    Settings,
)
from kanal.spi import Backend
from kanal.tasks import JobHandle, Periodic, Task, TaskOptions, task_name

if TYPE_CHECKING:
    from kanal.worker import Worker, WorkerStats

P = ParamSpec("P")
R = TypeVar("R")

#: The queue of tasks that name none.
DEFAULT_QUEUE = "default"


class App:
    """Tasks bound to one backend: ``app = kanal.App("redis://localhost")``.

    ``url`` defaults to ``$KANAL_URL``. Other keyword arguments are those of
    :func:`kanal.connect`. The connection opens on first use; one backend serves the
    blocking client (:attr:`queue`) and the asyncio ones (:attr:`async_queue`).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        serializer: Serializer | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        result_ttl: float = DEFAULT_RESULT_TTL,
        **backend_options: Any,
    ) -> None:
        url = url if url is not None else os.environ.get("KANAL_URL")
        if not url:
            raise ConfigError("App needs a backend URL: App('redis://localhost') or $KANAL_URL")
        self.url = url
        self.default_queue = validation.queue_name(queue)
        self.settings = Settings(serializer or JSONSerializer(), max_payload_bytes, result_ttl)
        self.tasks: dict[str, Task[Any, Any]] = {}
        self._backend_options = backend_options
        self._backend: Backend | None = None
        self._lock = threading.RLock()
        self._queue: Queue | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncQueue] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"<App {self.queue.url if self._queue else 'not connected'} tasks={len(self.tasks)}>"

    @property
    def backend(self) -> Backend:
        """The backend, opened on first use."""
        with self._lock:
            if self._backend is None:
                self._backend = open_backend(self.url, self._backend_options)
            return self._backend

    @property
    def queue(self) -> Queue:
        """The blocking client."""
        with self._lock:
            if self._queue is None:
                self._queue = Queue(self.backend, settings=self.settings, url=self.url)
            return self._queue

    @property
    def async_queue(self) -> AsyncQueue:
        """The asyncio client of the running event loop (one per loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async.get(loop)
            if client is None:
                client = self._async[loop] = AsyncQueue(self.backend, settings=self.settings, url=self.url)
            return client

    def close(self) -> None:
        """Close the blocking client (asyncio ones close with :meth:`aclose` in their loop)."""
        if self._queue is not None:
            self._queue.close()
            self._queue = None

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        queue: str | None = None,
        max_attempts: int | None = DEFAULT_MAX_ATTEMPTS,
        backoff: BackoffLike = ...,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        timeout: float | None = None,
        priority: int = 0,
        rate_limit: RateLimit | None = None,
        concurrency: int | None = None,
        result_ttl: float | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(self, fn: Callable[P, R] | None = None, /, **options: Any) -> Any:  # type: ignore[misc]
        """Register a function (sync or ``async def``) as a task: ``@app.task`` or ``@app.task(...)``.

        - ``name``: what workers look the task up by (default ``module.qualname``).
        - ``queue``: its queue (default: the app's). ``priority``: lower runs first.
        - ``max_attempts``: deliveries before the job is dead (None: no limit).
        - ``backoff``: delay before a retry: a :class:`~kanal.Backoff` (default: 1 s doubling
          up to an hour, 25% jitter), fixed seconds, or a function of the attempt number.
        - ``lease_timeout``: seconds a worker holds the job between heartbeats.
        - ``timeout``: seconds the task may run before it is stopped and retried.
        - ``rate_limit`` (a :class:`~kanal.RateLimit`) and ``concurrency`` (an int): limits
          for this task across all workers, applied through the job key (the task name).
        - ``result_ttl``: how long the return value is kept (default: the app's).
        """
        if fn is not None:
            return self._register(fn, options, None)
        return lambda f: self._register(f, options, None)

    def periodic(
        self,
        *,
        every: float | timedelta | None = None,
        cron: str | None = None,
        tz: str = "UTC",
        never_skip: bool = False,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Callable[[Callable[P, R]], Task[P, R]]:
        """Register a task that workers enqueue on a schedule: ``every`` seconds or on ``cron``.

        Each tick is enqueued once however many workers run (its job id names the tick).
        ``cron`` is a cron expression in time zone ``tz``; a bad one fails here. A missed
        tick (no worker running) runs once when a worker is back; with ``never_skip=True``
        every missed tick runs, one after the other. ``args``/``kwargs`` are passed to each
        run. Other options are those of :meth:`task`.
        """
        periodic = Periodic(
            schedule_of(every, cron, tz),
            validation.flag("never_skip", never_skip),
            tuple(args),
            dict(kwargs or {}),
        )
        return lambda f: self._register(f, options, periodic)

    def _register(
        self, fn: Callable[P, R], options: Mapping[str, Any], periodic: Periodic | None
    ) -> Task[P, R]:
        if not callable(fn):
            raise InvalidArgument(f"@app.task decorates a function, got {fn!r}")
        name = task_name(fn, options.get("name"))
        if name in self.tasks:
            raise InvalidArgument(f"a task named {name!r} is already registered on this app")
        task = Task(self, fn, name, self._options(options), periodic)
        if periodic is not None:
            task._spec(periodic.args, periodic.kwargs, None, None, None, None, None)
        self.tasks[name] = task
        return task

    def _options(self, given: Mapping[str, Any]) -> TaskOptions:
        allowed = {
            "name", "queue", "max_attempts", "backoff", "lease_timeout", "timeout",
            "priority", "rate_limit", "concurrency", "result_ttl",
        }  # fmt: skip
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise InvalidArgument(f"unknown task option(s) {', '.join(unknown)}; allowed: {sorted(allowed)}")
        rate_limit = given.get("rate_limit")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise InvalidArgument(f"rate_limit must be a kanal.RateLimit, got {rate_limit!r}")
        concurrency = given.get("concurrency")
        return TaskOptions(
            queue=validation.queue_name(given.get("queue", self.default_queue)),
            max_attempts=validation.max_attempts(given.get("max_attempts", DEFAULT_MAX_ATTEMPTS)),
            backoff=as_backoff(given.get("backoff", Backoff())),
            lease_timeout=validation.seconds(
                "lease_timeout", given.get("lease_timeout", DEFAULT_LEASE_TIMEOUT), allow_zero=False
            ),
            timeout=validation.optional_seconds("timeout", given.get("timeout"), allow_zero=False),
            priority=validation.priority(given.get("priority", 0)),
            rate_limit=rate_limit,
            concurrency=None
            if concurrency is None
            else validation.integer("concurrency", concurrency, low=1, high=2**31 - 1),
            result_ttl=validation.optional_seconds("result_ttl", given.get("result_ttl")),
        )

    def enqueue(
        self, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> JobHandle:
        """Enqueue the registered task ``name`` (rpqueue's ``call_task``), checked as usual."""
        return self.task_named(name).enqueue_call(args, kwargs, **options)

    def task_named(self, name: str) -> Task[Any, Any]:
        """The registered task ``name``; InvalidArgument lists the known ones if it is not."""
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise InvalidArgument(f"no task named {name!r} on this app (registered: {known})") from None

    def queues(self) -> list[str]:
        """The queues of the registered tasks, default queue first."""
        names = {task.options.queue for task in self.tasks.values()}
        return sorted(names, key=lambda q: (q != self.default_queue, q))

    def worker(self, **options: Any) -> Worker:
        """A :class:`~kanal.Worker` for this app's tasks; options as :class:`~kanal.Worker`."""
        from kanal.worker import Worker

        return Worker(self, **options)

    def run_worker(self, **options: Any) -> WorkerStats:
        """Run a worker in this thread until it stops (SIGTERM/SIGINT, or empty in burst mode).

        Returns what it did; its asyncio client is closed at the end.
        """
        return asyncio.run(self._work(self.worker(**options)))

    async def _work(self, worker: Worker) -> WorkerStats:
        try:
            return await worker.run()
        finally:
            await self.aclose()
