"""Baseline for in-process backends: ``stdlib:queue`` is Python's ``queue.Queue`` with JSON.

It does what the memory backend must do at the least (encode, store, hand out, decode) and
nothing a job queue adds (ids, leases, tokens, priorities, states), so the ratio against
it is the price of kanal's protocol on an in-process store.
"""

from __future__ import annotations

import json
import queue as stdlib_queue
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from benchmarks.systems import register
from benchmarks.systems.base import Payload, Starved, System, ages, chunks, pace, stamp


@register("stdlib")
def _stdlib(target: str) -> System:
    if target != "queue":
        raise ValueError(f"the stdlib baseline is stdlib:queue, got stdlib:{target}")
    return StdlibQueueSystem()


class StdlibQueueSystem:
    """The workloads on one ``queue.Queue`` of JSON bytes per queue name."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, stdlib_queue.Queue[bytes]] = defaultdict(stdlib_queue.Queue)

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        q = self._queues[queue]
        for payload in payloads:
            q.put(json.dumps(payload).encode())

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        q = self._queues[queue]
        for part in chunks(payloads, chunk):
            for data in [json.dumps(p).encode() for p in part]:
                q.put(data)

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        q, done = self._queues[queue], 0
        while done < n:
            taken: list[Payload] = []
            try:
                while len(taken) < min(batch, n - done):
                    taken.append(json.loads(q.get_nowait()))
            except stdlib_queue.Empty:
                if not taken:
                    raise Starved(queue, done, n) from None
            done += len(taken)
        return done

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        q = self._queues[queue]

        def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                try:
                    seen += ages([json.loads(q.get(timeout=wait))])
                except stdlib_queue.Empty:
                    raise Starved(queue, len(seen), n) from None
            return seen

        with ThreadPoolExecutor(1) as pool:
            consumer = pool.submit(consume)
            for i in pace(n, rate):
                q.put(json.dumps(stamp(i)).encode())
            return consumer.result()

    def purge(self, queue: str) -> None:
        self._queues.pop(queue, None)

    def close(self) -> None:
        self._queues.clear()
