"""The :class:`Worker`: runs an app's tasks from its queues.

One asyncio loop does all the I/O: async tasks run as asyncio tasks, sync tasks in a thread
pool. The worker leases jobs in batches up to its concurrency, acks a finished job and
leases the next in one call (jobs that finish together are acked together in one call),
renews the leases of long jobs, retries failures with backoff, dead-letters what keeps
failing, and on SIGTERM or SIGINT stops taking jobs, lets running ones finish within a
grace period and gives the rest back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import signal
import time
import traceback
from collections.abc import Awaitable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kanal import validation
from kanal.async_queue import AsyncQueue
from kanal.errors import InvalidArgument, KanalError, SerializationError, StaleLease
from kanal.models import Lease
from kanal.schedules import tick_id, tick_of
from kanal.tasks import CURRENT_JOB, Fail, JobContext, Retry, Task, parse_payload

if TYPE_CHECKING:
    from kanal.app import App

log = logging.getLogger("kanal.worker")

#: Seconds the heartbeat sleeps when no job runs (a new lease wakes it sooner).
IDLE_TICK = 5.0
#: Pause after a failed call to the backend before the worker tries again.
ERROR_PAUSE = (0.1, 5.0)
#: The longest error text kept with a job (the core keeps 10,000 characters).
MAX_ERROR = 9_000
#: The most leases one ``extend_many`` call renews.
EXTEND_CHUNK = 500
#: The most leases one ``ack_many`` call completes (the protocol's limit).
ACK_CHUNK = 1000


@dataclass(slots=True)
class WorkerStats:
    """What a worker did: jobs completed, retried, dead-lettered, lost and given back."""

    completed: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
    given_back: int = 0

    @property
    def processed(self) -> int:
        """Jobs this worker finished one way or another."""
        return self.completed + self.retried + self.dead + self.lost + self.given_back


@dataclass(slots=True)
class _Running:
    context: JobContext
    lease_seconds: float
    renew_at: float
    runner: asyncio.Task[None] | None = None
    #: Why the runner was cancelled: "lost" (lease stale) or "shutdown" (grace ran out).
    stopped: str | None = None
    #: A sync task's thread, which may outlive the runner (a thread cannot be interrupted).
    thread: Future[Any] | None = None


@dataclass(slots=True)
class _Ack:
    """A finished job without a result, waiting for its ack."""

    running: _Running
    result_ttl: float | None
    extra: dict[str, Any]
    task: str
    acked: asyncio.Future[None]


class Worker:
    """Runs the tasks of ``app`` from ``queues`` (default: every queue of its tasks).

    - ``concurrency``: jobs running at once (async tasks as asyncio tasks, sync tasks in a
      pool of as many threads).
    - ``batch``: most jobs leased per call (default: ``concurrency``, at most 1000).
    - ``burst``: work until no job is ready, then return (for cron-started workers).
    - ``grace``: seconds running jobs get to finish on shutdown; the rest are given back.
    - ``poll``: seconds one blocking dequeue waits (also the longest delay before a stop
      request is seen while idle).
    - ``heartbeat``: seconds between lease renewals of a running job (default: half its
      lease); a job cancelled with ``force`` is stopped at its next renewal.
    - ``scheduler``: enqueue the app's periodic tasks' ticks (every worker may: each tick is
      enqueued once).
    - ``handle_signals``: stop gracefully on SIGTERM/SIGINT (a second signal skips the grace).
    """

    def __init__(
        self,
        app: App,
        *,
        queues: str | Iterable[str] | None = None,
        concurrency: int = 10,
        batch: int | None = None,
        burst: bool = False,
        grace: float = 30.0,
        poll: float = 1.0,
        heartbeat: float | None = None,
        scheduler: bool = True,
        handle_signals: bool = True,
    ) -> None:
        self.app = app
        self.queues = validation.queue_names(list(queues) if queues is not None else app.queues())
        self.concurrency = validation.integer("concurrency", concurrency, low=1, high=10_000)
        self.batch = validation.batch_limit(min(self.concurrency, 1000) if batch is None else batch)
        self.burst = validation.flag("burst", burst)
        self.grace = validation.seconds("grace", grace)
        self.poll = validation.seconds("poll", poll, allow_zero=False)
        self.heartbeat = validation.optional_seconds("heartbeat", heartbeat, allow_zero=False)
        self.scheduler = validation.flag("scheduler", scheduler)
        self.handle_signals = validation.flag("handle_signals", handle_signals)
        self.stats = WorkerStats()
        self._running: dict[str, _Running] = {}
        self._free = self.concurrency
        #: Jobs settled so far: burst mode ends only after a dequeue that no settle overlapped.
        self._settled = 0
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._leased = asyncio.Event()
        self._queue: AsyncQueue | None = None
        #: Finished jobs without a result, waiting for :meth:`_ack_pending`.
        self._acks: list[_Ack] = []
        self._acker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"<Worker queues={','.join(self.queues)} concurrency={self.concurrency}>"

    @property
    def running(self) -> int:
        """Jobs running now."""
        return len(self._running)

    def stop(self) -> None:
        """Stop taking jobs and shut down gracefully; called twice, skip the grace period.

        Safe to call from a signal handler or another thread.
        """
        loop = self._loop_or_none()
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._request_stop)
        else:
            self._request_stop()

    def _loop_or_none(self) -> asyncio.AbstractEventLoop | None:
        return getattr(self, "_loop", None)

    def _request_stop(self) -> None:
        if self._stopping.is_set():
            self._hurry.set()
        self._stopping.set()
        self._changed.set()

    async def run(self) -> WorkerStats:
        """Work until stopped (or, in burst mode, until no job is ready); return the counts."""
        self._loop = asyncio.get_running_loop()
        self._queue = self.app.async_queue
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="kanal-task")
        signals = self._install_signals()
        helpers = [asyncio.create_task(self._heartbeats(), name="kanal-heartbeat")]
        try:
            # Fail fast when the backend cannot be reached at all; later outages are retried.
            await self._q.get(self.queues[0], "kanal-worker-start")
            log.info("worker started: queues %s, concurrency %d", ",".join(self.queues), self.concurrency)
            await self._apply_limits()
            periodic = {name: _now() for name, task in self.app.tasks.items() if task.periodic is not None}
            if self.scheduler and periodic:
                await self._schedule_due(periodic)  # a burst worker seeds the next ticks too
                if not self.burst:
                    helpers.append(asyncio.create_task(self._schedule(periodic), name="kanal-scheduler"))
            await self._fetch()
            await self._shutdown()
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            for sig in signals:
                self._loop.remove_signal_handler(sig)
            self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("worker stopped: %s", self.stats)
        return self.stats

    def _install_signals(self) -> list[signal.Signals]:
        if not self.handle_signals:
            return []
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
        return installed

    def _on_signal(self, sig: signal.Signals) -> None:
        hurry = self._stopping.is_set()
        log.warning("%s received: %s", sig.name, "giving running jobs back now" if hurry else "shutting down")
        self._request_stop()

    @property
    def _q(self) -> AsyncQueue:
        assert self._queue is not None, "the worker is not running"
        return self._queue

    async def _apply_limits(self) -> None:
        """Set the rate and concurrency limits of the served tasks that have them."""
        for task in self.app.tasks.values():
            if task.options.queue not in self.queues:
                continue
            if task.options.rate_limit is not None:
                await self._q.set_rate_limit(task.options.queue, task.options.rate_limit, key=task.name)
            if task.options.concurrency is not None:
                await self._q.set_concurrency_limit(
                    task.options.queue, task.options.concurrency, key=task.name
                )

    async def _fetch(self) -> None:
        """Lease jobs while there is room, until stopped (or, in burst mode, out of work)."""
        pause = ERROR_PAUSE[0]
        while not self._stopping.is_set():
            wanted = min(self._free, self.batch)
            if wanted == 0:
                await self._changes()
                continue
            self._free -= wanted
            settled = self._settled
            try:
                leases = await self._q.dequeue(self.queues, limit=wanted, wait=0 if self.burst else self.poll)
            except KanalError as exc:
                self._free += wanted
                if self.burst:
                    raise
                log.error("dequeue failed, retrying in %.1fs: %s", pause, exc)
                await self._sleep(pause)
                pause = min(pause * 2, ERROR_PAUSE[1])
                continue
            pause = ERROR_PAUSE[0]
            self._free += wanted - len(leases)
            self._start(leases)
            if self.burst and not leases:
                if not self._running and self._settled == settled:
                    return
                if self._running:
                    await self._changes()

    async def _changes(self) -> None:
        """Wait until a job finishes or a stop is requested."""
        self._changed.clear()
        await self._changed.wait()

    async def _sleep(self, seconds: float) -> None:
        await _wait(self._stopping, seconds)

    def _start(self, leases: Iterable[Lease]) -> None:
        for lease in leases:
            context = JobContext(lease)
            seconds = max(
                (lease.expires_at - (lease.job.last_dequeued_at or lease.expires_at)).total_seconds(), 0.1
            )
            renew = self.heartbeat if self.heartbeat is not None else seconds / 2
            running = _Running(context, seconds, time.monotonic() + renew)
            self._running[lease.id] = running
            running.runner = asyncio.create_task(self._run_job(running), name=f"kanal-job-{lease.id}")
            self._leased.set()

    async def _run_job(self, running: _Running) -> None:
        """Run one job's task and settle the job, whatever happens."""
        context = running.context
        CURRENT_JOB.set(context)
        try:
            name, args, kwargs = parse_payload(context.job.payload)
            task = self.app.tasks.get(name)
            if task is None:
                raise ValueError(
                    f"unknown task {name!r}: no task of that name is registered on this worker's app"
                )
            task.check_arguments(args, kwargs)
        except (ValueError, InvalidArgument) as exc:
            _job_log(logging.ERROR, _fields(context, None), "dead-lettered: %s", exc)
            await self._settle(running, self._q.fail(context.lease, str(exc)), "dead")
            return
        extra = _fields(context, task)
        _job_log(logging.INFO, extra, "started")
        if task.periodic is not None and task.periodic.never_skip:
            await self._enqueue_tick(task, task.periodic.schedule.next_after(tick_of(context.job.id)))
        began = time.perf_counter()
        deadline = asyncio.timeout(task.options.timeout)
        try:
            async with deadline:
                result = await self._call(running, task, args, kwargs)
        except asyncio.CancelledError:
            await self._stopped(running, extra)
            return
        except Retry as retry:
            await self._retry(running, task, retry.reason, retry.delay)
        except Fail as fail:
            await self._settle(running, self._q.fail(context.lease, fail.reason), "dead", extra)
        except TimeoutError:
            if not deadline.expired():
                await self._retry(running, task, traceback.format_exc(), None)
            else:
                context.cancelled.set()
                await self._retry(running, task, f"timed out after {task.options.timeout:g}s", None)
        except Exception:
            await self._retry(running, task, traceback.format_exc(), None)
        else:
            await self._complete(running, task, result, extra)
        _job_log(logging.DEBUG, extra, "took %.3fs", time.perf_counter() - began)

    def _call(
        self, running: _Running, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        if task.is_async:
            return task.fn(*args, **kwargs)  # type: ignore[no-any-return]
        assert self._executor is not None
        running.thread = self._executor.submit(contextvars.copy_context().run, task.fn, *args, **kwargs)
        return asyncio.wrap_future(running.thread)

    async def _complete(
        self, running: _Running, task: Task[Any, Any], result: Any, extra: dict[str, Any]
    ) -> None:
        """Ack a finished job (the runner returns once it is acked).

        Jobs without a result go through :meth:`_ack_pending`, which acks those that finish
        while an ack is in flight together, in one ``ack_many`` call (a group commit).
        """
        if result is not None:
            await self._ack_one(running, result, task.options.result_ttl, extra, task.name)
            return
        acked = self._loop.create_future()
        self._acks.append(_Ack(running, task.options.result_ttl, extra, task.name, acked))
        if self._acker is None or self._acker.done():
            self._acker = asyncio.create_task(self._ack_pending(), name="kanal-acker")
        await acked

    async def _ack_pending(self) -> None:
        """Ack the waiting jobs until none waits: one alone with the lease of the next jobs
        (``ack_and_dequeue``), several together with ``ack_many`` per queue."""
        while self._acks:
            pending, self._acks = self._acks, []
            try:
                if len(pending) == 1:
                    [one] = pending
                    await self._ack_one(one.running, None, one.result_ttl, one.extra, one.task)
                else:
                    await self._ack_together(pending)
            finally:
                for ack in pending:
                    if not ack.acked.done():
                        ack.acked.set_result(None)

    async def _ack_together(self, pending: list[_Ack]) -> None:
        groups: dict[tuple[str, float | None], list[_Ack]] = {}
        for ack in pending:
            groups.setdefault((ack.running.context.lease.queue, ack.result_ttl), []).append(ack)
        for (_, ttl), group in groups.items():
            for start in range(0, len(group), ACK_CHUNK):
                chunk = group[start : start + ACK_CHUNK]
                try:
                    batch = await self._q.ack_many([a.running.context.lease for a in chunk], result_ttl=ttl)
                except KanalError as exc:
                    log.error("ack of %d jobs failed; they run again after their leases: %s", len(chunk), exc)
                    for ack in chunk:
                        self._finish(ack.running, "lost", ack.extra)
                    continue
                stale = {(lease.id, lease.token) for lease in batch.stale}
                for ack in chunk:
                    lease = ack.running.context.lease
                    self._finish(
                        ack.running, "lost" if (lease.id, lease.token) in stale else "completed", ack.extra
                    )

    async def _ack_one(
        self, running: _Running, result: Any, ttl: float | None, extra: dict[str, Any], task: str
    ) -> None:
        """Ack one job; from the first queue, lease the next jobs in the same call (its slot
        and free ones)."""
        lease = running.context.lease
        try:
            if self._ack_fetches(lease):
                take = min(self._free + 1, self.batch)
                self._free -= take - 1
                try:
                    _, leases = await self._q.ack_and_dequeue(lease, result, result_ttl=ttl, limit=take)
                except BaseException:
                    self._free += take - 1
                    raise
                self._finish(running, "completed", extra, freed=False)
                self._free += take - len(leases)
                self._start(leases)
                return
            await self._q.ack(lease, result, result_ttl=ttl)
        except SerializationError as exc:
            reason = f"the result of task {task} could not be encoded: {exc}"
            await self._settle(running, self._q.fail(lease, reason), "dead", extra)
            return
        except StaleLease:
            self._finish(running, "lost", extra)
            return
        except KanalError as exc:
            _job_log(logging.ERROR, extra, "ack failed; the job runs again after its lease: %s", exc)
            self._finish(running, "lost", extra)
            return
        self._finish(running, "completed", extra)

    def _ack_fetches(self, lease: Lease) -> bool:
        """Fetch with the ack only from the first queue, so queue order holds."""
        return not self._stopping.is_set() and lease.queue == self.queues[0]

    async def _retry(self, running: _Running, task: Task[Any, Any], error: str, delay: float | None) -> None:
        context = running.context
        pause = task.options.backoff(context.attempt) if delay is None else delay
        job_fields = _fields(context, task)
        done = self._q.requeue(context.lease, delay=pause, error=_clip(error))
        job = await self._settle(running, done, None, job_fields)
        if job is None:
            return
        if job.state.is_final:
            _job_log(logging.ERROR, job_fields, "failed for good, now a dead letter: %s", _last_line(error))
            self._count("dead")
        else:
            _job_log(logging.WARNING, job_fields, "failed, retrying in %.1fs: %s", pause, _last_line(error))
            self._count("retried")

    async def _stopped(self, running: _Running, extra: dict[str, Any]) -> None:
        """The runner was cancelled: the lease was lost, or the grace period ran out."""
        running.context.cancelled.set()
        if running.stopped == "shutdown":
            error = "the worker shut down before the job finished"
            job = await self._settle(
                running, self._q.requeue(running.context.lease, error=error), None, extra
            )
            if job is not None:
                # Giving a job back counts its attempt: on its last one, it is now dead.
                self._count("dead" if job.state.is_final else "given_back")
                _job_log(logging.WARNING, extra, "given back unfinished, now %s", job.state.value)
        else:
            _job_log(logging.WARNING, extra, "stopped: it was cancelled or its lease was lost")
            self._finish(running, "lost", extra)

    async def _settle(
        self,
        running: _Running,
        call: Awaitable[Any],
        outcome: str | None,
        extra: dict[str, Any] | None = None,
    ) -> Any:
        """Await a settling call; a stale lease or a backend error leaves the job to its lease."""
        try:
            job = await call
        except StaleLease:
            self._finish(running, "lost", extra)
            return None
        except KanalError as exc:
            _job_log(logging.ERROR, extra, "could not settle the job; it runs again after its lease: %s", exc)
            self._finish(running, "lost", extra)
            return None
        self._finish(running, outcome, extra)
        return job

    def _finish(
        self, running: _Running, outcome: str | None, extra: dict[str, Any] | None, *, freed: bool = True
    ) -> None:
        if self._running.pop(running.context.job.id, None) is None:
            return
        self._settled += 1
        if freed and running.thread is not None and not running.thread.done():
            # A sync task still runs in its thread (timed out or cancelled): its slot stays
            # taken until the thread returns, so later jobs never wait for a thread.
            running.thread.add_done_callback(self._thread_returned)
        elif freed:
            self._free += 1
        if outcome is not None:
            self._count(outcome)
        if outcome == "completed":
            _job_log(logging.INFO, extra, "completed")
        self._changed.set()

    def _thread_returned(self, _: Future[Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to free
            self._loop.call_soon_threadsafe(self._slot_freed)

    def _slot_freed(self) -> None:
        self._free += 1
        self._changed.set()

    def _count(self, outcome: str) -> None:
        setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)

    async def _heartbeats(self) -> None:
        """Renew the leases of running jobs when half of them has passed; stop the stale ones."""
        while True:
            now = time.monotonic()
            wake = min(
                (r.renew_at for r in self._running.values() if r.stopped is None), default=now + IDLE_TICK
            )
            self._leased.clear()
            await _wait(self._leased, max(wake - now, 0.001))
            now = time.monotonic()
            due = [r for r in self._running.values() if r.renew_at <= now and r.stopped is None]
            for start in range(0, len(due), EXTEND_CHUNK):
                chunk = due[start : start + EXTEND_CHUNK]
                try:
                    batch = await self._q.extend_many([r.context.lease for r in chunk])
                except KanalError as exc:
                    log.error("lease renewal failed: %s", exc)
                    await self._sleep(ERROR_PAUSE[0])
                    continue
                for lease in batch.succeeded:
                    self._renewed(lease)
                for lease in batch.stale:
                    self._lost(lease)

    def _renewed(self, lease: Lease) -> None:
        running = self._running.get(lease.id)
        if running is not None and running.context.lease.token == lease.token:
            running.context.lease = lease
            renew = self.heartbeat if self.heartbeat is not None else running.lease_seconds / 2
            running.renew_at = time.monotonic() + renew

    def _lost(self, lease: Lease) -> None:
        running = self._running.get(lease.id)
        if running is not None and running.runner is not None and running.stopped is None:
            running.stopped = "lost"
            running.context.cancelled.set()
            running.runner.cancel()

    async def _shutdown(self) -> None:
        """Let running jobs finish within the grace period; give the others back."""
        waiting = {r.runner for r in self._running.values() if r.runner is not None}
        if waiting:
            log.info("waiting up to %gs for %d running job(s)", self.grace, len(waiting))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.grace
            hurry = asyncio.create_task(self._hurry.wait())
            while waiting and not self._hurry.is_set() and (left := deadline - loop.time()) > 0:
                done, _ = await asyncio.wait(
                    {*waiting, hurry}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                waiting -= done
            hurry.cancel()
        for running in list(self._running.values()):
            if running.runner is not None and running.stopped is None:
                running.stopped = "shutdown"
                running.context.cancelled.set()
                running.runner.cancel()
        leftovers = [r.runner for r in self._running.values() if r.runner is not None]
        await asyncio.gather(*leftovers, return_exceptions=True)
        if self._acker is not None:  # a cancelled runner may leave its ack in flight
            await asyncio.gather(self._acker, return_exceptions=True)

    async def _schedule(self, upcoming: dict[str, datetime]) -> None:
        """Enqueue the next tick of every periodic task, each time the previous one is due."""
        while True:
            wake = min(upcoming.values())
            await asyncio.sleep(min(max((wake - _now()).total_seconds(), 0.01), 60.0))
            await self._schedule_due(upcoming)

    async def _schedule_due(self, upcoming: dict[str, datetime]) -> None:
        """Enqueue the tick after now of each periodic task whose previous tick is due."""
        now = _now()
        for task in self.app.tasks.values():
            if task.periodic is not None and upcoming[task.name] <= now:
                tick = task.periodic.schedule.next_after(now)
                if await self._enqueue_tick(task, tick):
                    upcoming[task.name] = tick

    async def _enqueue_tick(self, task: Task[Any, Any], tick: datetime) -> bool:
        """Enqueue one tick of a periodic task (a no-op if another worker already did)."""
        assert task.periodic is not None
        try:
            await task.enqueue_call_async(
                task.periodic.args, task.periodic.kwargs, job_id=tick_id(task.name, tick), run_at=tick
            )
        except KanalError as exc:
            log.error("could not enqueue tick %s of %s: %s", tick.isoformat(), task.name, exc)
            return False
        return True


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` pass (``asyncio.wait_for`` can swallow a
    cancellation on Python 3.11 when both happen at once; a timeout scope does not)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _now() -> datetime:
    return datetime.now(UTC)


def _fields(context: JobContext, task: Task[Any, Any] | None) -> dict[str, Any]:
    """Structured log fields (job id, queue, task, attempt) and a prefix for text logs."""
    return {
        "prefix": f"{task.name if task else '?'} {context.job.queue}/{context.job.id} #{context.attempt}",
        "job_id": context.job.id,
        "queue": context.job.queue,
        "task": task.name if task is not None else None,
        "attempt": context.attempt,
    }


def _job_log(level: int, fields: dict[str, Any] | None, message: str, *args: Any) -> None:
    """Log about one job: text logs start with its task, queue/id and attempt."""
    if not log.isEnabledFor(level):
        return
    prefix = fields["prefix"] if fields else "job"
    log.log(level, f"%s: {message}", prefix, *args, extra=fields)


def _clip(error: str) -> str:
    """At most :data:`MAX_ERROR` characters, keeping the end, where a traceback's exception is."""
    if len(error) <= MAX_ERROR:
        return error
    cut = len(error) - MAX_ERROR + 1000
    return f"{error[:1000]}\n[... {cut} characters cut ...]\n{error[-(MAX_ERROR - 2000) :]}"


def _last_line(error: str) -> str:
    lines = error.strip().splitlines()
    return lines[-1] if lines else error
