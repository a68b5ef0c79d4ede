"""The worker on every backend, in-process: results, retries, timeouts, cancellation,
heartbeats, graceful stop, per-task limits and periodic tasks."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import kanal
from kanal.schedules import tick_id, tick_of


@contextmanager
def running(app: kanal.App, **options: Any) -> Iterator[kanal.Worker]:
    """A worker in a thread of its own for the duration of the block."""
    worker = app.worker(handle_signals=False, poll=0.05, **options)
    thread = threading.Thread(target=lambda: asyncio.run(worker.run()), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(10)
        assert not thread.is_alive(), "the worker did not stop"


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def burst(app: kanal.App, **options: Any) -> kanal.WorkerStats:
    return asyncio.run(app.worker(burst=True, handle_signals=False, **options).run())


def test_runs_sync_and_async_tasks(app: kanal.App) -> None:
    @app.task(name="square")
    def square(x: int) -> int:
        return x * x

    @app.task(name="double")
    async def double(x: int) -> int:
        await asyncio.sleep(0.001)
        return 2 * x

    handles = [square.enqueue(i) for i in range(10)] + [double.enqueue(i) for i in range(10)]
    stats = burst(app, concurrency=4)
    assert stats.completed == 20
    assert stats.processed == 20
    assert [h.result(timeout=1) for h in handles] == [i * i for i in range(10)] + [2 * i for i in range(10)]
    assert app.queue.stats(app.default_queue).completed == 20


def test_failures_back_off_then_dead_letter_with_the_traceback(app: kanal.App) -> None:
    calls: list[float] = []

    @app.task(name="flaky", max_attempts=3, backoff=kanal.Backoff(0.1, factor=2, jitter=0))
    def flaky() -> None:
        calls.append(time.monotonic())
        raise ValueError(f"attempt {len(calls)}")

    handle = flaky.enqueue()
    with running(app), pytest.raises(kanal.JobFailed, match="ValueError: attempt 3"):
        handle.result(timeout=5)
    job = handle.get()
    assert job.attempts == 3
    assert job.last_error is not None
    assert job.last_error.startswith("Traceback")
    assert 'raise ValueError(f"attempt {len(calls)}")' in job.last_error
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.09, f"backoff not applied: {gaps}"
    assert gaps[1] >= 0.19, f"backoff not doubled: {gaps}"


def test_retry_and_fail_raised_by_a_task(app: kanal.App) -> None:
    @app.task(name="again", max_attempts=5)
    def again() -> str:
        if kanal.job_context().attempt < 3:
            raise kanal.Retry(delay=0, reason="not yet")
        return "third time"

    @app.task(name="give_up")
    def give_up() -> None:
        raise kanal.Fail("input is invalid")

    retried, failed = again.enqueue(), give_up.enqueue()
    stats = burst(app)
    assert retried.result(timeout=1) == "third time"
    assert retried.get().attempts == 3
    with pytest.raises(kanal.JobFailed, match="input is invalid"):
        failed.result(timeout=1)
    assert failed.get().attempts == 1
    assert (stats.completed, stats.retried, stats.dead) == (1, 2, 1)


def test_unknown_tasks_and_foreign_payloads_are_dead_lettered_and_the_worker_goes_on(app: kanal.App) -> None:
    @app.task(name="known")
    def known() -> str:
        return "ran"

    queue = app.default_queue
    ghost = app.queue.enqueue(queue, {"task": "ghost", "args": [], "kwargs": {}})
    foreign = app.queue.enqueue(queue, "just a string")
    handle = known.enqueue()
    burst(app)
    assert handle.result(timeout=1) == "ran"
    for job_id, reason in ((ghost.id, "unknown task 'ghost'"), (foreign.id, "not a task payload")):
        job = app.queue.get(queue, job_id)
        assert job is not None
        assert job.state is kanal.JobState.DEAD
        assert job.last_error is not None
        assert reason in job.last_error


def test_timeouts_stop_async_tasks_and_flag_sync_ones(app: kanal.App) -> None:
    seen: list[str] = []

    @app.task(name="slow_async", timeout=0.2, max_attempts=1)
    async def slow_async() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("async cancelled")
            raise

    @app.task(name="slow_sync", timeout=0.2, max_attempts=1)
    def slow_sync() -> None:
        while not kanal.job_context().cancelled.wait(0.01):
            pass
        seen.append("sync flagged")

    handles = [slow_async.enqueue(), slow_sync.enqueue()]
    started = time.monotonic()
    burst(app)
    assert time.monotonic() - started < 3
    for handle in handles:
        with pytest.raises(kanal.JobFailed, match=r"timed out after 0.2s"):
            handle.result(timeout=1)
    wait_until(lambda: len(seen) == 2, timeout=2)
    assert sorted(seen) == ["async cancelled", "sync flagged"]


def test_cancelling_a_running_job_reaches_the_task(app: kanal.App) -> None:
    seen: list[str] = []

    @app.task(name="wait_async")
    async def wait_async() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("async")
            raise

    @app.task(name="wait_sync")
    def wait_sync() -> None:
        kanal.job_context().cancelled.wait(10)
        seen.append("sync")

    handles = [wait_async.enqueue(), wait_sync.enqueue()]
    with running(app, heartbeat=0.1) as worker:
        wait_until(lambda: all(h.status() is kanal.JobState.LEASED for h in handles))
        for handle in handles:
            assert handle.cancel().state is kanal.JobState.CANCELLED
        wait_until(lambda: len(seen) == 2, timeout=3)
        wait_until(lambda: worker.running == 0)
    assert sorted(seen) == ["async", "sync"]
    assert worker.stats.lost == 2
    assert worker.stats.completed == 0
    assert all(h.status() is kanal.JobState.CANCELLED for h in handles)


def test_heartbeats_keep_a_long_job_leased(app: kanal.App) -> None:
    @app.task(name="long", lease_timeout=1.0)
    async def long() -> str:
        await asyncio.sleep(2.2)
        return "done"

    handle = long.enqueue()
    with running(app):
        assert handle.result(timeout=5) == "done"
    assert handle.get().attempts == 1, "the lease ran out and the job was delivered again"


def test_stop_lets_running_jobs_finish_and_gives_back_the_rest(app: kanal.App) -> None:
    @app.task(name="nap")
    async def nap(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    short, long = nap.enqueue(0.3), nap.enqueue(30)
    with running(app, concurrency=2, grace=0.8) as worker:
        wait_until(lambda: short.status() is kanal.JobState.LEASED and long.status() is kanal.JobState.LEASED)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3
    assert short.result(timeout=1) == 0.3
    given_back = long.get()
    assert given_back.state is kanal.JobState.READY, "not given back at once"
    assert given_back.last_error == "the worker shut down before the job finished"
    assert (worker.stats.completed, worker.stats.given_back) == (1, 1)


def test_a_task_concurrency_limit_holds_across_the_worker(app: kanal.App) -> None:
    lock = threading.Lock()
    now = [0]
    peak = [0]

    @app.task(name="one_at_a_time", concurrency=1)
    def one_at_a_time() -> None:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.05)
        with lock:
            now[0] -= 1

    @app.task(name="free")
    def free() -> None:
        time.sleep(0.05)

    for _ in range(4):
        one_at_a_time.enqueue()
        free.enqueue()
    stats = burst(app, concurrency=4)
    assert stats.completed == 8
    assert peak[0] == 1
    assert app.queue.get_concurrency_limit(app.default_queue, key="one_at_a_time") == 1


def test_periodic_ticks_run_once_with_two_workers(app: kanal.App) -> None:
    ran: list[str] = []

    @app.periodic(every=0.25, name="pulse")
    def pulse() -> None:
        ran.append(kanal.job_context().job.id)

    with running(app), running(app):
        wait_until(lambda: len(ran) >= 4, timeout=6)
    assert len(ran) == len(set(ran)), f"a tick ran twice: {ran}"
    ticks = sorted(tick_of(job_id) for job_id in ran)
    assert all(b - a == timedelta(seconds=0.25) for a, b in itertools.pairwise(ticks)), ticks


def test_never_skip_runs_every_missed_tick(app: kanal.App) -> None:
    ran: list[datetime] = []

    @app.periodic(every=0.2, name="catch_up", never_skip=True)
    def catch_up() -> None:
        ran.append(tick_of(kanal.job_context().job.id))

    missed = kanal.Every(0.2).next_after(datetime.now(UTC) - timedelta(seconds=1.3))
    app.queue.enqueue(app.default_queue, {"task": "catch_up"}, id=tick_id("catch_up", missed), run_at=missed)
    burst(app, scheduler=False)
    assert ran[0] == missed
    assert len(ran) >= 5, ran
    following = app.queue.get(app.default_queue, tick_id("catch_up", ran[-1] + timedelta(seconds=0.2)))
    assert following is not None, "the chain stopped short"
    assert not following.state.is_final
    assert all(b - a == timedelta(seconds=0.2) for a, b in itertools.pairwise(ran)), ran


def test_a_burst_worker_returns_after_draining_many_quick_jobs(app: kanal.App) -> None:
    """Each quick job wakes the heartbeat as the next is leased; stopping must still end it."""

    @app.task(name="quick")
    async def quick(i: int) -> int:
        return i

    app.queue.enqueue_many(
        app.default_queue, [{"task": "quick", "args": [i], "kwargs": {}} for i in range(200)]
    )
    finished = threading.Event()
    outcome: list[kanal.WorkerStats] = []

    def work() -> None:
        outcome.append(burst(app, concurrency=10, scheduler=False))
        finished.set()

    threading.Thread(target=work, daemon=True).start()
    assert finished.wait(30), "the burst worker did not return"
    assert outcome[0].completed == 200


def test_jobs_that_finish_together_are_acked_together(
    app: kanal.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No-result jobs finishing while an ack is in flight share one ack_many call; jobs with
    a result are acked one by one, with their result."""
    calls: list[tuple[str, int]] = []
    ack_many, ack_and_dequeue = kanal.AsyncQueue.ack_many, kanal.AsyncQueue.ack_and_dequeue

    async def counted_ack_many(self: kanal.AsyncQueue, leases: Any, **options: Any) -> Any:
        leases = list(leases)
        calls.append(("ack_many", len(leases)))
        return await ack_many(self, leases, **options)

    async def counted_ack_and_dequeue(self: kanal.AsyncQueue, lease: Any, *args: Any, **options: Any) -> Any:
        calls.append(("ack_and_dequeue", 1))
        return await ack_and_dequeue(self, lease, *args, **options)

    monkeypatch.setattr(kanal.AsyncQueue, "ack_many", counted_ack_many)
    monkeypatch.setattr(kanal.AsyncQueue, "ack_and_dequeue", counted_ack_and_dequeue)

    @app.task(name="nothing")
    async def nothing(i: int) -> None:
        return None

    @app.task(name="echo")
    async def echo(i: int) -> int:
        return i

    plain = [nothing.enqueue(i) for i in range(40)]
    valued = [echo.enqueue(i) for i in range(10)]
    stats = burst(app, concurrency=10, scheduler=False)
    assert (stats.completed, stats.processed) == (50, 50)
    assert [h.result(timeout=1) for h in valued] == list(range(10))
    assert all(h.status() is kanal.JobState.COMPLETED for h in plain)
    assert sum(n for _, n in calls) == 50  # every job acked once, by one of the two calls
    grouped = [n for name, n in calls if name == "ack_many"]
    assert grouped, "no jobs were acked together"
    assert max(grouped) > 1
    assert len(calls) < 50


