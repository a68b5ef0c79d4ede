"""kanal's :class:`~kanal.Worker`: ``kanal:URL`` runs an ``async def`` no-op task, ``kanal-sync:URL`` a
plain function (run in the worker's thread pool).

One :class:`kanal.App` per system, on any URL kanal takes. Each run registers the no-op task on
the run's fresh queue (named after it), fills the queue with ``enqueue_many`` of the task's job
specs (what ``task.enqueue`` sends, in chunks of 500), then times
``app.worker(queues=[queue], burst=True, concurrency=C, scheduler=False,
handle_signals=False).run()``: from the call to its return, which comes after an empty dequeue
that no settle overlapped. The worker leases up to C jobs per call (its default batch) and acks
each finished job together with leasing the next (``ack_and_dequeue``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import kanal
from benchmarks.drain import register
from benchmarks.drain.base import PROBE, AsyncDrain, Bridge, Drain, Window
from kanal.tasks import task_payload

#: Jobs per ``enqueue_many`` call when filling a queue.
FILL_CHUNK = 500


async def noop_async(n: int) -> None:
    """The async task: does nothing but tell the probe."""
    PROBE.hit()


def noop_sync(n: int) -> None:
    """The sync task: does nothing but tell the probe."""
    PROBE.hit()


@register("kanal")
def _async(url: str) -> Drain:
    return _bridge(url, noop_async)


@register("kanal-sync")
def _sync(url: str) -> Drain:
    return _bridge(url, noop_sync)


def _bridge(url: str, fn: Callable[[int], Any]) -> Drain:
    async def connect() -> AsyncDrain:
        return KanalDrain(kanal.App(url), fn)

    return Bridge(connect)


class KanalDrain:
    """Burst workers of one app; each queue gets its own registration of the no-op task."""

    knob = True

    def __init__(self, app: kanal.App, fn: Callable[[int], Any]) -> None:
        self._app = app
        self._fn = fn

    @staticmethod
    def _name(queue: str) -> str:
        return f"noop.{queue}"

    async def fill(self, queue: str, n: int) -> None:
        task = self._app.task(name=self._name(queue), queue=queue)(self._fn)
        specs = [
            kanal.JobSpec(
                task_payload(task.name, [i], {}),
                priority=task.options.priority,
                max_attempts=task.options.max_attempts,
                lease_timeout=task.options.lease_timeout,
            )
            for i in range(n)
        ]
        for start in range(0, n, FILL_CHUNK):
            await self._app.async_queue.enqueue_many(queue, specs[start : start + FILL_CHUNK])

    async def drain(self, queue: str, n: int, concurrency: int) -> Window:
        worker = self._app.worker(
            queues=[queue], burst=True, concurrency=concurrency, scheduler=False, handle_signals=False
        )
        started = time.perf_counter()
        await worker.run()
        return started, time.perf_counter()

    async def purge(self, queue: str) -> None:
        self._app.tasks.pop(self._name(queue), None)
        await self._app.async_queue.purge(queue)

    async def close(self) -> None:
        await self._app.aclose()
        self._app.close()
