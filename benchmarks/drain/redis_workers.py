"""The Redis peers' workers and a raw redis-py drain, each on its own library's queue format.

- ``redis-raw:URL``: the floor. The queue is a list filled with LPUSH of ``{"n": i}``; the
  "worker" is a loop of one RPOP per job, ``json.loads`` and the no-op call, until RPOP finds
  nothing. No ids, leases, acks, retries or results; one connection, one job at a time.
- ``rq:URL``: ``SimpleWorker([queue]).work(burst=True, logging_level="WARNING")``: RQ's own loop,
  one job at a time in this process (no fork); it returns when the queue is empty. RQ has no
  concurrency setting for one worker, so it runs once per round.
- ``arq:URL``: ``Worker([noop], burst=True, max_jobs=C, handle_signals=False).async_run()`` on
  an open pool; everything else at arq's defaults, notably ``poll_delay=0.5``: each poll reads up
  to ``queue_read_limit`` (``max(5 * max_jobs, 100)``) job ids, runs them, and the next poll
  comes 0.5 s after the previous one started. Burst mode returns at the first poll that finds
  the queue empty. ``arq-poll0:URL`` is the same with ``poll_delay=0`` (not arq's default): the
  next poll as soon as the previous one is done, which shows arq's cost per job without the wait.
- ``saq:URL``: ``Worker(queue, [noop], concurrency=C, after_process=count).start()`` as a task,
  everything else at SAQ's defaults (upkeep tasks included); the run ends at the Nth
  ``after_process`` call, which comes after the job's ``finish``, and the worker is then stopped
  outside the timing. SAQ 0.26 has a burst mode, but it ends at the first dequeue that waits
  ``dequeue_timeout`` for nothing, and on PostgreSQL with 10 dequeuers that happened while jobs
  were still waiting (53 of 200 done), so it is not used.
- ``huey:URL``: huey's ``Consumer(huey, workers=C, periodic=False)`` with thread workers (its
  default worker type) on a ``RedisHuey`` (blocking BRPOP, its default). huey has no burst mode:
  the run ends when huey's ``SIGNAL_COMPLETE`` has fired for the Nth job (the dequeue is
  destructive, so that is huey's last step), then the consumer is stopped outside the timing.

RQ and huey run sync functions, arq and SAQ async ones (SAQ would run a sync one in a thread).
Every system deletes its keys after each run; nothing flushes the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from benchmarks.drain import register
from benchmarks.drain.base import PROBE, AsyncDrain, Bridge, Drain, Window, each_concurrently, kept_signals
from benchmarks.systems.arq_queue import JOB_KEYS as ARQ_JOB_KEYS
from benchmarks.systems.redis_support import adelete_matching, async_client, delete_matching, sync_client
from benchmarks.systems.rq_queue import GROUPS_CLEANED
from benchmarks.systems.rq_queue import JOB_KEYS as RQ_JOB_KEYS

if TYPE_CHECKING:
    import redis

#: Jobs per pipeline or bulk call when filling a queue.
FILL_CHUNK = 1000
#: arq's default ``poll_delay``: a poll starts at most this often (seconds).
ARQ_POLL_DELAY = 0.5
#: Seconds a stop-when-done worker may take before the run counts as stuck.
STUCK_AFTER = 600.0


def noop(n: int) -> None:
    """The job function of the sync libraries (RQ, huey)."""
    PROBE.hit()


async def noop_ctx(ctx: Any, n: int) -> None:
    """The job function of arq and SAQ, which pass a context first."""
    PROBE.hit()


class Stuck(RuntimeError):
    """A worker that is stopped when done did not finish its jobs in time."""


@register("redis-raw")
def _raw(url: str) -> Drain:
    return RedisRawDrain(sync_client(url))


class RedisRawDrain:
    """LPUSH to fill, then one RPOP per job until the list is empty."""

    knob = False

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def fill(self, queue: str, n: int) -> None:
        for start in range(0, n, FILL_CHUNK):
            pipe = self._r.pipeline(transaction=False)
            for i in range(start, min(start + FILL_CHUNK, n)):
                pipe.lpush(queue, json.dumps({"n": i}))
            pipe.execute()

    def drain(self, queue: str, n: int, concurrency: int) -> Window:
        started = time.perf_counter()
        while (item := self._r.rpop(queue)) is not None:
            noop(json.loads(item)["n"])  # type: ignore[arg-type]  # one RPOP: one item
        return started, time.perf_counter()

    def purge(self, queue: str) -> None:
        self._r.delete(queue)

    def close(self) -> None:
        self._r.close()


@register("rq")
def _rq(url: str) -> Drain:
    return RQDrain(sync_client(url))


class RQDrain:
    """A fresh ``SimpleWorker`` per run, in burst mode."""

    knob = False

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._used = False

    def _queue(self, name: str) -> Any:
        from rq import Queue  # type: ignore[import-not-found, unused-ignore]

        return Queue(name, connection=self._r)

    def fill(self, queue: str, n: int) -> None:
        q = self._queue(queue)
        for start in range(0, n, FILL_CHUNK):
            q.enqueue_many([q.prepare_data(noop, (i,)) for i in range(start, min(start + FILL_CHUNK, n))])

    def drain(self, queue: str, n: int, concurrency: int) -> Window:
        from rq import SimpleWorker  # type: ignore[import-not-found, unused-ignore]

        self._used = True
        worker = SimpleWorker([self._queue(queue)], connection=self._r, name=f"{queue}-w")
        with kept_signals():  # work() installs its own SIGINT/SIGTERM handlers
            started = time.perf_counter()
            worker.work(burst=True, logging_level="WARNING")
            ended = time.perf_counter()
        return started, ended

    def purge(self, queue: str) -> None:
        q = self._queue(queue)
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
        q.delete(delete_jobs=True)
        pipe = self._r.pipeline(transaction=False)
        for job_id in ids:
            pipe.delete(*(key.format(job_id) for key in RQ_JOB_KEYS))
        pipe.execute()
        delete_matching(self._r, f"rq:*{queue}*")

    def close(self) -> None:
        if self._used:
            self._r.delete(GROUPS_CLEANED)  # the maintenance lock our workers set (it would expire)
        self._r.close()


@register("arq")
def _arq(url: str) -> Drain:
    return _arq_bridge(url, ARQ_POLL_DELAY)


@register("arq-poll0")
def _arq_poll0(url: str) -> Drain:
    return _arq_bridge(url, 0.0)


def _arq_bridge(url: str, poll_delay: float) -> Drain:
    async def connect() -> AsyncDrain:
        from arq.connections import RedisSettings, create_pool  # type: ignore[import-not-found, unused-ignore]

        return ArqDrain(await create_pool(RedisSettings.from_dsn(url)), poll_delay)

    return Bridge(connect)


class ArqDrain:
    """A fresh burst ``Worker`` per run on one open ``ArqRedis`` pool."""

    knob = True

    def __init__(self, pool: Any, poll_delay: float) -> None:
        self._pool = pool
        self._poll_delay = poll_delay
        self._ids: dict[str, list[str]] = {}

    async def fill(self, queue: str, n: int) -> None:
        ids = self._ids.setdefault(queue, [])

        async def enqueue(i: int) -> None:
            job = await self._pool.enqueue_job("noop", i, _queue_name=queue)
            ids.append(job.job_id)

        await each_concurrently(n, enqueue)

    async def drain(self, queue: str, n: int, concurrency: int) -> Window:
        from arq.worker import Worker, func  # type: ignore[import-not-found, unused-ignore]

        worker = Worker(
            [func(noop_ctx, name="noop")],
            queue_name=queue,
            redis_pool=self._pool,
            burst=True,
            handle_signals=False,
            max_jobs=concurrency,
            poll_delay=self._poll_delay,
        )
        started = time.perf_counter()
        await worker.async_run()
        ended = time.perf_counter()
        if worker.jobs_failed:
            raise RuntimeError(f"{worker.jobs_failed} arq jobs failed")
        return started, ended

    async def purge(self, queue: str) -> None:
        ids = self._ids.pop(queue, [])
        async with self._pool.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.delete(*(key.format(job_id) for key in ARQ_JOB_KEYS))
            await pipe.execute()
        await adelete_matching(self._pool, queue, f"{queue}:*")

    async def close(self) -> None:
        await self._pool.aclose()


@register("saq")
def _saq(url: str) -> Drain:
    quiet_saq()

    async def connect() -> AsyncDrain:
        return SaqDrain(async_client(url))

    return Bridge(connect)


class SaqDrain:
    """A fresh ``saq.Queue`` and burst ``Worker`` per run on one asyncio redis-py client."""

    knob = True

    def __init__(self, client: Any) -> None:
        self._r = client

    def _queue(self, name: str) -> Any:
        from saq.queue.redis import RedisQueue  # type: ignore[import-not-found, unused-ignore]

        return RedisQueue(self._r, name=name)

    async def fill(self, queue: str, n: int) -> None:
        q = self._queue(queue)
        await each_concurrently(n, lambda i: q.enqueue("noop", n=i))

    async def drain(self, queue: str, n: int, concurrency: int) -> Window:
        return await saq_until_done(self._queue(queue), n, concurrency)

    async def purge(self, queue: str) -> None:
        await adelete_matching(self._r, f"saq:{queue}:*", f"saq:job:{queue}:*")

    async def close(self) -> None:
        await self._r.aclose()


def quiet_saq() -> None:
    """Keep SAQ's warnings about the tasks a stop cancels (every run's, after the timing) off the output."""
    logging.getLogger("saq").setLevel(logging.ERROR)


async def saq_until_done(queue: Any, n: int, concurrency: int) -> Window:
    """SAQ's worker on ``queue`` (Redis or Postgres), timed from its start to the ``n``-th
    ``after_process`` call (which comes after the job's ``finish``); stopped after that."""
    from saq import Worker  # type: ignore[import-not-found, unused-ignore]

    done = asyncio.Event()
    completed, ended = 0, 0.0

    async def after_process(ctx: Any) -> None:
        nonlocal completed, ended
        completed += 1
        if completed == n:
            ended = time.perf_counter()
            done.set()

    worker = Worker(queue, [("noop", noop_ctx)], concurrency=concurrency, after_process=after_process)
    started = time.perf_counter()
    running = asyncio.create_task(worker.start())
    try:
        async with asyncio.timeout(STUCK_AFTER):
            await done.wait()
    except TimeoutError:
        raise Stuck(f"SAQ completed {completed} of {n} jobs in {STUCK_AFTER:g}s") from None
    finally:
        await worker.stop()  # its process tasks wait in dequeue: cancelled (and logged as such)
        await running
    return started, ended


@register("huey")
def _huey(url: str) -> Drain:
    return HueyDrain(sync_client(url))


class HueyDrain:
    """A fresh ``RedisHuey`` (sharing one connection pool) and thread ``Consumer`` per run."""

    knob = True

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        #: Per queue: its RedisHuey and the no-op task registered on it.
        self._hueys: dict[str, tuple[Any, Any]] = {}

    def _huey(self, queue: str) -> tuple[Any, Any]:
        pair = self._hueys.get(queue)
        if pair is None:
            from huey import RedisHuey  # type: ignore[import-untyped, import-not-found, unused-ignore]

            huey = RedisHuey(queue, connection_pool=self._r.connection_pool)
            pair = self._hueys[queue] = (huey, huey.task(name="noop")(noop))
        return pair

    def fill(self, queue: str, n: int) -> None:
        _, task = self._huey(queue)
        for i in range(n):  # no bulk enqueue: one LPUSH per call
            task(i)

    def drain(self, queue: str, n: int, concurrency: int) -> Window:
        from huey.consumer import Consumer  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from huey.signals import SIGNAL_COMPLETE  # type: ignore[import-untyped, import-not-found, unused-ignore]

        huey, _ = self._huey(queue)
        done = threading.Event()
        lock = threading.Lock()
        completed, ended = 0, 0.0

        def on_complete(signal: str, task: Any) -> None:
            nonlocal completed, ended
            with lock:
                completed += 1
                if completed == n:
                    ended = time.perf_counter()
                    done.set()

        huey.signal(SIGNAL_COMPLETE)(on_complete)
        consumer = Consumer(huey, workers=concurrency, periodic=False)
        try:
            with kept_signals():  # start() installs the consumer's own handlers
                started = time.perf_counter()
                consumer.start()
                finished = done.wait(STUCK_AFTER)
                consumer.stop(graceful=True)  # outside the timing: threads leave their BRPOP (1 s)
        finally:
            huey.disconnect_signal(on_complete, SIGNAL_COMPLETE)
        if not finished:
            raise Stuck(f"huey completed {completed} of {n} jobs in {STUCK_AFTER:g}s")
        return started, ended

    def purge(self, queue: str) -> None:
        pair = self._hueys.pop(queue, None)
        if pair is not None:
            delete_matching(self._r, f"huey.*.{pair[0].storage.name}*")

    def close(self) -> None:
        for queue in list(self._hueys):
            self.purge(queue)
        self._r.close()
