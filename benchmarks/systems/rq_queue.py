"""RQ (``rq:URL``): jobs enqueued with ``Queue.enqueue`` and taken the way an RQ worker takes them.

Dequeue + ack is a ``SimpleWorker``'s own per-job path, without its ``work()`` loop:
``dequeue_job_and_maintain_ttl`` (worker heartbeat, LMOVE into the intermediate queue, job fetch)
then ``execute_job`` (execution record, started registry, running the no-op job function in
process, finished registry, result). That is what RQ does per job; it has no lighter "complete"
call that keeps its registries right. No batch dequeue: one job at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.systems import register
from benchmarks.systems.base import Payload, Starved, System, ages, chunks
from benchmarks.systems.redis_support import delete_matching, latency_threads, sync_client

if TYPE_CHECKING:
    import redis
    from rq import Queue, SimpleWorker  # type: ignore[import-not-found, unused-ignore]


#: The keys RQ may keep for a finished job (the job's hash, its result stream, its execution index).
JOB_KEYS = (
    "rq:job:{}",
    "rq:job:{}:dependents",
    "rq:job:{}:dependencies",
    "rq:results:{}",
    "rq:executions:{}",
)

#: RQ's global "groups cleaned recently" lock, which a worker's maintenance sets for 10 minutes.
GROUPS_CLEANED = "rq:clean_groups"


def noop(payload: Payload) -> None:
    """The job function: does nothing, so only the queue's own work is measured."""


@register("rq")
def _rq(url: str) -> System:
    from rq import Queue, SimpleWorker  # type: ignore[import-not-found, unused-ignore]

    return RQSystem(sync_client(url), Queue, SimpleWorker)


class RQSystem:
    """The workloads on one ``rq.Queue`` and one ``rq.SimpleWorker`` per queue name."""

    def __init__(
        self, client: redis.Redis, queue_class: type[Queue], worker_class: type[SimpleWorker]
    ) -> None:
        self._r = client
        self._queue_class, self._worker_class = queue_class, worker_class
        self._queues: dict[str, tuple[Queue, SimpleWorker]] = {}
        self._queues_seen = False

    def _get(self, name: str) -> tuple[Queue, SimpleWorker]:
        pair = self._queues.get(name)
        if pair is None:
            self._queues_seen = True
            queue = self._queue_class(name, connection=self._r)
            worker = self._worker_class([queue], connection=self._r, name=f"{name}-w")
            pair = self._queues[name] = (queue, worker)
        return pair

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        q, _ = self._get(queue)
        for payload in payloads:
            q.enqueue(noop, payload)

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        q, _ = self._get(queue)
        for part in chunks(payloads, chunk):
            q.enqueue_many([q.prepare_data(noop, (payload,)) for payload in part])

    def _take(self, queue: str, timeout: float | None) -> tuple[Any, Any] | None:
        """The worker's dequeue: a (job, queue) pair, or None when nothing came (in ``timeout``)."""
        _, worker = self._get(queue)
        taken: tuple[Any, Any] | None
        if timeout is None:
            taken = worker.dequeue_job_and_maintain_ttl(None)
        else:
            seconds = max(math.ceil(timeout), 1)  # RQ takes whole seconds
            taken = worker.dequeue_job_and_maintain_ttl(seconds, max_idle_time=seconds)
        return taken

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        _, worker = self._get(queue)
        for done in range(n):  # no batch dequeue: one at a time
            taken = self._take(queue, None)
            if taken is None:
                raise Starved(queue, done, n)
            worker.execute_job(*taken)
        return n

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        q, worker = self._get(queue)

        def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                taken = self._take(queue, wait)
                if taken is None:
                    raise Starved(queue, len(seen), n)
                seen += ages([taken[0].args[0]])
                worker.execute_job(*taken)
            return seen

        return latency_threads(n, rate, lambda payload: q.enqueue(noop, payload), consume)

    def purge(self, queue: str) -> None:
        pair = self._queues.pop(queue, None)
        if pair is None:
            return
        q, _ = pair
        ids: set[str] = set()
        for registry in (
            q.started_job_registry,
            q.finished_job_registry,
            q.failed_job_registry,
            q.deferred_job_registry,
            q.scheduled_job_registry,
            q.canceled_job_registry,
        ):
            ids.update(registry.get_job_ids())
        q.delete(delete_jobs=True)  # the waiting jobs, and the queue's entry in rq:queues
        pipe = self._r.pipeline(transaction=False)
        for job_id in ids:
            pipe.delete(*(key.format(job_id) for key in JOB_KEYS))
        pipe.execute()
        delete_matching(self._r, f"rq:*{queue}*")

    def close(self) -> None:
        for queue in list(self._queues):
            self.purge(queue)
        if self._queues_seen:
            self._r.delete(GROUPS_CLEANED)  # the maintenance lock our workers set (it would expire)
        self._r.close()