def test_a_burst_worker_seeds_the_next_tick_of_periodic_tasks(app: kanal.App) -> None:
    @app.periodic(every=3600, name="hourly")
    def hourly() -> None: ...

    burst(app)
    (job,) = app.queue.list_jobs(app.default_queue)
    assert job.state is kanal.JobState.SCHEDULED
    assert job.run_at == tick_of(job.id) == kanal.Every(3600).next_after(datetime.now(UTC))


def test_a_stuck_sync_task_keeps_its_slot_so_queued_jobs_still_run(app: kanal.App) -> None:
    began: list[int] = []

    @app.task(name="stubborn", timeout=0.2, max_attempts=1)
    def stubborn(n: int) -> None:
        began.append(n)
        time.sleep(0.5)  # ignores job_context().cancelled

    handles = [stubborn.enqueue(n) for n in range(3)]
    burst(app, concurrency=1)
    wait_until(lambda: len(began) == 3)
    assert began == [0, 1, 2], "a job timed out while waiting for a thread"
    for handle in handles:
        with pytest.raises(kanal.JobFailed, match=r"timed out after 0.2s"):
            handle.result(timeout=1)


def test_arguments_that_no_longer_fit_are_dead_at_once_and_long_tracebacks_keep_their_end(
    app: kanal.App,
) -> None:
    @app.task(name="strict", max_attempts=5)
    def strict(a: int) -> int:
        return a

    @app.task(name="deep", max_attempts=1)
    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        raise ValueError("at the bottom")

    misfit = app.queue.enqueue(app.default_queue, {"task": "strict", "args": [1, 2], "kwargs": {}})
    handle = deep.enqueue(300)
    burst(app)
    job = app.queue.get(app.default_queue, misfit.id)
    assert job is not None
    assert (job.state, job.attempts) == (kanal.JobState.DEAD, 1)
    assert job.last_error == "task strict: too many positional arguments"
    with pytest.raises(kanal.JobFailed, match="ValueError: at the bottom"):
        handle.result(timeout=1)
    error = handle.get().last_error
    assert error is not None
    assert error.startswith("Traceback")
    assert "characters cut" in error
    assert len(error) <= 9_000


def test_a_job_given_back_on_its_last_attempt_is_counted_dead(app: kanal.App) -> None:
    @app.task(name="last_try", max_attempts=1)
    async def last_try() -> None:
        await asyncio.sleep(30)

    handle = last_try.enqueue()
    with running(app, grace=0.1) as worker:
        wait_until(lambda: handle.status() is kanal.JobState.LEASED)
    job = handle.get()
    assert (job.state, job.last_error) == (
        kanal.JobState.DEAD,
        "the worker shut down before the job finished",
    )
    assert (worker.stats.given_back, worker.stats.dead) == (0, 1)
