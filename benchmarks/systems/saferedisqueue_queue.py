"""saferedisqueue (``saferedisqueue:URL``): a Redis FIFO with ack/fail, one queue object per name.

Every release pins an old redis-py (the last, 3.0.0 from 2014: ``redis<2.11``), so it cannot
share a lock with kanal's redis-py and is not in the ``bench`` group; install it without that pin:
``uv pip install --no-deps saferedisqueue==3.0.0`` (see benchmarks/README.md). On redis-py 3+
it needs one adjustment, made below: EXISTS must reply with a bool again. No bulk put and no
batch get: both workloads go one job at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from benchmarks.systems import register
from benchmarks.systems.base import Payload, Starved, System, ages
from benchmarks.systems.redis_support import delete_matching, latency_threads, sync_client

INSTALL_HINT = (
    "saferedisqueue is not installed: it pins redis<2.11, so it is kept out of the bench group; "
    "install it with `uv pip install --no-deps saferedisqueue==3.0.0`"
)


@register("saferedisqueue")
def _saferedisqueue(url: str) -> System:
    try:
        import saferedisqueue  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc
    return SafeRedisQueueSystem(saferedisqueue.SafeRedisQueue, url)


class SafeRedisQueueSystem:
    """The workloads on ``SafeRedisQueue(name=queue)``: ``put``, ``get`` + ``ack``.

    Every queue object shares one connection pool; payloads go through the library's
    ``serializer`` hook with the ``json`` module, as its README suggests for Python 3.
    """

    def __init__(self, queue_class: Any, url: str) -> None:
        from redis.exceptions import DataError

        self._queue_class = queue_class
        self._r = sync_client(url)
        self._queues: dict[str, Any] = {}
        #: What ``get`` raises on an empty queue with redis-py 3+ (it passes the missing uid to HGET).
        self._empty: type[Exception] = DataError

    def _queue(self, name: str) -> Any:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = self._queue_class(
                name=name, serializer=json, connection_pool=self._r.connection_pool
            )
            # Its auto-clean tests `pipe.exists(lock) is False`: true on the redis-py 2.x it was
            # written for, never on redis-py 3+, where EXISTS replies with an int. Then the lock is
            # never taken and every get pays 4 more round trips (here ~720 instead of ~450 us per
            # get + ack). Restoring the boolean reply on its client gives the designed behaviour.
            queue._redis.set_response_callback("EXISTS", bool)
        return queue

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        q = self._queue(queue)
        for payload in payloads:
            q.put(payload)

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        self.enqueue_each(queue, payloads)  # no bulk put: one at a time

    def _get(self, q: Any, timeout: float) -> tuple[Any, Any]:
        """``q.get(timeout)``, with ``(None, None)`` for an empty queue."""
        try:
            return q.get(timeout=timeout)  # type: ignore[no-any-return]
        except self._empty:
            return None, None

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        q = self._queue(queue)
        for done in range(n):  # no batch get: one at a time
            uid, _ = self._get(q, -1)  # negative: do not block
            if uid is None:
                raise Starved(queue, done, n)
            q.ack(uid)
        return n

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        q = self._queue(queue)

        def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                uid, payload = self._get(q, wait)
                if uid is None:
                    raise Starved(queue, len(seen), n)
                seen += ages([payload])
                q.ack(uid)
            return seen

        return latency_threads(n, rate, q.put, consume)

    def purge(self, queue: str) -> None:
        self._queues.pop(queue, None)
        delete_matching(self._r, f"srq:{queue}:*")

    def close(self) -> None:
        self._queues.clear()
        self._r.close()
