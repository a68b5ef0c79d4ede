"""huey (``huey:URL``): a ``RedisHuey`` per queue name, driven through its own enqueue/dequeue/execute.

Enqueue is calling the task (``huey.enqueue``: LPUSH of the pickled task message). Dequeue + ack
is ``huey.dequeue()`` (RPOP; BRPOP with ``read_timeout`` when blocking) then ``huey.execute(task)``,
what its consumer's worker does per task: the dequeue is destructive, so there is no ack to send;
execute runs the no-op task and clears its revoke flag. No bulk enqueue and no batch dequeue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.systems import register
from benchmarks.systems.base import Payload, Starved, System, ages
from benchmarks.systems.redis_support import delete_matching, latency_threads, sync_client


@register("huey")
def _huey(url: str) -> System:
    from huey import RedisHuey  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return HueySystem(RedisHuey, url)


class _Huey:
    """One queue's ``RedisHuey`` and its no-op task."""

    def __init__(self, huey: Any) -> None:
        self.huey = huey
        self.task: Any = huey.task()(_noop)


def _noop(payload: Payload) -> None:
    """The task: does nothing, so only the queue's own work is measured."""


class HueySystem:
    """The workloads on one ``RedisHuey(name=queue)`` per queue, all sharing one connection pool."""

    def __init__(self, huey_class: Any, url: str) -> None:
        self._huey_class = huey_class
        self._r = sync_client(url)
        self._queues: dict[str, _Huey] = {}

    def _get(self, name: str) -> _Huey:
        queue = self._queues.get(name)
        if queue is None:
            huey = self._huey_class(name, connection_pool=self._r.connection_pool, blocking=False)
            queue = self._queues[name] = _Huey(huey)
        return queue

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        task = self._get(queue).task
        for payload in payloads:
            task(payload)

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        self.enqueue_each(queue, payloads)  # no bulk enqueue (task.map enqueues one by one too)

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        huey = self._get(queue).huey
        huey.storage.blocking = False  # RPOP
        for done in range(n):  # no batch dequeue: one at a time
            task = huey.dequeue()
            if task is None:
                raise Starved(queue, done, n)
            huey.execute(task)
        return n

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        q = self._get(queue)
        huey = q.huey

        def consume() -> list[float]:
            huey.storage.blocking, huey.storage.read_timeout = True, wait  # BRPOP, as its consumer does
            seen: list[float] = []
            while len(seen) < n:
                task = huey.dequeue()
                if task is None:
                    raise Starved(queue, len(seen), n)
                seen += ages([task.args[0]])
                huey.execute(task)
            return seen

        return latency_threads(n, rate, q.task, consume)

    def purge(self, queue: str) -> None:
        q = self._queues.pop(queue, None)
        if q is not None:
            delete_matching(self._r, f"huey.*.{q.huey.storage.name}*")

    def close(self) -> None:
        for queue in list(self._queues):
            self.purge(queue)
        self._r.close()
