"""The memory backend: its calls, its two transports and its URL factory."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kanal.clock import Clock, SystemClock
from kanal.errors import ConfigError
from kanal.flows import Flow
from kanal.memory.store import Channel, MemoryStore, Wake
from kanal.models import Job, JobState, Lease, QueueStats, RateLimit, Recovery
from kanal.spi import BulkDefaults, Capabilities, NewJob

_named_stores: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run ``MemoryStore.<method>(*args)`` atomically."""

    method: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Wait:
    """Block up to ``timeout`` seconds until ``channels`` signal or the condition holds.

    ``check`` names the store method telling whether, or when, the condition holds.
    """

    channels: tuple[Channel, ...]
    check: Invoke
    timeout: float


def _invoke(method: str, *args: Any) -> Flow[Any]:
    return (yield Invoke(method, args))


def _run_invoke(store: MemoryStore, call: Invoke) -> Any:
    with store.lock:
        return getattr(store, call.method)(*call.args)


def _begin_wait(store: MemoryStore, call: Wait, wake: Wake) -> float | None:
    with store.lock:
        due_in = _run_invoke(store, call.check)
        return store.begin_wait(call.channels, due_in, call.timeout, wake)


def _end_wait(store: MemoryStore, call: Wait, wake: Wake) -> None:
    with store.lock:
        store.end_wait(call.channels, wake)


class MemorySyncTransport:
    """Runs memory calls in the calling thread; waits on a ``threading.Event``."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def run(self, call: Invoke | Wait) -> Any:
        if isinstance(call, Invoke):
            return _run_invoke(self._store, call)
        event = threading.Event()
        timeout = _begin_wait(self._store, call, event.set)
        if timeout is not None:
            try:
                event.wait(timeout)
            finally:
                _end_wait(self._store, call, event.set)
        return None

    def close(self) -> None:
        """Nothing to release: the store lives as long as its backend."""


class MemoryAsyncTransport:
    """Runs memory calls on the event loop; waits on a future woken thread-safely."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def run(self, call: Invoke | Wait) -> Any:
        if isinstance(call, Invoke):
            return _run_invoke(self._store, call)
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, woken)

        timeout = _begin_wait(self._store, call, wake)
        if timeout is not None:
            try:
                await asyncio.wait_for(woken, timeout)
            except TimeoutError:
                pass
            finally:
                _end_wait(self._store, call, wake)
        return None

    async def close(self) -> None:
        """Nothing to release: the store lives as long as its backend."""


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class MemoryBackend(BulkDefaults):
    """Jobs held in this process: for unit tests and single-process use.

    Complete and held to the same conformance suite as every other backend. Pass a
    :class:`~kanal.clock.FakeClock` to move time by hand.
    """

    def __init__(self, *, clock: Clock | None = None, store: MemoryStore | None = None) -> None:
        if store is not None and clock is not None and store.clock is not clock:
            raise ConfigError("this memory store already has a different clock")
        self.store = store or MemoryStore(clock or SystemClock())
        #: Time can be moved by tests only when the store runs on a clock with ``advance``.
        self.capabilities = Capabilities(
            push_wakeups=True, controllable_clock=callable(getattr(self.store.clock, "advance", None))
        )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryBackend:
        """``memory://`` is a new private store; ``memory://NAME`` is shared in this process.

        Options: ``clock`` (a :class:`~kanal.clock.Clock`, e.g. ``FakeClock()``).
        """
        unknown = set(options) - {"clock"}
        if unknown:
            raise ConfigError(
                f"unknown memory backend option(s): {', '.join(sorted(unknown))}; allowed: clock"
            )
        clock: Clock | None = options.get("clock")
        name = url.split("://", 1)[1].strip("/")
        if not name:
            return cls(clock=clock)
        with _named_lock:
            store = _named_stores.get(name)
            if store is None:
                store = _named_stores[name] = MemoryStore(clock or SystemClock())
        return cls(clock=clock, store=store)

    @property
    def clock(self) -> Clock:
        """The clock this backend's store runs on."""
        return self.store.clock

    def sync_transport(self) -> MemorySyncTransport:
        return MemorySyncTransport(self.store)

    def async_transport(self) -> MemoryAsyncTransport:
        return MemoryAsyncTransport(self.store)

    def enqueue(self, queue: str, jobs: Sequence[NewJob]) -> Flow[list[Job]]:
        return _invoke("enqueue", queue, list(jobs))

    def dequeue(self, queue: str, limit: int, lease_timeout: float | None) -> Flow[list[Lease]]:
        return _invoke("dequeue", queue, limit, lease_timeout)

    def wait_ready(self, queues: Sequence[str], timeout: float) -> Flow[None]:
        channels = tuple(("queue", q) for q in queues)
        yield Wait(channels, Invoke("ready_in", (tuple(queues),)), timeout)

    def ack(self, lease: Lease, result: bytes | None, result_ttl: float) -> Flow[Job]:
        return _invoke("ack", lease, result, result_ttl)

    def requeue(self, lease: Lease, delay: float, error: str | None) -> Flow[Job]:
        return _invoke("requeue", lease, delay, error)

    def fail(self, lease: Lease, error: str) -> Flow[Job]:
        return _invoke("fail", lease, error)

    def extend(self, lease: Lease, timeout: float | None) -> Flow[Lease]:
        return _invoke("extend", lease, timeout)

    def reschedule(self, queue: str, job_id: str, delay: float, run_at: float | None) -> Flow[Job]:
        return _invoke("reschedule", queue, job_id, delay, run_at)

    def cancel(self, queue: str, job_id: str, ttl: float, force: bool) -> Flow[Job]:
        return _invoke("cancel", queue, job_id, ttl, force)

    def get(self, queue: str, job_id: str) -> Flow[Job | None]:
        return _invoke("get", queue, job_id)

    def wait_job(self, queue: str, job_id: str, until: Sequence[JobState], timeout: float) -> Flow[None]:
        check = Invoke("job_changes_in", (queue, job_id, tuple(until)))
        yield Wait((("job", queue, job_id),), check, timeout)

    def list_jobs(
        self, queue: str, states: Sequence[JobState], key: str | None, limit: int, offset: int
    ) -> Flow[list[Job]]:
        return _invoke("list_jobs", queue, tuple(states), key, limit, offset)

    def redrive(self, queue: str, job_ids: Sequence[str] | None, limit: int) -> Flow[int]:
        return _invoke("redrive", queue, job_ids, limit)

    def purge(self, queue: str, states: Sequence[JobState], key: str | None) -> Flow[int]:
        return _invoke("purge", queue, tuple(states), key)

    def set_rate_limit(self, queue: str, key: str | None, limit: RateLimit | None) -> Flow[None]:
        return _invoke("set_rate_limit", queue, key, limit)

    def get_rate_limit(self, queue: str, key: str | None) -> Flow[RateLimit | None]:
        return _invoke("get_rate_limit", queue, key)

    def set_concurrency_limit(self, queue: str, key: str | None, limit: int | None) -> Flow[None]:
        return _invoke("set_concurrency_limit", queue, key, limit)

    def get_concurrency_limit(self, queue: str, key: str | None) -> Flow[int | None]:
        return _invoke("get_concurrency_limit", queue, key)

    def pause(self, queue: str) -> Flow[None]:
        return _invoke("pause", queue)

    def resume(self, queue: str) -> Flow[None]:
        return _invoke("resume", queue)

    def stats(self, queue: str | None) -> Flow[list[QueueStats]]:
        return _invoke("stats", queue)

    def recover(self, queue: str | None) -> Flow[Recovery]:
        return _invoke("recover", queue)
