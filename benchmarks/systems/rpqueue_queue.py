"""rpqueue (``rpqueue:URL``): its data-queue API, ``Data(queue)``: ``put_data``, ``get_data``, ``done_data``.

rpqueue's tasks are a layer over the same structures, run by its own worker processes; the data
queue is the part that maps onto these workloads. Items are taken "1+" (``vis_timeout`` > 0:
invisible until ``done_data`` acks them, like a lease). ``put_data`` takes a list: one item per
call for the one-by-one workload, a chunk per call for the bulk one. ``get_data(items=batch)`` is
the batch dequeue. Every call also reads the server clock (TIME) and moves due delayed items
(a script), as rpqueue does. Waiting: ``get_data(get_timeout=...)`` sleeps in 50 ms steps while
less than a second is left, so a 1 s wait polls. The connection is module-global in rpqueue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.systems import register
from benchmarks.systems.base import Payload, Starved, System, ages, chunks
from benchmarks.systems.redis_support import delete_matching, latency_threads, sync_client

#: How long a taken item stays invisible before rpqueue hands it out again (seconds).
VIS_TIMEOUT = 30


@register("rpqueue")
def _rpqueue(url: str) -> System:
    import rpqueue  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return RpqueueSystem(rpqueue, url)


class RpqueueSystem:
    """The workloads on ``rpqueue.Data(queue)``, with rpqueue's global connection set to ``URL``."""

    def __init__(self, module: Any, url: str) -> None:
        self._rpqueue = module
        self._r = sync_client(url)
        module.set_redis_connection(self._r)

    def _data(self, queue: str) -> Any:
        return self._rpqueue.Data(queue.encode())

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        data = self._data(queue)
        for payload in payloads:
            data.put_data([payload])

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        data = self._data(queue)
        for part in chunks(payloads, chunk):
            data.put_data(part, chunksize=chunk)

    def _take(self, data: Any, batch: int, timeout: float | None) -> dict[str, Payload]:
        taken: dict[str, Payload] = data.get_data(batch, vis_timeout=VIS_TIMEOUT, get_timeout=timeout)
        return taken

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        data, done = self._data(queue), 0
        while done < n:
            taken = self._take(data, min(batch, n - done), None)
            if not taken:
                raise Starved(queue, done, n)
            for item_id in taken:
                data.done_data([item_id])
            done += len(taken)
        return done

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        data = self._data(queue)

        def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                taken = self._take(data, 1, math.ceil(wait))
                if not taken:
                    raise Starved(queue, len(seen), n)
                seen += ages(list(taken.values()))
                for item_id in taken:
                    data.done_data([item_id])
            return seen

        return latency_threads(n, rate, lambda payload: data.put_data([payload]), consume)

    def purge(self, queue: str) -> None:
        self._data(queue).delete_all()
        delete_matching(self._r, f"*:{queue}")

    def close(self) -> None:
        self._rpqueue.set_redis_connection(None)
        self._r.close()
