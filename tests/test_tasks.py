"""Tasks, handles, backoff and schedules: what is checked at definition and at enqueue."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import kanal
from kanal.schedules import tick_id, tick_of


@pytest.fixture
def mem() -> kanal.App:
    return kanal.App("memory://", queue="tasks")


def test_enqueue_checks_the_signature_and_writes_nothing(mem: kanal.App) -> None:
    @mem.task
    def add(a: int, b: int = 0) -> int:
        return a + b

    with pytest.raises(kanal.InvalidArgument, match=r"add: missing a required argument: 'a'"):
        add.enqueue()
    with pytest.raises(kanal.InvalidArgument, match="unexpected keyword argument 'c'"):
        add.enqueue(1, c=2)
    with pytest.raises(kanal.InvalidArgument, match="too many positional arguments"):
        add.enqueue(1, 2, 3)
    assert mem.queue.stats("tasks").total == 0
    handle = add.enqueue(1, b=2)
    assert handle.job.payload == {"task": add.name, "args": [1], "kwargs": {"b": 2}}
    assert add(1, 2) == 3


def test_arguments_the_serializer_cannot_encode_name_the_task(mem: kanal.App) -> None:
    @mem.task(name="store")
    def store(value: object) -> None: ...

    with pytest.raises(kanal.SerializationError, match=r"task store: .*\['args'\]\[0\] is of type set"):
        store.enqueue({1, 2})
    assert mem.queue.stats("tasks").total == 0


def test_job_options_come_from_keywords_and_clashes_are_refused(mem: kanal.App) -> None:
    @mem.task(name="tenant")
    def tenant(key: str) -> str:
        return key

    with pytest.raises(
        kanal.InvalidArgument, match="key of task tenant is both a parameter and a job option"
    ):
        tenant.enqueue(key="a")
    handle = tenant.enqueue_call(kwargs={"key": "a"}, key="k1", priority=3, job_id="j-1", delay=60)
    job = handle.get()
    assert (job.key, job.priority, job.id, job.state) == ("k1", 3, "j-1", kanal.JobState.SCHEDULED)
    assert job.payload["kwargs"] == {"key": "a"}
    again = tenant.enqueue_call(kwargs={"key": "b"}, job_id="j-1")
    assert again.job.payload["kwargs"] == {"key": "a"}, "an existing id is idempotent"


def test_task_options_are_checked_at_definition(mem: kanal.App) -> None:
    def f() -> None: ...

    with pytest.raises(kanal.InvalidArgument, match="unknown task option"):
        mem.task(retries=3)(f)  # type: ignore[call-overload]
    with pytest.raises(kanal.InvalidArgument, match="max_attempts"):
        mem.task(max_attempts=0)(f)
    with pytest.raises(kanal.InvalidArgument, match="invalid queue name"):
        mem.task(queue="no spaces")(f)
    with pytest.raises(kanal.InvalidArgument, match=r"rate_limit must be a kanal\.RateLimit"):
        mem.task(rate_limit=10)(f)  # type: ignore[call-overload]
    with pytest.raises(kanal.InvalidArgument, match="backoff"):
        mem.task(backoff="fast")(f)  # type: ignore[call-overload]

    with pytest.raises(kanal.InvalidArgument, match=r"invalid task name .*<lambda>.*pass name="):
        mem.task(lambda: None)
    mem.task(name="once")(f)
    with pytest.raises(kanal.InvalidArgument, match="already registered"):
        mem.task(name="once")(f)


def test_a_limited_task_keys_its_jobs_by_its_name(mem: kanal.App) -> None:
    @mem.task(name="api", rate_limit=kanal.RateLimit(5), concurrency=2)
    def api() -> None: ...

    assert api.enqueue().job.key == "api"
    with pytest.raises(kanal.InvalidArgument, match="takes no key= of its own"):
        api.enqueue(key="other")


def test_enqueue_by_name(mem: kanal.App) -> None:
    @mem.task(name="hello")
    def hello(who: str) -> str:
        return f"hello {who}"

    assert mem.enqueue("hello", ["you"]).job.payload["args"] == ["you"]
    with pytest.raises(
        kanal.InvalidArgument, match=r"no task named 'nope' on this app \(registered: hello\)"
    ):
        mem.enqueue("nope")


def test_handle_reports_outcomes(mem: kanal.App) -> None:
    @mem.task(name="work")
    def work() -> None: ...

    done, dead, cancelled = work.enqueue(), work.enqueue(), work.enqueue()
    for handle in (done, dead):
        (lease,) = mem.queue.dequeue("tasks")
        assert lease.id == handle.id
        if handle is done:
            mem.queue.ack(lease, result={"ok": True})
        else:
            mem.queue.fail(lease, "Traceback ...\nValueError: broken")
    assert cancelled.cancel().state is kanal.JobState.CANCELLED
    assert done.status() is kanal.JobState.COMPLETED
    assert done.result(timeout=1) == {"ok": True}
    with pytest.raises(kanal.JobFailed, match="is dead: ValueError: broken") as failed:
        dead.result(timeout=1)
    assert failed.value.job.state is kanal.JobState.DEAD
    with pytest.raises(kanal.JobCancelled):
        cancelled.result(timeout=1)
    started = work.enqueue()
    with pytest.raises(kanal.WaitTimeout):
        started.wait(timeout=0.05, until="leased")
    mem.queue.dequeue("tasks")
    assert started.wait(timeout=1, until="leased").state is kanal.JobState.LEASED
    pending = work.enqueue(delay=60)
    with pytest.raises(kanal.WaitTimeout):
        pending.result(timeout=0.05)


def test_async_enqueue_and_handle(mem: kanal.App) -> None:
    @mem.task(name="twice")
    async def twice(x: int) -> int:
        return 2 * x

    asyncio.run(_async_round_trip(mem, twice))


async def _async_round_trip(mem: kanal.App, twice: kanal.Task[..., Any]) -> None:
    handle = await twice.enqueue_async(4)
    assert await handle.status_async() is kanal.JobState.READY
    with pytest.raises(kanal.InvalidArgument):
        await twice.enqueue_async()
    (lease,) = await mem.async_queue.dequeue("tasks")
    await mem.async_queue.ack(lease, result=8)
    assert await handle.result_async(timeout=1) == 8
    await mem.aclose()


def test_job_context_outside_a_task() -> None:
    with pytest.raises(RuntimeError, match="only available inside a task"):
        kanal.job_context()


def test_app_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANAL_URL", raising=False)
    with pytest.raises(kanal.ConfigError, match=r"App needs a backend URL"):
        kanal.App()
    monkeypatch.setenv("KANAL_URL", "memory://")
    assert kanal.App().url == "memory://"


def test_backoff_grows_exponentially_within_its_jitter() -> None:
    backoff = kanal.Backoff(initial=1, factor=2, maximum=30, jitter=0.25)
    low = [backoff.delay(n, lambda a, b: a) for n in range(1, 8)]
    high = [backoff.delay(n, lambda a, b: b) for n in range(1, 8)]
    assert low == [0.75, 1.5, 3.0, 6.0, 12.0, 22.5, 22.5]
    assert high == [1.25, 2.5, 5.0, 10.0, 20.0, 30.0, 30.0]
    rng = random.Random(1)
    spread = {round(backoff.delay(3, rng.uniform), 6) for _ in range(20)}
    assert len(spread) > 10
    assert all(3.0 <= d <= 5.0 for d in spread)
    assert kanal.Backoff(5, factor=1, jitter=0).delay(9) == 5
    assert backoff.delay(10_000) <= 30


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial": -1}, "backoff initial"),
        ({"factor": 0.5}, "factor must be a number >= 1"),
        ({"jitter": 2}, "jitter must be between 0 and 1"),
        ({"maximum": float("inf")}, "backoff maximum"),
    ],
)
def test_backoff_refuses_bad_values(options: dict[str, float], message: str) -> None:
    with pytest.raises(kanal.InvalidArgument, match=message):
        kanal.Backoff(**options)


def test_every_ticks_on_epoch_multiples() -> None:
    at = datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)
    assert kanal.Every(5).next_after(at) == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert kanal.Every(5).next_after(datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)).second == 15
    with pytest.raises(kanal.InvalidArgument):
        kanal.Every(0)


def test_every_steps_exactly_even_for_fractional_periods() -> None:
    every = kanal.Every(0.2)
    tick = every.next_after(datetime(2026, 1, 1, tzinfo=UTC))
    for _ in range(1000):
        following = every.next_after(tick)
        assert following - tick == timedelta(microseconds=200_000)
        tick = following


def test_cron_ticks_in_its_time_zone() -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert kanal.Cron("0 9 * * *", tz="Europe/Berlin").next_after(at) == datetime(
        2026, 3, 2, 8, 0, tzinfo=UTC
    )
    assert kanal.Cron("* * * * * */10").next_after(at) == at + timedelta(seconds=10)
    with pytest.raises(kanal.InvalidArgument, match="invalid cron expression '61 \\* \\* \\* \\*'"):
        kanal.Cron("61 * * * *")
    with pytest.raises(kanal.InvalidArgument, match="unknown time zone"):
        kanal.Cron("* * * * *", tz="Mars/Olympus")


def test_periodic_definitions_are_checked(mem: kanal.App) -> None:
    def job() -> None: ...

    with pytest.raises(kanal.InvalidArgument, match="invalid cron expression"):
        mem.periodic(cron="every day")(job)
    with pytest.raises(kanal.InvalidArgument, match="exactly one of every="):
        mem.periodic(every=5, cron="* * * * *")(job)
    with pytest.raises(kanal.InvalidArgument, match="missing a required argument"):
        mem.periodic(every=5, name="needs_arg")(lambda x: x)
    task = mem.periodic(every=timedelta(minutes=1), name="minutely", never_skip=True)(job)
    assert task.periodic is not None
    assert task.periodic.never_skip


def test_tick_ids_name_their_tick() -> None:
    for tick in (
        datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC),
        datetime(2026, 5, 4, 3, 2, 1, 250000, tzinfo=UTC),
    ):
        job_id = tick_id("reports.daily", tick)
        assert tick_of(job_id) == tick
        assert kanal.validation.job_id(job_id) == job_id
    assert tick_id("t", datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)) == "t@20260504T030201"
